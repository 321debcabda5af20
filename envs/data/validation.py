"""Value checks on a parsed candle/funding frame: validate or refuse, never repair.

Each check raises ``DataValidationError`` naming the file, the first few
offending rows (line or row number and timestamp), the total count and the fix.
Checks run in this order and the first failure is raised:

candles: NaN/inf (per column) -> unsorted -> duplicate timestamps -> non-positive
prices -> absurd values (a price above ``MAX_PRICE`` or a volume above
``MAX_VOLUME``, e.g. 1e300) -> high < low -> open/close outside [low, high] -> negative volume.
funding: NaN/inf -> unsorted -> duplicate timestamps -> absurd rates (|rate| > ``MAX_FUNDING_RATE``).

Zero volume and flat bars (high == low) are *valid* here: they are real exchange
output and a quality matter, handled by ``envs.data.cleaning``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from envs.data.errors import DataValidationError
from envs.data.reading import CANDLE_COLUMNS, MAX_EXAMPLES, RowLocator, describe_rows, iso

MAX_PRICE = 1e12  # quote units per base unit: far above any traded asset (BTC ~1e5)
MAX_VOLUME = 1e16  # base units per bar: above any token's daily volume (SHIB ~1e13)
# Funding is a fraction of notional per settlement. Exchanges cap it (Binance USD-M: 0.75 x
# the maintenance margin ratio, 0.3% on BTCUSDT; the shipped files' largest is 0.375%), and
# the most extreme altcoin settlements seen are a few percent. 5% per settlement (over 50x
# BTC's cap) is a percentage written as a number (0.01 meant as 0.01%? 5.0 meant as 5%?) or
# a corrupt cell: refused rather than charged.
MAX_FUNDING_RATE = 0.05
_REPORT_HINT = "To list every problem in the file at once: python -m envs.data report PATH."


def _raise(
    loc: RowLocator,
    what: str,
    mask: np.ndarray,
    frame: pd.DataFrame,
    cols: tuple[str, ...],
    fix: str,
) -> None:
    pos = np.flatnonzero(mask)
    labels = []
    for i in pos[:MAX_EXAMPLES]:
        values = ", ".join(f"{c}={float(frame[c].iat[i])!r}" for c in cols)
        labels.append(f"{iso(frame.index[i])}" + (f" {values}" if values else ""))
    raise DataValidationError(
        f"{loc.label}: {what}: {describe_rows(pos, loc, labels)}. {fix} {_REPORT_HINT}"
    )


def _check_nan(frame: pd.DataFrame, columns: tuple[str, ...], loc: RowLocator) -> None:
    values = frame.loc[:, list(columns)].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if not bad.any():
        return
    per_col = {c: int(bad[:, j].sum()) for j, c in enumerate(columns) if bad[:, j].any()}
    cols = ", ".join(f"{c} ({n:,} row{'s' if n != 1 else ''})" for c, n in per_col.items())
    _raise(
        loc,
        f"NaN or infinite values in column(s) {cols}",
        bad.any(axis=1),
        frame,
        tuple(per_col),
        "The loader never fills values: correct these cells, or delete the rows (a deleted bar "
        "becomes a gap, which segments handle).",
    )


def _check_order(frame: pd.DataFrame, loc: RowLocator) -> None:
    ts = frame.index.asi8
    if len(ts) < 2:
        return
    step = np.diff(ts)
    back = np.concatenate([[False], step < 0])
    if back.any():
        prev: np.ndarray = np.flatnonzero(back) - 1
        _raise(
            loc,
            "rows are not sorted by timestamp (each listed row is earlier than the row before it, "
            f"first one follows {iso(frame.index[prev[0]])})",
            back,
            frame,
            (),
            "Sort the file by timestamp ascending; the loader does not reorder rows.",
        )
    dup = np.concatenate([[False], step == 0])
    if dup.any():
        _raise(
            loc,
            "duplicate timestamps (each listed row repeats the timestamp of the row before it)",
            dup,
            frame,
            CANDLE_COLUMNS if set(CANDLE_COLUMNS) <= set(frame.columns) else tuple(frame.columns),
            "Keep exactly one row per timestamp; the loader will not guess which copy is right.",
        )


def validate_candles(frame: pd.DataFrame, loc: RowLocator) -> None:
    """Refuse a candle frame (UTC DatetimeIndex, float64 OHLCV, rows in file order) that is not clean."""
    _check_nan(frame, CANDLE_COLUMNS, loc)
    _check_order(frame, loc)
    o, h, lo, c, v = (frame[col].to_numpy() for col in CANDLE_COLUMNS)
    nonpos = (o <= 0) | (h <= 0) | (lo <= 0) | (c <= 0)
    if nonpos.any():
        _raise(
            loc,
            "non-positive prices (open/high/low/close must be > 0)",
            nonpos,
            frame,
            ("open", "high", "low", "close"),
            "Correct or delete these rows.",
        )
    absurd = (np.maximum.reduce([o, h, lo, c]) > MAX_PRICE) | (v > MAX_VOLUME)
    if absurd.any():
        _raise(
            loc,
            f"absurd values (a price above {MAX_PRICE:.0e} or a volume above {MAX_VOLUME:.0e}: a "
            "corrupt cell or a unit error)",
            absurd,
            frame,
            CANDLE_COLUMNS,
            "Correct or delete these rows.",
        )
    inverted = h < lo
    if inverted.any():
        _raise(
            loc,
            "high < low",
            inverted,
            frame,
            ("high", "low"),
            "Check for swapped high/low columns; correct or delete these rows.",
        )
    outside = (o < lo) | (o > h) | (c < lo) | (c > h)
    if outside.any():
        _raise(
            loc,
            "open or close outside [low, high]",
            outside,
            frame,
            ("open", "high", "low", "close"),
            "Correct or delete these rows.",
        )
    negvol = v < 0
    if negvol.any():
        _raise(loc, "negative volume", negvol, frame, ("volume",), "Correct or delete these rows.")


def validate_funding(frame: pd.DataFrame, loc: RowLocator) -> None:
    """Refuse a funding frame (UTC DatetimeIndex, float64 funding_rate) that is not clean.

    Funding rates may be negative or zero, so no sign check.
    """
    _check_nan(frame, ("funding_rate",), loc)
    _check_order(frame, loc)
    absurd = np.abs(frame["funding_rate"].to_numpy()) > MAX_FUNDING_RATE
    if absurd.any():
        _raise(
            loc,
            f"absurd funding rates (|rate| above {MAX_FUNDING_RATE} = "
            f"{MAX_FUNDING_RATE:.0%} of notional per settlement; exchanges cap funding far below)",
            absurd,
            frame,
            ("funding_rate",),
            "Rates are fractions per settlement (0.0001 = 0.01%): divide a percentage column by "
            "100, or correct the cells.",
        )
