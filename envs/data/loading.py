"""Load candles and funding from a preset name or a file, validated, never repaired.

``load_candles("btc1h")`` reads the shipped file named by ``envs.presets``,
checks its sha256 against the recorded hash (``DataIntegrityError`` on a
mismatch), parses it and validates every row (``DataValidationError`` naming
file, line, timestamp and fix). A path (CSV, CSV.gz or parquet) is loaded the
same way without the hash check.

Output contract (candles): ``DatetimeIndex`` tz UTC, unit ns, named
``timestamp`` = bar open time, sorted, unique; columns ``open, high, low, close,
volume`` float64. ``frame.attrs`` holds ``source`` (the path) and ``sha256``.

Funding: ``load_funding`` returns a float64 Series named ``funding_rate`` with a
UTC index = settlement instant, or ``None`` for a preset that has no funding
file (no preset lacks one today; callers treat ``None`` as "no funding").

Parsed files are cached in-process on (path, mtime, size); every call returns a
fresh copy, so a caller cannot corrupt the cache. Preset hashes are re-checked
on every call (a few ms).
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from envs.barsize import canonical
from envs.data.errors import DataIntegrityError, DataValidationError
from envs.data.reading import CANDLE_COLUMNS, FUNDING_COLUMNS, RowLocator, check_readable, iso
from envs.data.resample import resample
from envs.data.tables import read_table
from envs.data.timestamps import parse_timestamps
from envs.data.validation import validate_candles, validate_funding
from envs.preset_table import PRESETS
from envs.preset_types import DataFile, Preset

Source = str | os.PathLike


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of the file's bytes (the gz bytes for .csv.gz, as recorded in presets)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _shipped(data_file: DataFile) -> bool:
    """A shipped file is named relative to data/; a resolved user file has an absolute path."""
    return not Path(data_file.filename).is_absolute()


def verify_data_file(data_file: DataFile) -> str:
    """Check a shipped file's sha256 against the recorded one; return the hash."""
    path = data_file.path
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: shipped data file is missing; restore it with `git checkout -- data/{data_file.filename}`"
        )
    actual = file_sha256(path)
    if actual != data_file.sha256 and not _shipped(data_file):
        raise DataIntegrityError(
            f"{path}: the file changed since its market was resolved (sha256 {data_file.sha256} "
            f"then, {actual} now); resolve the market again (re-run the command) to use the new file"
        )
    if actual != data_file.sha256:
        raise DataIntegrityError(
            f"{path}: sha256 mismatch for shipped file {data_file.filename}: expected "
            f"{data_file.sha256}, actual {actual}. The file was modified or is corrupt. Restore it "
            f"with `git checkout -- data/{data_file.filename}`; if you changed it on purpose, load it "
            f"by path (load_candles('{path}') skips the check) and record the new hash in envs/presets.py."
        )
    return actual


def _preset_of(source: Source | Preset) -> Preset | None:
    if isinstance(source, Preset):
        return source
    return PRESETS[source] if isinstance(source, str) and source in PRESETS else None


def _resolve(source: Source | Preset, kind: str) -> tuple[Path, DataFile | None]:
    """Preset (or its name) -> (its file, DataFile); anything else -> (path, None)."""
    preset = _preset_of(source)
    if preset is not None:
        data_file = preset.candles if kind == "candles" else preset.funding
        if data_file is None:
            return Path(), None
        return data_file.path, data_file
    assert not isinstance(source, Preset)  # _preset_of returned it above
    path = Path(source)
    check_readable(path)
    if not path.exists():
        hint = f"; presets: {', '.join(sorted(PRESETS))}" if isinstance(source, str) else ""
        raise FileNotFoundError(f"{source}: neither a preset name nor an existing file{hint}")
    if path.is_dir():
        raise IsADirectoryError(
            f"{source}: is a directory; give a candle file (.csv, .csv.gz or .parquet)"
        )
    return path, None


def _signature(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path.resolve()), st.st_mtime_ns, st.st_size


def _newest_first(
    frame: pd.DataFrame, ok: np.ndarray, loc: RowLocator, fmt: str
) -> tuple[pd.DataFrame, np.ndarray, RowLocator, list[str]]:
    """Reverse a newest-first file (its format's documented order) and say so; rows unchanged."""
    stamps = frame.index[ok]
    if len(stamps) < 2 or not stamps[0] > stamps[-1]:
        return frame, ok, loc, []
    note = (
        f"rows reversed: {fmt} lists bars newest first; read {len(frame):,} rows oldest first "
        f"({iso(stamps[-1])} .. {iso(stamps[0])}), no row changed, dropped or added"
    )
    loc = RowLocator(loc.label, loc.first_line, reversed_rows=len(frame))
    return frame.iloc[::-1], ok[::-1], loc, [note]


