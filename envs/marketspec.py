"""Market keys: one string that names a resolved market, so every command takes any market.

``--env`` takes a market spec (``envs.markets``: a preset, a candle file, a catalog entry) plus
``--funding PATH``, ``--catalog FILE`` and ``--bar 4h``. A CLI adds them with two lines::

    add_market_flags(parser)          # --funding, --catalog, --bar (next to its --env)
    market = market_from_args(args)   # resolves; args.env becomes the market's KEY

The key is a self-contained string that re-resolves to the same market in any process (a Ray
worker, a resumed run, ``python -m evaluate`` of a saved run): the preset or catalog name, or the
absolute path of a candle file, followed by the flags that shaped it as a query::

    btc1h                     btc1h?bar=4h
    /data/solusdt_1h.csv.gz?funding=/data/solusdt_funding.csv.gz&bar=4h
    catalog:sol1h?catalog=/home/me/catalog.yml
    /data/new.csv.gz?start=2025-01-01T00:00:00      # + a "window" split [start, end)

``envs.presets.get_preset(key)`` (and so ``make_env``, ``load_market``, ``split_bounds``, the
backtests) resolves keys, cached per process; run folders record the key (``env``/``env_name``
in config.yaml) and ``describe(market)`` (spec, bar, splits, sha256 of every file) in
``market.json``. ``market_dirname(key)`` is the folder under ``runs/`` (file stem, sanitised: a
run folder never escapes ``runs/``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pandas as pd

from envs.barsize import BarSizeError
from envs.data.errors import DataValidationError
from envs.data.loading import load_candles
from envs.markets import MarketSpecError, describe, resolve_market
from envs.preset_table import PRESETS
from envs.preset_types import Preset
from lab.config import ConfigError
from lab.rundir import market_dirname

WINDOW_SPLIT = "window"  # the split a key's start=/end= add (python -m evaluate --start)
_OPTIONS = ("funding", "catalog", "bar", "start", "end", "partial_funding")
_RESOLVED: dict[str, Preset] = {}
__all__ = [
    "add_market_flags",
    "check_recorded_market",
    "market_dirname",
    "market_for",
    "market_from_args",
    "is_market",
    "market_record",
    "pin_market_argv",
]


def split_key(key: str) -> tuple[str, dict[str, str]]:
    """``(spec, options)`` of a market key (no query: ``(key, {})``)."""
    base, sep, query = str(key).rpartition("?")
    if not sep:
        return str(key), {}
    opts = dict(parse_qsl(query, keep_blank_values=True))
    if not opts or set(opts) - set(_OPTIONS):
        return str(key), {}  # a '?' that is part of a path
    return base, opts


def make_key(spec: str, **options: Any) -> str:
    """The key of ``spec`` with ``options`` (funding, catalog, bar, start, end; None: absent)."""
    opts = {k: str(options[k]) for k in _OPTIONS if options.get(k) is not None}
    return spec + ("?" + urlencode(opts, safe="/:@") if opts else "")


def market_for(key: str | Preset) -> Preset:
    """The resolved market a key names (cached per process); ``MarketSpecError`` otherwise."""
    if isinstance(key, Preset):
        return key
    if key in PRESETS:
        return PRESETS[key]
    if key not in _RESOLVED:
        spec, opts = split_key(key)
        market = resolve_market(
            spec,
            catalog=opts.get("catalog"),
            funding=opts.get("funding"),
            bar=opts.get("bar"),
            partial_funding=opts.get("partial_funding") == "1",
        )
        if "start" in opts or "end" in opts:
            market = _with_window(market, opts.get("start"), opts.get("end"))
        _RESOLVED[key] = replace(market, spec=key)
    return _RESOLVED[key]


def _with_window(market: Preset, start: str | None, end: str | None) -> Preset:
    """``market`` plus the split ``window`` = ``[start, end)`` (open ends: the data's span)."""
    first, last = _date("--start", start, "1970-01-01"), _date("--end", end, "2262-01-01")
    if not first < last:
        raise MarketSpecError(f"--start {start} is not before --end {end}")
    fmt = "%Y-%m-%dT%H:%M:%S"
    window = (first.strftime(fmt), last.strftime(fmt))
    return replace(market, splits={**market.splits, WINDOW_SPLIT: window})


def _date(flag: str, text: str | None, default: str) -> pd.Timestamp:
    """``text`` (or ``default``) as a UTC timestamp; an offset is converted, garbage refused."""
    try:
        ts = pd.Timestamp(text or default)
    except (ValueError, OverflowError, TypeError):
        ts = pd.NaT
    if ts is pd.NaT or pd.isna(ts):
        raise MarketSpecError(f"{flag} {text!r}: not a date; write an ISO date, e.g. 2023-01-01")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def key_of(market: Preset, **options: Any) -> str:
    """The key that re-resolves ``market`` (``resolve_market``'s result) with ``options``."""
    spec = market.spec or market.name
    opts = {k: v for k, v in options.items() if v is not None}
    if spec in PRESETS or spec.startswith("catalog:"):
        if "catalog" in opts:
            opts["catalog"] = str(Path(opts["catalog"]).expanduser().resolve())
        return make_key(spec, **opts)
    opts.pop("catalog", None)  # a file path does not read the catalog
    if "funding" in opts:
        opts["funding"] = str(Path(opts["funding"]).expanduser().resolve())
    return make_key(market.candles.filename, **opts)  # absolute: works from any folder


def market_key(
    spec: str,
    *,
    funding: str | os.PathLike | None = None,
    catalog: str | os.PathLike | None = None,
    bar: str | None = None,
    partial_funding: bool | None = None,
) -> str:
    """The key of ``spec`` (a preset, a file, a catalog entry, or a key) with the flags applied."""
    opts = _present({"funding": funding, "catalog": catalog, "bar": bar})
    flag = {"partial_funding": "1"} if partial_funding else {}
    spec_base, key_opts = split_key(str(spec))
    if key_opts or str(spec) in _RESOLVED:  # already a key (a saved run, a seed group's worker)
        return make_key(spec_base, **{**key_opts, **{k: str(v) for k, v in opts.items()}, **flag})
    market = resolve_market(spec, **opts, partial_funding=bool(partial_funding))
    return key_of(market, **opts, **flag)


def add_market_flags(parser: argparse.ArgumentParser, window: bool = False) -> None:
    """``--funding PATH``, ``--catalog FILE`` and ``--bar BAR``, next to a CLI's ``--env``;
    ``window``: also ``--start``/``--end`` (evaluate on the dates ``[start, end)``)."""
    g = parser.add_argument_group(
        "market (--env takes a preset, a candle file .csv/.csv.gz/.parquet, or a catalog entry)"
    )
    g.add_argument(  # dest funding_file: "funding" is the charge-funding switch of some configs
        "--funding",
        dest="funding_file",
        default=None,
        metavar="PATH",
        help="funding file (timestamp,funding_rate) of --env FILE",
    )
    g.add_argument(  # store_const: absent is None, so market_flags_given sees only a given flag
        "--allow-partial-funding",
        dest="partial_funding",
        action="store_const",
        const=True,
        default=None,
        help="accept a --funding file that covers only part of the candles (the uncovered bars "
        "are charged zero funding); refused otherwise, naming the uncovered spans",
    )
    g.add_argument(
        "--catalog", default=None, metavar="FILE", help="data catalog YAML (data/catalog.yml)"
    )
    g.add_argument(
        "--bar", default=None, metavar="BAR", help="bar size, e.g. 4h: resample --env on load"
    )
    if window:
        parser.set_defaults(market_window=True)  # --start/--end are ours (walk-forward has its own)
        g.add_argument(
            "--start",
            default=None,
            metavar="DATE",
            help="evaluate the bars from DATE (UTC) on instead of --split; the features' warm-up "
            "comes from the bars before DATE, never after",
        )
        g.add_argument("--end", default=None, metavar="DATE", help="with --start: stop before DATE")


def market_flags_given(args: argparse.Namespace) -> bool:
    """True when ``--funding/--catalog/--bar`` (or this CLI's ``--start/--end``) were given: a
    dataclass CLI (``lab.config.add_fields`` leaves an absent ``--env`` out of ``args``) must
    then fill ``args.env`` from its config first, so the flags are not silently dropped."""
    names = ["funding_file", "catalog", "bar", "partial_funding"]
    if getattr(args, "market_window", False):
        names += ["start", "end"]
    return any(getattr(args, k, None) is not None for k in names)


def market_from_args(args: argparse.Namespace, attr: str = "env") -> Preset | None:
    """Resolve ``args.<attr>`` with ``--funding/--catalog/--bar``; ``args.<attr>`` becomes its key.

    Prints the default splits of a market without configured ones (they are saved in the run's
    ``meta.json``). ``--start/--end`` (``add_market_flags(window=True)``) add the split
    ``window`` = ``[start, end)`` and set ``args.split`` to it. None when ``args.<attr>`` is
    None (e.g. ``--resume``).
    """
    spec = getattr(args, attr, None)
    if spec is None:
        return None
    opts = {k: getattr(args, k, None) for k in ("catalog", "bar")}
    opts["funding"] = getattr(args, "funding_file", None)
    opts["partial_funding"] = getattr(args, "partial_funding", None)
    own = getattr(args, "market_window", False)
    span = {k: getattr(args, k, None) if own else None for k in ("start", "end")}
    if span["end"] is not None and span["start"] is None:
        raise ConfigError("--end needs --start (the first date to evaluate)")
    try:
        key = market_key(spec, **opts)
        if span["start"] is not None:
            spec_base, key_opts = split_key(key)
            key = make_key(spec_base, **{**key_opts, **_present(span)})
            args.split = WINDOW_SPLIT
        market = market_for(key)
    except (MarketSpecError, BarSizeError, DataValidationError) as err:
        text = str(err)
        if text.startswith("unknown market"):
            raise ConfigError(f"unknown --{attr}" + text.removeprefix("unknown market")) from None
        raise ConfigError(f"--{attr} {spec}: {text}") from None  # one line, exit 2 (lab.cli)
    setattr(args, attr, key)
    if span["start"] is not None:  # the window is what is evaluated, not the default splits
        to = f"before {span['end']}" if span["end"] is not None else "to the last bar"
        print(f"{market.name}: evaluating the window from {span['start']} {to}", file=sys.stderr)
    elif market.split_note.startswith("default splits"):
        print(f"{market.name}: {market.split_note}", file=sys.stderr)
    if market.spec not in PRESETS:  # say how the file was read (a newest-first file reversed)
        for note in load_candles(market).attrs.get("transformations", []):  # cached parse
            print(f"{market.name}: {note}", file=sys.stderr)
    return market


def _present(opts: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in opts.items() if v is not None}


def market_record(key: str) -> dict[str, Any]:
    """``describe(market)`` plus the key: what a run folder saves in ``market.json``."""
    market = market_for(key)
    return {"key": market.spec, **describe(market)}


def pin_market_argv(argv: list[str], key: str) -> list[str]:
    """``argv`` with ``--env`` set to ``key`` and ``--funding/--catalog/--bar`` dropped (the key
    holds them, with absolute paths): what a seed group's workers run, from any folder."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        flag = arg.split("=", 1)[0]
        if flag == "--allow-partial-funding":  # the key holds it (partial_funding=1)
            continue
        if flag in ("--env", "--funding", "--catalog", "--bar"):
            skip = "=" not in arg
            continue
        out.append(arg)
    return [*out, "--env", key]


def is_market(key: object) -> bool:
    """True when ``key`` names a market (a preset, a market key, a file, a catalog entry)."""
    try:
        market_for(str(key))
    except (MarketSpecError, BarSizeError, DataValidationError, OSError):
        return False
    return True


def check_recorded_market(run_dir: str | os.PathLike[str], key: str) -> None:
    """``ConfigError`` when a file the run recorded in ``meta.json["market"]`` has another
    sha256 now (a resumed run must train on the data it started on)."""
    meta_path = Path(run_dir) / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    recorded = (meta.get("market") or {}).get("files") or {}
    now = market_for(key).files
    changed = sorted(p for p, sha in recorded.items() if now.get(p, sha) != sha)
    if changed:
        raise ConfigError(
            f"{run_dir}: {changed[0]} changed since the run started (sha256 {recorded[changed[0]]}"
            f" then, {now[changed[0]]} now); restore the file or start a fresh run"
        )
