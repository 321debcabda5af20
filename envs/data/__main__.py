"""Command line for the data layer: quality reports and cleaning.

    python -m envs.data report btc1h [--json]
    python -m envs.data report data/btcusd_bitstamp_2011_1h.csv.gz
    python -m envs.data clean btc1h [--out cleaned.csv.gz] [--min-valid-fraction 0.9] [--json]
    python -m envs.data resample data/btcusdt_1h.csv.gz --to 1d --out btc_1d.csv.gz
    python -m envs.data clean path/to/candles.csv.gz --bar 4h    # resampled on the fly

Exit codes: 0 success; 2 any error: the file is refused (validation, bar size
or sha256 error, missing file, unknown preset), the cleaning gate refused the
data (or bad ticks under --outliers raise), or a command-line usage error.
Errors print one line on stderr naming the file/row/value and the fix, never a
traceback (``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import pandas as pd

from envs import barsize
from envs.data import fetch  # ccxt is an extra: imported only by this command
from envs.data.cleaning import clean
from envs.data.cli_config import COMMANDS
from envs.data.errors import DataValidationError
from envs.data.fetch_checks import fetch_date, fetch_symbols, member_files
from envs.data.loading import load_candles, read_candles_raw
from envs.data.quality import quality_report
from envs.data.resample import resample
from envs.data.writing import check_out, write_candles
from envs.markets import resolve_market
from envs.presets import PRESETS, Preset
from lab.cli import environment_error_line
from lab.config import ConfigError, add_fields, check_rules, resolve

EXIT_ERROR = 2


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
        "absurd",
        "zero_volume",
        "flat",
        "zero_volume_and_flat",
        "outliers",
        "wick",
        "spike",
        "level_shift",
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
    for key in (
        "zero_volume_timestamps",
        "flat_timestamps",
        "outlier_timestamps",
        "level_shift_timestamps",
        "extra_columns",
    ):
        if r.get(key):
            print(f"{key:<24}{', '.join(r[key])}")
    if r["gap_list"]:
        shown = "; ".join(f"{g['first_missing']} ({g['bars']})" for g in r["gap_list"][:10])
        more = f"; ... +{len(r['gap_list']) - 10} more runs" if len(r["gap_list"]) > 10 else ""
        print(f"{'gap_list':<24}{shown}{more}")
    if r.get("read_issues") and any(r["read_issues"].values()):
        print(f"{'read_issues':<24}{r['read_issues']}")


def _market(args: argparse.Namespace) -> Preset:
    """Resolve SOURCE (preset, path, catalog entry) with --bar / --catalog; say what was chosen."""
    market = resolve_market(args.source, catalog=args.catalog, bar=args.bar)
    if args.bar is None and market.spec not in PRESETS:
        _note(args, f"bar size: {market.freq} (detected; --bar to declare it)")
    if market.split_note.startswith("default"):
        _note(args, f"splits: {market.split_note}")
    return market


def _lenient_path(args: argparse.Namespace) -> Path | None:
    """SOURCE as a plain existing file (the report reads it leniently), else None."""
    path = Path(args.source)
    if args.source in PRESETS or not path.is_file():
        return None
    return path


def _note(args: argparse.Namespace, text: str) -> None:
    """Information for stdout, printed with the result (``_flush``): a failing command prints
    only its one-line error on stderr; nothing under --json."""
    if not args.json:
        args.notes = [*getattr(args, "notes", []), text]


def _flush(args: argparse.Namespace) -> None:
    for text in getattr(args, "notes", []):
        print(text)
    args.notes = []


def _note_extra(args: argparse.Namespace, frame: pd.DataFrame) -> None:
    for text in frame.attrs.get("transformations", []):  # a newest-first file read oldest first
        _note(args, f"note: {frame.attrs['source']}: {text}")
    if frame.attrs.get("extra_columns"):
        _note(
            args,
            f"note: column(s) {', '.join(frame.attrs['extra_columns'])} of {frame.attrs['source']} "
            "are not read (only the time and open,high,low,close,volume are used)",
        )


def cmd_report(args: argparse.Namespace) -> int:
    path = _lenient_path(args)
    if path is None:  # preset or catalog entry: resolved (and resampled) like any command
        market = _market(args)
        bar: str | None
        frame, bar = load_candles(market, verify=not args.no_verify), market.freq
    else:  # a dirty file the loader would refuse can still be described
        frame = read_candles_raw(path)
        if len(frame) < 2:  # nothing to describe: the strict loader says what is wrong, where
            load_candles(path)
        bar = barsize.canonical(args.bar) if args.bar else None
        if bar is None:
            bar = barsize.detect_bar(pd.DatetimeIndex(frame.index), str(path), check=False)
            _note(args, f"bar size: {bar} (detected from the median spacing)")
    _note_extra(args, frame)
    report = quality_report(frame, bar, outlier_k=args.outlier_k)
    _flush(args)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_report(report)
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    market = _market(args)
    if args.out is not None:
        check_out(args.out, market.files)
    frame = load_candles(market, verify=not args.no_verify)
    _note_extra(args, frame)
    cleaned, report = clean(
        frame,
        freq=market.freq,
        min_valid_fraction=args.min_valid_fraction,
        outlier_k=args.outlier_k,
        outliers=args.outliers,
        source=args.source,
    )
    if args.out is not None:
        write_candles(cleaned, args.out)
    _flush(args)
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


def cmd_resample(args: argparse.Namespace) -> int:
    market = resolve_market(args.source, catalog=args.catalog, bar=args.bar)
    if args.out is not None:
        check_out(args.out, market.files)
    frame = load_candles(market, verify=not args.no_verify)
    out, report = resample(frame, args.to, from_bar=market.freq, source=args.source)
    if args.out is not None:
        write_candles(out, args.out)
    _flush(args)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.summary())
        print(f"  written: {args.out}" if args.out else "  not written (pass --out FILE.csv.gz)")
    return 0


def _funding_path(out: Path) -> Path:
    """``sol_1h.csv.gz`` -> ``sol_1h_funding.csv.gz`` (beside the candles)."""
    stem, _, rest = out.name.partition(".")
    return out.with_name(f"{stem}_funding.{rest}" if rest else f"{stem}_funding.csv.gz")


def cmd_fetch(args: argparse.Namespace) -> int:
    """One symbol into ``--out``, or a comma list (a universe) into the folder ``--out``."""
    bar = barsize.canonical(args.timeframe)
    symbols = fetch_symbols(args.symbol)
    since, until = fetch_date("--since", args.since), fetch_date("--until", args.until)
    if since is not None and until is not None and not since < until:
        raise DataValidationError(f"--until {args.until} is not after --since {args.since}")
    outs = member_files(args.out, symbols, bar) if len(symbols) > 1 else [args.out]
    new = [out for out in outs if not out.exists()]
    if since is None and new:
        raise fetch.FetchError(
            f"--since is required for a new file ({new[0]}; e.g. --since 2020-08-01)"
            if len(symbols) > 1
            else "--since is required for a new file (e.g. --since 2020-08-01)"
        )
    if len(symbols) > 1:
        args.out.mkdir(parents=True, exist_ok=True)  # every name checked: the members' folder
    for out in outs:
        check_out(out, [])
        if args.funding:
            check_out(_funding_path(out), [])
    exchange = fetch.make_exchange(args.exchange)
    for symbol, out in zip(symbols, outs, strict=True):
        _fetch_one(args, exchange, symbol, out, bar, since, until)
    if len(symbols) > 1:
        print(f"universe of {len(symbols)} in {args.out}: python -m agents.ppo --env {args.out}")
    return 0


def _fetch_one(
    args: argparse.Namespace,
    exchange: object,
    symbol: str,
    out: Path,
    bar: str,
    since: pd.Timestamp | None,
    until: pd.Timestamp | None,
) -> None:
    """Candles (and funding) of one symbol into ``out``, provenance beside, the cleaning gate."""
    since = since if since is not None else pd.Timestamp(0, tz="UTC")
    result = fetch.fetch_candles(exchange, symbol, args.timeframe, out, since=since, until=until)
    fetch.write_provenance(
        out, fetch.provenance_record(args.exchange, symbol, bar, result, "candles")
    )
    print(
        f"{symbol}: fetched {result.rows_fetched:,} closed {bar} bars ({result.first} .. "
        f"{result.last}), appended {result.rows_appended:,} to {out} ({result.retries} retries)"
    )
    if args.funding:
        fund_out = _funding_path(out)
        fres = fetch.fetch_funding(exchange, symbol, fund_out, since=since)
        if fund_out.exists():
            fetch.write_provenance(
                fund_out, fetch.provenance_record(args.exchange, symbol, bar, fres, "funding")
            )
        print(f"{symbol}: fetched {fres.rows_fetched:,} funding settlements into {fund_out}")
    cleaned, report = clean(
        load_candles(out), freq=bar, min_valid_fraction=args.min_valid_fraction, source=str(out)
    )
    print(report.summary())


def _market_flags(p: argparse.ArgumentParser) -> None:
    """The market flags (``envs.markets``): a catalog and a bar size for SOURCE."""
    p.add_argument(
        "--catalog",
        default=None,
        help="data catalog YAML (default data/catalog.yml when it exists)",
    )
    p.add_argument(
        "--bar",
        "--freq",
        dest="bar",
        default=None,
        help="bar size, 1m .. 1d (default: the preset's, else detected from the file's "
        "median spacing); a coarser whole multiple of the file's bars resamples it on the fly, "
        "anything else is refused",
    )


SUBCOMMANDS = {  # name: (handler, help, description)
    "report": (
        cmd_report,
        "describe a file: gaps, duplicates, zero-volume, flat, invalid, bad ticks",
        "Print the quality report. Reads leniently, so a file the loader refuses "
        "(duplicates, NaN, invalid OHLC, unsorted) can still be described.",
    ),
    "clean": (
        cmd_clean,
        "drop zero-volume, flat and bad-tick bars (never fill); optionally write",
        "Validate strictly, apply the cleaning policy (see envs/data/cleaning.py) and "
        "print what changed. Writes the cleaned candles only with --out (atomically).",
    ),
    "resample": (
        cmd_resample,
        "aggregate to a coarser bar size on UTC boundaries (partial bars dropped, listed)",
        "OHLCV aggregation (open first, high max, low min, close last, volume sum) "
        "into UTC-aligned bars; a bar overlapping a gap is partial: dropped and listed, never "
        "filled. See envs/data/resample.py.",
    ),
    "fetch": (
        cmd_fetch,
        "download closed candles (and funding) with ccxt; needs network and the fetch extra",
        "Paginated, rate-limit aware, resumable download (see envs/data/fetch.py). "
        "An existing --out is extended with new closed bars after its overlap is verified. "
        "Writes <out>.provenance.json, then runs the quality report and cleaning gate.",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """One subparser per subcommand, its flags from its dataclass (``envs.data.cli_config``)."""
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
    for name, (func, help_text, description) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=description)
        add_fields(p, COMMANDS[name], config_flag=False)
        if name != "fetch":
            _market_flags(p)
        p.set_defaults(func=func)
    return parser


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Parse; the subcommand's dataclass resolves and checks the values (one line each)."""
    args = build_parser().parse_args(argv)  # usage errors: argparse prints one line, exit 2
    cls = COMMANDS[args.command]
    cfg, sources = resolve(cls, args, config_file=False)
    vars(args).update(dataclasses.asdict(cfg))  # the handlers read the resolved values
    try:
        check_rules(cfg, getattr(cls, "RULES", {}), sources)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_ERROR) from None
    return args


def _one_line(exc: BaseException) -> str:
    env_line = environment_error_line(exc) if isinstance(exc, OSError) else None
    if env_line is not None:  # disk full, read-only file system: the path and the fix
        return " ".join(env_line.split())
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(str(text).split())


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        return args.func(args)
    except (ValueError, KeyError, OSError, EOFError) as exc:  # bad input: one line, exit 2
        if args.debug:
            raise
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