def _frame(path: Path, columns: tuple[str, ...], strict: bool) -> pd.DataFrame:
    table, loc = read_table(path, columns, strict=strict)
    if len(table) == 0:
        raise DataValidationError(f"{path}: the file has a header but no data rows")
    mixed: list[str] | None = [] if table.attrs.get("newest_first") else None  # CDD's unix
    index, ok, non_utc = parse_timestamps(
        table["timestamp"], loc, strict=strict, mixed_epoch_notes=mixed
    )
    frame = table.loc[:, list(columns)]
    frame.index = index
    notes: list[str] = [*table.attrs.get("notes", []), *(mixed or [])]
    if table.attrs.get("newest_first"):
        frame, ok, loc, reversed_note = _newest_first(frame, ok, loc, table.attrs["format"])
        notes += reversed_note
    issues = dict(table.attrs.get("read_issues", {}))
    if strict:
        if columns == CANDLE_COLUMNS:
            validate_candles(frame, loc)
        else:
            validate_funding(frame, loc)
    else:
        issues["unparseable_timestamps"] = int((~ok).sum())
        issues["non_utc_timestamps"] = non_utc
        frame = frame.loc[ok]
    frame.attrs = {"source": str(path)} if strict else {"source": str(path), "read_issues": issues}
    frame.attrs["format"] = table.attrs["format"]
    if notes:
        frame.attrs["transformations"] = notes
    if table.attrs.get("extra_columns"):
        frame.attrs["extra_columns"] = list(table.attrs["extra_columns"])
    return frame


@lru_cache(maxsize=16)
def _cached(
    path: str, mtime_ns: int, size: int, columns: tuple[str, ...], strict: bool
) -> pd.DataFrame:
    del mtime_ns, size  # part of the cache key only: a rewritten file is re-read
    return _frame(Path(path), columns, strict)


def _load(
    source: Source | Preset, kind: str, columns: tuple[str, ...], *, verify: bool, strict: bool
) -> pd.DataFrame | None:
    path, data_file = _resolve(source, kind)
    preset = _preset_of(source)
    if data_file is None and preset is not None:
        return None  # preset without this kind of file (funding)
    sha = verify_data_file(data_file) if (data_file is not None and verify) else None
    frame = _cached(*_signature(path), columns, strict).copy(deep=True)
    frame.attrs = {**frame.attrs, "source": str(path), "sha256": sha or file_sha256(path)}
    if preset is not None:
        frame.attrs["preset"] = preset.name
        if kind == "candles" and canonical(preset.freq) != canonical(preset.file_bar):
            attrs = dict(frame.attrs)
            frame, report = resample(frame, preset.freq, from_bar=preset.file_bar)
            frame.attrs = {**attrs, "bar": report.to_bar, "resample": report.to_dict()}
    return frame


def load_candles(source: Source | Preset, *, verify: bool = True) -> pd.DataFrame:
    """Validated OHLCV candles from a preset name (``btc1h``, ``eth1h``) or a CSV/CSV.gz/parquet path.

    ``verify`` checks a preset file's sha256 (ignored for paths). Raises
    ``DataIntegrityError`` (hash), ``DataValidationError`` (content) or
    ``FileNotFoundError``.
    """
    frame = _load(source, "candles", CANDLE_COLUMNS, verify=verify, strict=True)
    assert frame is not None  # every preset has candles
    return frame


def load_funding(source: Source | Preset, *, verify: bool = True) -> pd.Series | None:
    """Funding rates (fraction of notional per settlement; >0: longs pay) from a preset or path.

    Index: UTC settlement instants, named ``timestamp``. Returns ``None`` for a
    preset without a funding file.
    """
    frame = _load(source, "funding", FUNDING_COLUMNS, verify=verify, strict=True)
    if frame is None:
        return None
    series = frame["funding_rate"].copy()
    series.attrs = dict(frame.attrs)
    return series


def read_candles_raw(source: Source | Preset, *, verify: bool = True) -> pd.DataFrame:
    """Lenient read for reporting: parse what parses, refuse nothing but missing columns.

    The result may be unsorted and contain duplicate timestamps, NaN and
    invalid OHLC rows. Naive timestamps are read as UTC and offsets converted;
    rows with unparseable timestamps are left out. All of that is counted in
    ``frame.attrs["read_issues"]``. Never feed this to training: use
    ``load_candles``.
    """
    frame = _load(source, "candles", CANDLE_COLUMNS, verify=verify, strict=False)
    assert frame is not None
    return frame
