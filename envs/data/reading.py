"""Turn a candle/funding file into a table with parsed UTC timestamps.

This module only *reads*: it finds the columns, parses numbers and timestamps,
and reports where it could not. Value checks (NaN, order, OHLC consistency) live
in ``envs.data.validation``. Two modes:

* ``strict=True`` (the loader): a missing column, an unparseable cell or a
  timestamp that is not explicitly UTC raises ``DataValidationError``.
* ``strict=False`` (the quality report): unparseable numbers become NaN,
  naive timestamps are read as UTC and offsets are converted to UTC, and rows
  whose timestamp cannot be parsed are left out; every such event is counted in
  ``frame.attrs["read_issues"]`` so the report can show it. Missing columns
  still raise: there is nothing to report without them.

Timestamps: ISO-8601 strings ending in ``Z`` or ``+00:00``/``+0000`` are UTC.
A column of integers with 12-14 digits is read as **epoch milliseconds**
(ccxt's and the exchanges' format; UTC by definition); epoch seconds or
microseconds are refused with a message that names them. Times before 1970 or
more than a day in the future (a year typo such as 2300) are refused.
A *naive* timestamp (no ``Z``, no offset) is rejected by the strict reader:
the shipped files always carry ``Z`` and a naive time is ambiguous. Offsets
other than UTC are rejected too (convert the file to UTC first). Parquet
timestamp columns must be tz-aware UTC datetimes or such strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from envs.data.errors import DataValidationError
from envs.data.sniff import sniff_csv, sniff_parquet

CANDLE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
FUNDING_COLUMNS: tuple[str, ...] = ("funding_rate",)
MAX_EXAMPLES = 5  # offending rows quoted in an error message

_UTC_SUFFIX = r"(?:[Zz]|\+00:?00)$"
_OFFSET_SUFFIX = r"[+-]\d{2}:?\d{2}$"
_CSV_SUFFIXES = {".csv", ".gz", ".bz2", ".xz", ".zip", ".zst"}
_PARQUET_SUFFIXES = {".parquet", ".pq"}


@dataclass(frozen=True)
class RowLocator:
    """How to name row ``i`` (0-based data row) in a message: a CSV line or a table row."""

    label: str
    first_line: int | None = None  # CSV line number of data row 0 (header is line 1)

    def where(self, i: int) -> str:
        return f"line {i + self.first_line}" if self.first_line is not None else f"row {i}"


def iso(ts: pd.Timestamp) -> str:
    """``2020-01-01T00:00:00Z`` (the shipped files' format)."""
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def describe_rows(
    positions: np.ndarray, loc: RowLocator, labels: list[str], total: int | None = None
) -> str:
    """'line 5 (label), line 9 (label) ... and 12 more (14 rows)' for the first MAX_EXAMPLES."""
    total = len(positions) if total is None else total
    parts = [
        f"{loc.where(int(i))} ({lab})"
        for i, lab in zip(positions[:MAX_EXAMPLES], labels, strict=False)
    ]
    text = ", ".join(parts)
    if total > len(parts):
        text += f" ... and {total - len(parts):,} more"
    return f"{text} [{total:,} row{'s' if total != 1 else ''} in all]"


def check_readable(path: Path, what: str = "") -> None:
    """Refuse a broken/looping symlink and a FIFO, socket or device before reading: a FIFO
    blocks the reader forever, a looping symlink used to read as 'no such file'."""
    label = f"{what} {path}".strip()
    if path.is_symlink() and not path.exists():
        raise DataValidationError(
            f"{label}: a broken or looping symlink; point it at a candle file or give the file"
        )
    if path.exists() and not path.is_file() and not path.is_dir():
        raise DataValidationError(
            f"{label}: not a regular file (a FIFO, socket or device, which would block or read "
            "nothing); save the candles to a .csv, .csv.gz or .parquet file and give that"
        )


def file_kind(path: Path) -> str:
    """'csv' or 'parquet' from the file name; anything else is refused."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _PARQUET_SUFFIXES:
        return "parquet"
    if ".csv" in suffixes or (suffixes and suffixes[-1] in _CSV_SUFFIXES):
        return "csv"
    raise DataValidationError(
        f"{path}: unsupported file type {''.join(path.suffixes)!r}; expected .csv, .csv.gz "
        "or .parquet with columns timestamp,open,high,low,close,volume"
    )


def _check_columns(found: list[str], needed: tuple[str, ...], label: str) -> None:
    missing = [c for c in needed if c not in found]
    if missing:
        raise DataValidationError(
            f"{label}: missing column(s) {', '.join(missing)}; columns found: "
            f"{', '.join(map(repr, found)) or '(none)'}. The header must be exactly "
            f"{','.join(needed)} (lower case, no spaces); rename the columns in the file."
        )


def _coerce_numeric(
    table: pd.DataFrame, columns: tuple[str, ...], loc: RowLocator, strict: bool
) -> tuple[pd.DataFrame, int]:
    """Numeric columns to float64; cells that are not numbers raise (strict) or become NaN."""
    bad_total = 0
    for col in columns:
        raw = table[col]
        if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
            table[col] = raw.astype("float64")
            continue
        num = pd.to_numeric(raw, errors="coerce")
        bad = num.isna().to_numpy() & raw.notna().to_numpy()
        if bad.any() and strict:
            pos = np.flatnonzero(bad)
            labels = [f"{col}={raw.iloc[i]!r}" for i in pos[:MAX_EXAMPLES]]
            raise DataValidationError(
                f"{loc.label}: column {col} has values that are not numbers: "
                f"{describe_rows(pos, loc, labels)}. Fix those cells in the file "
                "(write plain decimal numbers; an empty cell is read as NaN and refused too)."
            )
        bad_total += int(bad.sum())
        table[col] = num.astype("float64")
    return table, bad_total


def _read_csv(
    path: Path, needed: tuple[str, ...], columns: tuple[str, ...], loc: RowLocator
) -> pd.DataFrame:
    """pandas C parser with explicit dtypes (fast); on a non-numeric cell, re-read as text."""
    try:
        found = [str(c) for c in pd.read_csv(path, nrows=0).columns]
        _check_columns(found, needed, loc.label)
        dtypes = {"timestamp": str, **{c: "float64" for c in columns}}
        try:
            return pd.read_csv(path, dtype=dtypes)  # no usecols: it would hide ragged lines
        except pd.errors.ParserError:
            raise
        except ValueError:  # a cell that is not a number: _coerce_numeric finds it and says where
            return pd.read_csv(path, dtype=str)
    except pd.errors.EmptyDataError:
        raise DataValidationError(
            f"{loc.label}: the file is empty; expected the header {','.join(needed)} and data rows"
        ) from None
    except pd.errors.ParserError as exc:
        raise DataValidationError(
            f"{loc.label}: malformed CSV ({exc}); every line needs exactly the header's fields"
        ) from None


def read_table(
    path: Path, columns: tuple[str, ...], *, strict: bool
) -> tuple[pd.DataFrame, RowLocator]:
    """Read ``timestamp`` + ``columns`` from a CSV(.gz) or parquet file.

    Returns the raw table (positional RangeIndex; ``timestamp`` not yet parsed)
    and the locator that names its rows.
    """
    check_readable(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    kind = file_kind(path)
    needed = ("timestamp", *columns)
    if path.is_dir():
        raise DataValidationError(f"{path}: is a directory; give a .csv, .csv.gz or .parquet file")
    kind = file_kind(path)
    needed = ("timestamp", *columns)
    if kind == "csv":
        sniff_csv(path)
        loc = RowLocator(str(path), first_line=2)
        _check_header(path, loc.label)
        table = _read_csv(path, needed, columns, loc)
    else:
        sniff_parquet(path)
        loc = RowLocator(str(path), first_line=None)
        try:
            table = pd.read_parquet(path)
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise DataValidationError(
                f"{path}: unreadable parquet file ({' '.join(str(exc).split())[:200]}); write it "
                "again with DataFrame.to_parquet, or give a CSV"
            ) from None
        if "timestamp" not in table.columns and table.index.name == "timestamp":
            table = table.reset_index()
        _check_columns([str(c) for c in table.columns], needed, loc.label)
        table = table.reset_index(drop=True)
    extra = [str(c) for c in table.columns if c not in needed]
    table = table.loc[:, list(needed)].copy()
    table, bad_numbers = _coerce_numeric(table, columns, loc, strict)
    table.attrs["read_issues"] = {"unparseable_values": bad_numbers}
    table.attrs["extra_columns"] = extra  # reported by the CLI and the quality report, not used
    return table, loc


def _check_header(path: Path, label: str) -> None:
    """Refuse a repeated column name (pandas would silently rename the copy ``close.1``)."""
    try:
        header = pd.read_csv(path, header=None, nrows=1, dtype=str).iloc[0].tolist()
    except (pd.errors.EmptyDataError, IndexError):
        return  # an empty file: _read_csv says so
    except pd.errors.ParserError:
        return  # malformed: _read_csv says where
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataValidationError(
                f"{label}: column {name!r} appears twice in the header ({','.join(map(str, header))}); "
                "keep one (the loader will not guess which is right)"
            )
        seen.add(name)


def parse_timestamps(
    raw: pd.Series, loc: RowLocator, *, strict: bool
) -> tuple[pd.DatetimeIndex, np.ndarray, int]:
    """Parse a timestamp column to a UTC ``DatetimeIndex`` (ns) named ``timestamp``.

    Returns ``(index, ok, n_non_utc)``: ``ok`` marks rows that parsed and
    ``n_non_utc`` counts parsed rows not written as UTC (lenient mode). Strict mode
    raises on any unparseable, naive or non-UTC timestamp; lenient mode
    returns NaT for unparseable rows and reads naive times as UTC.
    """
    if isinstance(raw.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(raw):
        tz = getattr(raw.dt, "tz", None)
        if strict and (tz is None or str(tz) not in ("UTC", "utc")):
            what = "naive (no time zone)" if tz is None else f"in time zone {tz}"
            raise DataValidationError(
                f"{loc.label}: timestamp column is {what}; it must be tz-aware UTC "
                "(e.g. df.index.tz_localize('UTC') if the times are UTC, else tz_convert('UTC'))."
            )
        parsed = pd.to_datetime(raw, utc=True)
        ok = parsed.notna().to_numpy()
        non_utc = 0 if tz is not None and str(tz) in ("UTC", "utc") else int(ok.sum())
        return pd.DatetimeIndex(parsed, name="timestamp").as_unit("ns"), ok, non_utc
    if pd.api.types.is_integer_dtype(raw):  # parquet epoch integers: judged like digit strings
        raw = raw.astype("string")
    if not (pd.api.types.is_string_dtype(raw) or raw.dtype == object):
        raise DataValidationError(
            f"{loc.label}: timestamp column has dtype {raw.dtype}; expected ISO-8601 strings "
            "such as 2020-01-01T00:00:00Z (or tz-aware UTC datetimes in parquet)."
        )
    text = raw.astype("string").str.strip()
    epoch = _epoch_ms(text, loc)
    if epoch is not None:  # epoch milliseconds (the exchanges' format): UTC by definition
        return _in_range(epoch, raw, loc, strict), epoch.notna().to_numpy(), 0
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    parsed = pd.Series(_in_range(parsed, raw, loc, strict), index=text.index)
    ok = parsed.notna().to_numpy()
    if strict and not ok.all():
        pos = np.flatnonzero(~ok)
        labels = [repr(raw.iloc[i]) for i in pos[:MAX_EXAMPLES]]
        raise DataValidationError(
            f"{loc.label}: unparseable timestamps: {describe_rows(pos, loc, labels)}. "
            "Write ISO-8601 UTC times such as 2020-01-01T00:00:00Z."
        )
    utc_written = text.str.contains(_UTC_SUFFIX, regex=True).fillna(False).to_numpy(dtype=bool)
    if strict and not utc_written.all():
        pos = np.flatnonzero(~utc_written)
        offset = text.str.contains(_OFFSET_SUFFIX, regex=True).fillna(False).to_numpy(dtype=bool)
        n_naive = int((~offset[pos]).sum())
        labels = [
            f"{raw.iloc[i]!r}: {'UTC offset' if offset[i] else 'no time zone'}"
            for i in pos[:MAX_EXAMPLES]
        ]
        raise DataValidationError(
            f"{loc.label}: timestamps must be UTC, written with a 'Z' (or +00:00) suffix; "
            f"{len(pos) - n_naive:,} carry another UTC offset and {n_naive:,} have no time zone "
            f"(naive times are refused, not assumed UTC): {describe_rows(pos, loc, labels)}. "
            "Convert the times to UTC and write them as 2020-01-01T00:00:00Z."
        )
    index = pd.DatetimeIndex(parsed, name="timestamp").as_unit("ns")
    return index, ok, int((ok & ~utc_written).sum())


_EPOCH_UNITS = {  # digits of an epoch count around the 2000s-2100s -> unit
    range(9, 12): "seconds",
    range(12, 15): "milliseconds",
    range(15, 18): "microseconds",
    range(18, 20): "nanoseconds",
}


def _epoch_ms(text: pd.Series, loc: RowLocator) -> pd.Series | None:
    """Parse an all-digit column as epoch milliseconds; refuse other epoch units, naming them."""
    values = text.dropna()
    if len(values) == 0 or not values.str.fullmatch(r"\d+").all():
        return None
    digits = int(values.str.len().median())
    unit = next((u for r, u in _EPOCH_UNITS.items() if digits in r), "an unknown unit")
    if unit != "milliseconds":
        raise DataValidationError(
            f"{loc.label}: timestamps look like epoch {unit} (e.g. {values.iloc[0]!r}); epoch "
            "milliseconds (13 digits) and ISO-8601 UTC (2020-01-01T00:00:00Z) are accepted: "
            "convert the column to one of them"
        )
    return pd.to_datetime(pd.to_numeric(text), unit="ms", utc=True, errors="coerce")


MIN_TIMESTAMP = pd.Timestamp("1970-01-01", tz="UTC")


def _in_range(parsed: pd.Series, raw: pd.Series, loc: RowLocator, strict: bool) -> pd.DatetimeIndex:
    """Refuse (strict) or drop to NaT (lenient) times before 1970 or more than a day ahead."""
    latest = pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)
    values = pd.Series(parsed.array, index=raw.index)  # .array: no per-row Timestamp objects
    bad = (values.notna() & ((values < MIN_TIMESTAMP) | (values > latest))).to_numpy()
    if bad.any() and strict:
        pos = np.flatnonzero(bad)
        labels = [repr(raw.iloc[i]) for i in pos[:MAX_EXAMPLES]]
        raise DataValidationError(
            f"{loc.label}: timestamps before 1970 or in the future: "
            f"{describe_rows(pos, loc, labels)}. Correct or delete these rows (a year typo?)."
        )
    values[bad] = pd.NaT
    return pd.DatetimeIndex(values.array, name="timestamp").as_unit("ns")
