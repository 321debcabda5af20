"""Market specs: one function turns what a user types after ``--env`` into a ``Preset``.

``resolve_market(spec, catalog=None, funding=None, bar=None)`` accepts

* a preset name (``btc1h``, ``btc4h``, ``eth1d``, ... see ``envs.presets``);
* a path to a candle file (``.csv``, ``.csv.gz``, ``.parquet``; columns
  timestamp,open,high,low,close,volume), with ``funding`` an optional path to
  a funding file (timestamp,funding_rate);
* an entry of a data catalog, a YAML file (``data/catalog.yml`` by default,
  ``catalog=`` / ``--catalog FILE`` otherwise), written ``NAME`` or
  ``catalog:NAME``. Each entry gives, paths relative to the catalog file::

      sol1h:
        candles: sol/solusdt_1h.csv.gz      # required
        funding: sol/solusdt_funding.csv.gz # optional
        bar: 1h                             # optional: detected from the file
        splits:                             # optional: default splits below
          train: [2020-08-01, 2023-01-01]
          val: [2023-01-01, 2024-01-01]
          test: [2024-01-01, 2025-01-01]

The result is a ``Preset`` (what every caller already reads: ``name``,
``candles``/``funding`` files, ``freq``, ``periods_per_year``, ``splits``)
with ``spec`` (what was typed), ``split_note`` (how the splits were chosen)
and the sha256 of every file read, recorded in ``candles.sha256`` /
``funding.sha256`` (``Preset.files``); the loaders re-check those hashes, so a
file changed after it was resolved is refused.

Bar size: the file's own (detected from the median spacing and checked:
mixed or off-grid rows are refused) unless ``bar`` (``--bar``) or the entry's
``bar`` says otherwise; a coarser whole multiple resamples on load
(``envs.data.resample``), anything else is refused.

Default splits (a file or entry without ``splits``): **70/15/15 by time** over
the candle span ``[first open, last open + 1 bar)``: train the first 70% of
the time, val the next 15%, test the last 15%, boundaries floored to a bar
open. They are printed by the CLIs and recorded in ``split_note``.

Every problem is a ``MarketSpecError`` (a ``ValueError``) with a one-line
message naming the spec and the fix.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

import envs.barsize as barsize
from envs.data.coverage import check_funding_coverage
from envs.data.errors import quote
from envs.data.loading import file_sha256, load_candles, load_funding
from envs.data.reading import check_readable, file_kind
from envs.preset_table import PRESETS
from envs.preset_types import DATA_DIR, DataFile, Preset
from lab.config import parse_yaml

DEFAULT_CATALOG = DATA_DIR / "catalog.yml"
DEFAULT_SPLIT_FRACTIONS = (0.70, 0.15, 0.15)
SPLIT_NAMES = ("train", "val", "test")
_ENTRY_KEYS = {"candles", "funding", "bar", "splits", "partial_funding"}
PARTIAL_FLAG = "--allow-partial-funding"
MAX_CATALOG_BYTES = 1 << 20  # a catalog is a few lines per market; 1 MiB holds thousands


class MarketSpecError(ValueError, KeyError):
    """A market spec that names no preset, file or catalog entry, or a bad catalog entry.

    A ``KeyError`` too, as ``get_preset`` raised for an unknown name before any spec existed."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def resolve_market(
    spec: str | os.PathLike | Preset,
    *,
    catalog: str | os.PathLike | None = None,
    funding: str | os.PathLike | None = None,
    bar: str | None = None,
    partial_funding: bool = False,
) -> Preset:
    """The ``Preset`` a market spec names (see the module doc); ``MarketSpecError`` otherwise.

    ``partial_funding``: accept a funding file that covers only part of the candles
    (``envs.data.coverage``; refused otherwise)."""
    if bar is not None:
        bar = barsize.canonical(bar)
    if isinstance(spec, Preset):
        return _rebar(spec, bar)
    text = str(spec).strip()
    if not text:
        raise MarketSpecError(
            "empty market spec; give a preset name, a file path or a catalog entry"
        )
    if text in PRESETS:
        if catalog is not None or DEFAULT_CATALOG.exists():
            read_catalog(catalog)  # refuses an entry named like a preset: it would never be used
        if funding is not None:
            raise MarketSpecError(
                f"--funding {funding}: preset {text} has its own funding file; give --funding "
                "only with a candle file path"
            )
        return _rebar(replace(PRESETS[text], spec=text), bar)
    entries, cat_path = read_catalog(catalog)
    name = text.removeprefix("catalog:")
    if name in entries:
        return _from_entry(name, entries[name], cat_path, funding, bar, partial_funding)
    if text.startswith("catalog:"):
        raise MarketSpecError(
            f"{text}: no entry {name!r} in {cat_path}; entries: {', '.join(sorted(entries)) or '(none)'}"
        )
    path = Path(text).expanduser()
    if path.exists() or any(sep in text for sep in ("/", os.sep)) or path.suffix:
        return _from_file(path, funding, bar, spec=text, partial_funding=partial_funding)
    raise MarketSpecError(
        f"unknown market {text!r}; valid presets: {', '.join(sorted(PRESETS))}; nor an existing "
        f"file, nor an entry of {cat_path}"
        + (f" (entries: {', '.join(sorted(entries))})" if entries else " (no such catalog)")
    )


