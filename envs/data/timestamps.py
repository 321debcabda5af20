"""Parse a timestamp column to a UTC index: ISO-8601 UTC, epoch seconds or epoch milliseconds.

* ISO-8601 strings ending in ``Z`` or ``+00:00``/``+0000`` are UTC. A *naive*
  time (no ``Z``, no offset) is refused by the strict reader (ambiguous: the
  shipped files always carry ``Z``); other offsets are refused too (convert the
  file to UTC first). The lenient reader (the quality report) reads naive times
  as UTC, converts offsets, and counts both.
* A column of plain integers is an **epoch** count, UTC by definition. The unit
  is read from the number of digits, which is unambiguous for any date from
  2001-09-09 to 2286: **10 digits = seconds** (Unix time, CryptoDataDownload's
  older rows) and **13 digits = milliseconds** (ccxt, the exchanges, Freqtrade).
  Every row must have the same unit: a column mixing them is refused at the
  first row that differs (a spliced file?), except in CryptoDataDownload's
  ``unix`` column, which is known to mix them: there each row is read by its
  digit count and the mix is reported. Counts of
  other lengths (microseconds, nanoseconds, dates before 2001) are refused,
  naming the unit they look like.
* Parquet/feather datetime columns must be tz-aware UTC.
* Times before 1970 or more than a day in the future (a year typo such as
  2300) are refused.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from envs.data.errors import DataValidationError, quote
from envs.data.reading import MAX_EXAMPLES, RowLocator, describe_rows

_UTC_SUFFIX = r"(?:[Zz]|\+00:?00)$"
_OFFSET_SUFFIX = r"[+-]\d{2}:?\d{2}$"
MIN_TIMESTAMP = pd.Timestamp("1970-01-01", tz="UTC")
EPOCH_UNITS = {10: "s", 13: "ms"}  # digits -> unit, for 2001-09-09 .. 2286-11-20
_UNIT_NAMES = {"s": "seconds", "ms": "milliseconds"}


def _datetime_column(
    raw: pd.Series, loc: RowLocator, strict: bool
) -> tuple[pd.DatetimeIndex, np.ndarray, int]:
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


def parse_timestamps(
    raw: pd.Series, loc: RowLocator, *, strict: bool, mixed_epoch_notes: list[str] | None = None
) -> tuple[pd.DatetimeIndex, np.ndarray, int]:
    """Parse a timestamp column to a UTC ``DatetimeIndex`` (ns) named ``timestamp``.

    ``mixed_epoch_notes``: a list for a layout known to mix epoch seconds and milliseconds
    (CryptoDataDownload's ``unix``): each row is then read by its digit count and a note
    saying so is appended; otherwise a mixed column is refused.

    Returns ``(index, ok, n_non_utc)``: ``ok`` marks rows that parsed and
    ``n_non_utc`` counts parsed rows not written as UTC (lenient mode). Strict mode
    raises on any unparseable, naive or non-UTC timestamp; lenient mode
    returns NaT for unparseable rows and reads naive times as UTC.
    """
    if isinstance(raw.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(raw):
        return _datetime_column(raw, loc, strict)
    if pd.api.types.is_integer_dtype(raw):  # parquet/JSON epoch integers: judged like digits
        raw = raw.astype("string")
    if not (pd.api.types.is_string_dtype(raw) or raw.dtype == object):
        raise DataValidationError(
            f"{loc.label}: timestamp column has dtype {raw.dtype}; expected ISO-8601 strings "
            "such as 2020-01-01T00:00:00Z, epoch seconds/milliseconds, or tz-aware UTC datetimes."
        )
    text = raw.astype("string").str.strip()
    epoch = _epoch(text, loc, mixed_epoch_notes)
    if epoch is not None:  # epoch seconds or milliseconds: UTC by definition
        index = _in_range(epoch, raw, loc, strict)
        return index, index.notna(), 0  # out of range (lenient): NaT, not ok
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    parsed = pd.Series(_in_range(parsed, raw, loc, strict), index=text.index)
    ok = parsed.notna().to_numpy()
    if strict and not ok.all():
        pos = np.flatnonzero(~ok)
        labels = [quote(raw.iloc[i]) for i in pos[:MAX_EXAMPLES]]
        raise DataValidationError(
            f"{loc.label}: unparseable timestamps: {describe_rows(pos, loc, labels)}. "
            "Write ISO-8601 UTC times such as 2020-01-01T00:00:00Z (or epoch seconds or "
            "milliseconds in every row)."
        )
    utc_written = text.str.contains(_UTC_SUFFIX, regex=True).fillna(False).to_numpy(dtype=bool)
    if strict and not utc_written.all():
        _refuse_non_utc(raw, text, utc_written, loc)
    index = pd.DatetimeIndex(parsed, name="timestamp").as_unit("ns")
    return index, ok, int((ok & ~utc_written).sum())


def _refuse_non_utc(raw: pd.Series, text: pd.Series, utc_written: np.ndarray, loc: RowLocator):
    pos = np.flatnonzero(~utc_written)
    offset = text.str.contains(_OFFSET_SUFFIX, regex=True).fillna(False).to_numpy(dtype=bool)
    n_naive = int((~offset[pos]).sum())
    labels = [
        f"{quote(raw.iloc[i])}: {'UTC offset' if offset[i] else 'no time zone'}"
        for i in pos[:MAX_EXAMPLES]
    ]
    raise DataValidationError(
        f"{loc.label}: timestamps must be UTC, written with a 'Z' (or +00:00) suffix; "
        f"{len(pos) - n_naive:,} carry another UTC offset and {n_naive:,} have no time zone "
        f"(naive times are refused, not assumed UTC): {describe_rows(pos, loc, labels)}. "
        "Convert the times to UTC and write them as 2020-01-01T00:00:00Z."
    )


def _unit_name(digits: int) -> str:
    if digits in EPOCH_UNITS:
        return _UNIT_NAMES[EPOCH_UNITS[digits]]
    if 15 <= digits <= 17:
        return "microseconds"
    if 18 <= digits <= 19:
        return "nanoseconds"
    return f"an unknown unit ({digits} digits)"


def _per_row_ms(text: pd.Series, digits: np.ndarray, notes: list[str]) -> pd.Series:
    """Epoch seconds and milliseconds mixed in one column, each row read by its digit count
    (unambiguous: 10 vs 13 digits), and a note saying so."""
    values = pd.to_numeric(text)
    n_s = int((digits == 10).sum())
    notes.append(
        f"the time column mixes epoch seconds ({n_s:,} rows) and milliseconds "
        f"({len(digits) - n_s:,} rows), as CryptoDataDownload's files do; each row read by its "
        "digit count (10 = seconds, 13 = milliseconds)"
    )
    scaled = values.where(text.str.len() != 10, values * 1000)
    return pd.to_datetime(scaled, unit="ms", utc=True, errors="coerce")


def _epoch(text: pd.Series, loc: RowLocator, notes: list[str] | None) -> pd.Series | None:
    """An all-digit column as epoch seconds or milliseconds (one unit for every row, unless
    ``notes`` is given: then 10- and 13-digit rows may mix); other units and mixed units
    refused, naming the row. None when the column is not all digits."""
    values = text.dropna()
    if len(values) == 0 or not values.str.fullmatch(r"\d+").all():
        return None
    digits = values.str.len().to_numpy()
    if notes is not None and np.isin(digits, list(EPOCH_UNITS)).all() and len(set(digits)) > 1:
        return _per_row_ms(text, digits, notes)
    first = int(digits[0])
    unit = EPOCH_UNITS.get(first)
    if unit is None:
        raise DataValidationError(
            f"{loc.label}: timestamps look like epoch {_unit_name(first)} (e.g. "
            f"{quote(values.iloc[0])} on {loc.where(int(np.flatnonzero(text.notna())[0]))}); "
            "epoch seconds (10 digits), epoch milliseconds (13 digits) and ISO-8601 UTC "
            "(2020-01-01T00:00:00Z) are accepted: convert the column to one of them"
        )
    other = np.flatnonzero(digits != first)
    if len(other):
        j = int(other[0])
        row = int(np.flatnonzero(text.notna())[j])
        raise DataValidationError(
            f"{loc.label}: the timestamp column mixes epoch units: {quote(values.iloc[0])} on "
            f"{loc.where(int(np.flatnonzero(text.notna())[0]))} is {_UNIT_NAMES[unit]} but "
            f"{quote(values.iloc[j])} on {loc.where(row)} is {_unit_name(int(digits[j]))} "
            f"({len(other):,} such rows); write every row in one unit (the loader will not guess)"
        )
    return pd.to_datetime(pd.to_numeric(text), unit=unit, utc=True, errors="coerce")


def _in_range(parsed: pd.Series, raw: pd.Series, loc: RowLocator, strict: bool) -> pd.DatetimeIndex:
    """Refuse (strict) or drop to NaT (lenient) times before 1970 or more than a day ahead."""
    latest = pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)
    values = pd.Series(parsed.array, index=raw.index)  # .array: no per-row Timestamp objects
    bad = (values.notna() & ((values < MIN_TIMESTAMP) | (values > latest))).to_numpy()
    if bad.any() and strict:
        pos = np.flatnonzero(bad)
        labels = [quote(raw.iloc[i]) for i in pos[:MAX_EXAMPLES]]
        raise DataValidationError(
            f"{loc.label}: timestamps before 1970 or in the future: "
            f"{describe_rows(pos, loc, labels)}. Correct or delete these rows (a year typo?)."
        )
    values[bad] = pd.NaT
    return pd.DatetimeIndex(values.array, name="timestamp").as_unit("ns")
