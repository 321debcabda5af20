"""Command line for the data layer: quality reports and cleaning.

    python -m envs.data report btc1h [--json]
    python -m envs.data report data/btcusd_bitstamp_2011_1h.csv.gz
    python -m envs.data clean btc1h [--out cleaned.csv.gz] [--min-valid-fraction 0.9] [--json]

Exit codes: 0 success; 2 any error: the file is refused (validation, bar size
or sha256 error, missing file, unknown preset), the cleaning gate refused the
data (or bad ticks under --outliers raise), or a command-line usage error.
Errors print one line on stderr naming the file/row/value and the fix, never a
traceback (``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import pandas as pd

from envs import barsize
from envs.data.cleaning import OUTLIER_POLICIES, clean
from envs.data.errors import DataValidationError
from envs.data.loading import load_candles, read_candles_raw
from envs.data.quality import DEFAULT_OUTLIER_K, quality_report
from envs.presets import PRESETS

EXIT_ERROR = 2


def _bar(args: argparse.Namespace, frame: pd.DataFrame, *, strict: bool) -> str:
    """The bar size: declared (``--bar``, or the preset's) and checked against the file's, or detected.

    ``strict`` (clean) also refuses mixed and off-grid rows; the report only
    reads the median spacing and counts off-grid rows.
    """
    source = str(args.source)
    declared = args.bar or (PRESETS[source].freq if source in PRESETS else None)
    if declared is not None:
        barsize.canonical(declared)  # --bar banana: one line listing the sizes
        if strict:
            barsize.check_frame_bar(pd.DatetimeIndex(frame.index), declared, source)
        return barsize.canonical(declared)
    detected = barsize.detect_bar(pd.DatetimeIndex(frame.index), source, check=strict)
    print(
        f"bar size: {detected} (detected from the median spacing; --bar to declare it)",
        file=sys.stderr,
    )
    return detected


def _print_report(r: dict) -> None:
    keys = [
        "source",
        "freq",
        "periods_per_year",
        "rows",
        "start",
        "end",
        "expected_bars",
        "gaps",
        "gap_runs",
        "longest_gap",
        "duplicates",
        "unsorted",
        "off_grid",
        "nan",
        "nonpositive",
        "invalid_ohlc",
        "negative_volume",
        "zero_volume",
        "flat",
        "zero_volume_and_flat",
        "outliers",
        "usable_bars",
        "valid_fraction",
    ]
    for key in keys:
        value = r.get(key)
        text = (
            f"{value:,}"
            if isinstance(value, int)
            else (f"{value:.6f}" if isinstance(value, float) else str(value))
        )
        print(f"{key:<24}{text}")
    for key in ("zero_volume_timestamps", "flat_timestamps", "outlier_timestamps"):
        if r.get(key):
            print(f"{key:<24}{', '.join(r[key])}")
    if r["gap_list"]:
        shown = "; ".join(f"{g['first_missing']} ({g['bars']})" for g in r["gap_list"][:10])
        more = f"; ... +{len(r['gap_list']) - 10} more runs" if len(r["gap_list"]) > 10 else ""
        print(f"{'gap_list':<24}{shown}{more}")
    if r.get("read_issues") and any(r["read_issues"].values()):
        print(f"{'read_issues':<24}{r['read_issues']}")


def _write_atomic(frame: pd.DataFrame, out: Path) -> None:
    """Write to a temp file beside ``out`` and rename it into place: never a half-written file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        if out.suffix.lower() in (".parquet", ".pq"):
            frame.to_parquet(tmp)
        elif out.suffix.lower() in (".csv", ".gz"):
            table = frame.copy()
            table.index = table.index.strftime("%Y-%m-%dT%H:%M:%SZ")
            table.index.name = "timestamp"
            compression = {"method": "gzip", "mtime": 0} if out.suffix.lower() == ".gz" else None
            table.to_csv(tmp, compression=compression)
        else:
            raise DataValidationError(f"--out {out}: use a .csv, .csv.gz or .parquet file name")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def cmd_report(args: argparse.Namespace) -> int:
    frame = read_candles_raw(args.source, verify=not args.no_verify)
    report = quality_report(frame, _bar(args, frame, strict=False), outlier_k=args.outlier_k)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_report(report)
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    frame = load_candles(args.source, verify=not args.no_verify)
    cleaned, report = clean(
        frame,
        freq=_bar(args, frame, strict=True),
        min_valid_fraction=args.min_valid_fraction,
        outlier_k=args.outlier_k,
        outliers=args.outliers,
        source=args.source,
    )
    if args.out is not None:
        _write_atomic(cleaned, args.out)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.summary())
        print(
            f"  written: {args.out}"
            if args.out
            else "  not written (pass --out FILE.csv.gz to save)"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m envs.data",
        description="Quality reports and cleaning for candle files. SOURCE is a preset name "
        f"({', '.join(sorted(PRESETS))}: the shipped file, sha256-checked) or a path to a CSV, "
        "CSV.gz or parquet file with columns timestamp,open,high,low,close,volume "
        "(timestamp = bar open time, ISO-8601 UTC with a Z suffix).",
        epilog="Exit codes: 0 ok; 2 an error (file refused, cleaning gate, usage), printed as "
        "one line on stderr.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("source", help="preset name or file path")
        p.add_argument("--json", action="store_true", help="print only a JSON object on stdout")
        p.add_argument(
            "--bar",
            "--freq",
            dest="bar",
            default=None,
            help="bar size, 1m .. 1d (default: the preset's, else detected from the file's "
            "median spacing; a declared size the file does not have is refused)",
        )
        p.add_argument(
            "--outlier-k",
            type=float,
            default=DEFAULT_OUTLIER_K,
            help="bad-tick threshold in robust-scale units (default %(default)s)",
        )
        p.add_argument("--no-verify", action="store_true", help="skip a preset file's sha256 check")
        p.add_argument("--debug", action="store_true", help="show the traceback of an error")

    rep = sub.add_parser(
        "report",
        help="describe a file: gaps, duplicates, zero-volume, flat, invalid, bad ticks",
        description="Print the quality report. Reads leniently, so a file the loader refuses "
        "(duplicates, NaN, invalid OHLC, unsorted) can still be described.",
    )
    common(rep)
    rep.set_defaults(func=cmd_report)

    cln = sub.add_parser(
        "clean",
        help="drop zero-volume, flat and bad-tick bars (never fill); optionally write",
        description="Validate strictly, apply the cleaning policy (see envs/data/cleaning.py) and "
        "print what changed. Writes the cleaned candles only with --out (atomically).",
    )
    common(cln)
    cln.add_argument(
        "--out", type=Path, default=None, help="write cleaned candles (.csv, .csv.gz, .parquet)"
    )
    cln.add_argument(
        "--min-valid-fraction",
        type=float,
        default=0.9,
        help="gate: refuse when usable bars / expected bars is below this (default %(default)s)",
    )
    cln.add_argument(
        "--outliers",
        choices=OUTLIER_POLICIES,
        default="drop",
        help="bad ticks: drop (default), keep (list only) or raise (refuse)",
    )
    cln.set_defaults(func=cmd_clean)
    return parser


def _one_line(exc: BaseException) -> str:
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(str(text).split())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # usage errors: argparse prints one line, exit 2
    try:
        return args.func(args)
    except (ValueError, KeyError, OSError, EOFError) as exc:  # bad input: one line, exit 2
        if args.debug:
            raise
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