def _rebar(preset: Preset, bar: str | None) -> Preset:
    """``preset`` at bar size ``bar`` (resampled on load from its file's bar size)."""
    if bar is None or bar == barsize.canonical(preset.freq):
        return preset
    _check_resample(preset.file_bar, bar, preset.spec or preset.name)
    return replace(
        preset,
        name=f"{preset.name}@{bar}",
        freq=bar,
        periods_per_year=barsize.periods_per_year(bar),
    )


def _check_resample(file_bar: str, bar: str, label: str) -> None:
    have, want = barsize.bar_ns(file_bar), barsize.bar_ns(bar)
    if want < have or want % have:
        raise MarketSpecError(
            f"{label}: --bar {bar} cannot be made from its {file_bar} bars (a bar size must be a "
            f"whole multiple of the file's {file_bar}; bars are never split or invented)"
        )


def read_catalog(catalog: str | os.PathLike | None) -> tuple[dict[str, Any], Path]:
    """Entries of the catalog (``{}`` when the default catalog does not exist)."""
    path = Path(catalog).expanduser() if catalog is not None else DEFAULT_CATALOG
    if not path.exists():
        if catalog is not None:
            raise MarketSpecError(f"--catalog {path}: no such file")
        return {}, path
    if path.is_dir():
        raise MarketSpecError(f"--catalog {path}: is a directory; give a YAML file")
    if path.stat().st_size > MAX_CATALOG_BYTES:
        raise MarketSpecError(
            f"--catalog {path}: {path.stat().st_size:,} bytes, more than a catalog needs "
            f"({MAX_CATALOG_BYTES:,}); give the YAML file that lists the markets"
        )
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"))  # strict: a key twice is refused
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        detail = " ".join(str(exc).split())
        raise MarketSpecError(f"{path}: not a valid YAML catalog ({detail})") from None
    if data is None:
        return {}, path
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise MarketSpecError(
            f"{path}: a catalog maps entry names to mappings (candles:, funding:, bar:, splits:); "
            "see envs/markets.py"
        )
    clash = sorted(str(k) for k in data if str(k) in PRESETS)
    if clash:
        raise MarketSpecError(
            f"{path}: entry {clash[0]} has the name of a preset; a preset name always means the "
            f"shipped preset, so this entry would never be used: rename it (e.g. my_{clash[0]})"
        )
    return {str(k): v for k, v in data.items()}, path


