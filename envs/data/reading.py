"""Reading primitives: the standard columns, how a row is named in a message, file kinds.

The reader proper is ``envs.data.tables.read_table`` (layouts: ``envs.data.formats``;
timestamps: ``envs.data.timestamps``). It only *reads*: it finds the columns, parses
numbers and timestamps, and reports where it could not. Value checks (NaN, order, OHLC
consistency) live in ``envs.data.validation``. Two modes:

* ``strict=True`` (the loader): a missing column, an unparseable cell, a boolean
  column or a timestamp that is not explicitly UTC raises ``DataValidationError``.
* ``strict=False`` (the quality report): unparseable numbers become NaN,
  naive timestamps are read as UTC and offsets are converted to UTC, and rows
  whose timestamp cannot be parsed are left out; every such event is counted in
  ``frame.attrs["read_issues"]`` so the report can show it. Missing columns
  still raise: there is nothing to report without them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from envs.data.errors import DataValidationError, quote

CANDLE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
FUNDING_COLUMNS: tuple[str, ...] = ("funding_rate",)
MAX_EXAMPLES = 5  # offending rows quoted in an error message

_CSV_SUFFIXES = {".csv", ".gz", ".bz2", ".xz", ".zip", ".zst"}
_PARQUET_SUFFIXES = {".parquet", ".pq"}
_FEATHER_SUFFIXES = {".feather", ".ftr", ".arrow"}
KINDS = ".csv[.gz|.bz2|.xz|.zip], .parquet, .feather (Freqtrade), .json[.gz] (Freqtrade)"


@dataclass(frozen=True)
class RowLocator:
    """How to name row ``i`` (0-based data row) in a message: a CSV line or a table row."""

    label: str
    first_line: int | None = None  # CSV line number of data row 0 (header is line 1)
    reversed_rows: int | None = None  # rows were reversed on read (newest-first file): their count

    def where(self, i: int) -> str:
        """The line (CSV) or row (table) in the *file* of data row ``i`` as read."""
        if self.reversed_rows is not None:
            i = self.reversed_rows - 1 - i
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
    """'csv', 'parquet', 'feather' or 'json' from the file name; anything else is refused."""
    suffixes = [s.lower() for s in path.suffixes]
    last = suffixes[-1] if suffixes else ""
    if last in _PARQUET_SUFFIXES:
        return "parquet"
    if last in _FEATHER_SUFFIXES:
        return "feather"
    if last == ".json" or suffixes[-2:] == [".json", ".gz"]:
        return "json"
    if ".csv" in suffixes or last in _CSV_SUFFIXES:
        return "csv"
    raise DataValidationError(
        f"{path}: unsupported file type {quote(''.join(path.suffixes))}; expected {KINDS} "
        "with columns timestamp,open,high,low,close,volume"
    )


def check_columns(found: list[str], needed: tuple[str, ...], label: str) -> None:
    """Refuse a table without the ``needed`` columns, listing what it has."""
    missing = [c for c in needed if c not in found]
    if missing:
        raise DataValidationError(
            f"{label}: missing column(s) {', '.join(missing)}; columns found: "
            f"{quote(', '.join(map(repr, found)) or '(none)', 300)}. The header must be exactly "
            f"{','.join(needed)} (lower case, no spaces); rename the columns in the file."
        )


def coerce_numeric(
    table: pd.DataFrame, columns: tuple[str, ...], loc: RowLocator, strict: bool
) -> tuple[pd.DataFrame, int]:
    """Numeric columns to float64; cells that are not numbers raise (strict) or become NaN."""
    bad_total = 0
    for col in columns:
        raw = table[col]
        _refuse_boolean(raw, col, loc)
        if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
            table[col] = raw.astype("float64")
            continue
        num = pd.to_numeric(raw, errors="coerce")
        bad = num.isna().to_numpy() & raw.notna().to_numpy()
        if bad.any() and strict:
            pos = np.flatnonzero(bad)
            labels = [f"{col}={quote(raw.iloc[i])}" for i in pos[:MAX_EXAMPLES]]
            raise DataValidationError(
                f"{loc.label}: column {col} has values that are not numbers: "
                f"{describe_rows(pos, loc, labels)}. Fix those cells in the file "
                "(write plain decimal numbers; an empty cell is read as NaN and refused too)."
            )
        bad_total += int(bad.sum())
        table[col] = num.astype("float64")
    return table, bad_total


_BOOL_WORDS = {"true", "false"}


def _refuse_boolean(raw: pd.Series, col: str, loc: RowLocator) -> None:
    """A boolean column (a parquet bool, or True/False words) is not a quantity: reading it
    as 0/1 would train on a flag. Refused in both modes, one line."""
    if pd.api.types.is_bool_dtype(raw):
        found = "a boolean (bool) column"
    elif raw.dtype == object or pd.api.types.is_string_dtype(raw):
        words = raw.dropna().astype(str).str.strip().str.lower()
        if len(words) == 0 or not words.isin(_BOOL_WORDS).all():
            return
        found = f"True/False words (e.g. {quote(raw.dropna().iloc[0])} on {loc.where(0)})"
    else:
        return
    raise DataValidationError(
        f"{loc.label}: column {col} holds {found}, not numbers; write the {col} as numbers "
        "(a flag in place of a quantity is refused, never read as 0/1)"
    )
