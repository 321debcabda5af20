"""Command line for the data layer: quality reports and cleaning.

    python -m envs.data report btc1h [--json]
    python -m envs.data report data/btcusd_bitstamp_2011_1h.csv.gz
    python -m envs.data clean btc1h [--out cleaned.csv.gz] [--min-valid-fraction 0.9] [--json]

Exit codes: 0 success; 1 the file is refused (validation or sha256 error,
missing file, unknown preset); 2 the cleaning gate refused the data (or bad
ticks under --outliers raise), or a command-line usage error. Errors print one
message on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import pandas as pd

from envs.data.cleaning import OUTLIER_POLICIES, clean
from envs.data.errors import DataQualityError, DataValidationError
from envs.data.loading import load_candles, read_candles_raw
from envs.data.quality import DEFAULT_OUTLIER_K, quality_report
from envs.presets import PRESETS

EXIT_REFUSED = 1
EXIT_GATE = 2


def _freq(source: str, freq: str | None) -> str:
    return freq or (PRESETS[source].freq if source in PRESETS else "1h")


def _print_report(r: dict) -> None:
    keys = [
        "source",
        "freq",
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
    report = quality_report(frame, _freq(args.source, args.freq), outlier_k=args.outlier_k)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_report(report)
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    frame = load_candles(args.source, verify=not args.no_verify)
    cleaned, report = clean(
        frame,
        freq=_freq(args.source, args.freq),
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
        epilog="Exit codes: 0 ok; 1 file refused (validation/sha256 error, missing file); "
        "2 cleaning gate refused the data, or a usage error.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("source", help="preset name or file path")
        p.add_argument("--json", action="store_true", help="print only a JSON object on stdout")
        p.add_argument(
            "--freq", default=None, help="bar frequency, pandas offset (default: preset's, else 1h)"
        )
        p.add_argument(
            "--outlier-k",
            type=float,
            default=DEFAULT_OUTLIER_K,
            help="bad-tick threshold in robust-scale units (default %(default)s)",
        )
        p.add_argument("--no-verify", action="store_true", help="skip a preset file's sha256 check")

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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except DataQualityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_GATE
    except (DataValidationError, FileNotFoundError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(main())