def _from_entry(
    name: str,
    entry: dict,
    cat_path: Path,
    funding: str | os.PathLike | None,
    bar: str | None,
    partial_funding: bool = False,
) -> Preset:
    where = f"{cat_path}: entry {name}"
    if "members" in entry:  # a universe (envs.portfolio.members), not one market
        raise MarketSpecError(
            f"{where} is a universe (members:), not one market: give it to a portfolio command "
            f"(python -m agents.ppo --env {name}, python -m evaluate.portfolio --env {name})"
        )
    unknown = sorted(set(map(str, entry)) - _ENTRY_KEYS)
    if unknown:
        raise MarketSpecError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_ENTRY_KEYS))}"
        )
    if "candles" not in entry:
        raise MarketSpecError(f"{where}: no 'candles:' path; add the candle file's path")

    def rel(value: Any) -> Path:
        p = Path(str(value)).expanduser()
        return p if p.is_absolute() else cat_path.parent / p

    fund = funding if funding is not None else entry.get("funding")
    declared = barsize.canonical(str(entry["bar"])) if entry.get("bar") is not None else None
    splits = _parse_splits(entry["splits"], where) if entry.get("splits") is not None else None
    market = _from_file(
        rel(entry["candles"]),
        rel(fund) if fund is not None and funding is None else fund,
        bar,
        spec=f"catalog:{name}",
        name=name,
        declared=declared,
        splits=splits,
        where=where,
        partial_funding=partial_funding or _flag(entry, "partial_funding", where),
    )
    return market


def _flag(entry: dict, key: str, where: str) -> bool:
    """A true/false entry key (absent: false); anything else is refused, not guessed."""
    value = entry.get(key, False)
    if not isinstance(value, bool):
        raise MarketSpecError(f"{where}: {key} must be true or false, got {quote(value)}")
    return value


def _parse_splits(raw: Any, where: str) -> dict[str, tuple[str, str]]:
    if not isinstance(raw, dict) or set(map(str, raw)) != set(SPLIT_NAMES):
        raise MarketSpecError(
            f"{where}: splits must give exactly train, val and test as [start, end) date pairs, "
            f"got {raw!r}"
        )
    out: dict[str, tuple[str, str]] = {}
    for key in SPLIT_NAMES:
        pair = raw[key]
        try:
            start, end = (pd.Timestamp(str(x), tz="UTC") for x in pair)
        except (TypeError, ValueError):
            raise MarketSpecError(
                f"{where}: split {key}: {pair!r} is not a [start, end] pair of dates "
                "(write [2023-01-01, 2024-01-01])"
            ) from None
        if not start < end:
            raise MarketSpecError(f"{where}: split {key}: start {start} is not before end {end}")
        out[key] = (_iso(start), _iso(end))
    return out


def _check_file(path: Path, what: str) -> None:
    try:
        check_readable(path, what)
    except ValueError as err:
        raise MarketSpecError(str(err)) from None
    if not path.exists():
        raise MarketSpecError(f"{what} {path}: no such file")
    if path.is_dir():
        raise MarketSpecError(
            f"{what} {path}: is a directory; give a .csv, .csv.gz or .parquet file"
        )
    file_kind(path)  # refuses other suffixes, naming the expected ones


def _from_file(
    path: Path,
    funding: str | os.PathLike | None,
    bar: str | None,
    *,
    spec: str,
    name: str | None = None,
    declared: str | None = None,
    splits: dict[str, tuple[str, str]] | None = None,
    where: str | None = None,
    partial_funding: bool = False,
) -> Preset:
    """A Preset for a candle file: hashes, bar size (checked), splits (configured or default)."""
    _check_file(path, "candles")
    fund_path = Path(funding).expanduser() if funding is not None else None
    if fund_path is not None:
        _check_file(fund_path, "--funding")
    candles = load_candles(path)  # validated: one-line errors naming line and value
    file_bar = barsize.detect_bar(pd.DatetimeIndex(candles.index), str(path))
    if fund_path is not None and not partial_funding:
        fix = f"pass {PARTIAL_FLAG}" + (" (or partial_funding: true in the entry)" if where else "")
        check_funding_coverage(
            pd.DatetimeIndex(candles.index),
            load_funding(fund_path),  # validated: rates, order, bounds
            pd.Timedelta(barsize.bar_ns(file_bar), "ns"),
            f"{where + ': ' if where else ''}funding {fund_path}",
            fix,
        )
    freq = bar or declared or file_bar
    _check_resample(file_bar, freq, spec)
    if splits is None:
        splits, note = default_splits(pd.DatetimeIndex(candles.index), freq, file_bar)
    else:
        check_splits(splits, pd.DatetimeIndex(candles.index), file_bar, where or spec)
        note = "configured splits"
    stem = path.name.split(".")[0]
    return Preset(
        name=name or (stem if freq == file_bar else f"{stem}@{freq}"),
        candles=DataFile(str(path.resolve()), candles.attrs["sha256"]),
        funding=DataFile(str(fund_path.resolve()), file_sha256(fund_path)) if fund_path else None,
        freq=freq,
        periods_per_year=barsize.periods_per_year(freq),
        splits=splits,
        file_bar=file_bar,
        spec=spec,
        split_note=note,
    )


def check_splits(
    splits: dict[str, tuple[str, str]], index: pd.DatetimeIndex, file_bar: str, where: str
) -> None:
    """Refuse configured splits that are out of order, overlap, or reach outside the candles'
    span ``[first open, last open + 1 bar)``: a val split inside or before train would select
    a model on bars it trained on. One line naming ``where`` (catalog file and entry), the
    split and the fix."""
    first = index[0]
    end = index[-1] + pd.Timedelta(barsize.bar_ns(file_bar), "ns")
    span = f"[{_iso(first)}, {_iso(end)})"
    bounds = {k: tuple(pd.Timestamp(x, tz="UTC") for x in splits[k]) for k in SPLIT_NAMES}
    for before, after in zip(SPLIT_NAMES, SPLIT_NAMES[1:], strict=False):
        if bounds[after][0] < bounds[before][1]:
            raise MarketSpecError(
                f"{where}: split {after} [{splits[after][0]}, {splits[after][1]}) starts before "
                f"{before} ends ({splits[before][1]}); splits must be ordered train, val, test "
                f"without overlap: start {after} at {splits[before][1]} or later"
            )
    for key in SPLIT_NAMES:
        lo, hi = bounds[key]
        if lo < first or hi > end:
            raise MarketSpecError(
                f"{where}: split {key} [{splits[key][0]}, {splits[key][1]}) reaches outside the "
                f"candles, which cover {span}; keep every split inside that span (or add candles)"
            )


def default_splits(
    index: pd.DatetimeIndex,
    bar: str,
    file_bar: str | None = None,
    fractions: tuple[float, float, float] = DEFAULT_SPLIT_FRACTIONS,
) -> tuple[dict[str, tuple[str, str]], str]:
    """70/15/15 by time over ``[first, last + file bar)``, cuts floored to a ``bar``; and a note."""
    step = barsize.bar_ns(bar)
    first = int(index[0].value)
    end = int(index[-1].value) + barsize.bar_ns(file_bar or bar)
    span = end - first
    cut1 = first + int(span * fractions[0])
    cut2 = first + int(span * (fractions[0] + fractions[1]))
    cut1, cut2 = cut1 - cut1 % step, cut2 - cut2 % step
    stamps = [_iso(pd.Timestamp(x, tz="UTC")) for x in (first, cut1, cut2, end)]
    splits = dict(zip(SPLIT_NAMES, zip(stamps[:-1], stamps[1:], strict=True), strict=True))
    note = "default splits 70/15/15 by time (none configured): " + "; ".join(
        f"{k} [{a}, {b})" for k, (a, b) in splits.items()
    )
    return splits, note


def _iso(ts: pd.Timestamp) -> str:
    """UTC instant as the splits write it (``2023-01-01T00:00:00``, UTC implied)."""
    return ts.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S")


def describe(market: Preset) -> dict[str, Any]:
    """JSON-serialisable record of a resolved market (for run folders): spec, files, splits."""
    return {
        "spec": market.spec or market.name,
        "name": market.name,
        "bar": market.freq,
        "file_bar": market.file_bar,
        "periods_per_year": market.periods_per_year,
        "files": market.files,
        "splits": {k: list(v) for k, v in market.splits.items()},
        "split_note": market.split_note,
    }
