"""Bar sizes: parse them, detect them from timestamps, annualise with them.

A bar size is a whole number of minutes, hours or days from 1 minute to 1 day
that divides a day evenly (1m, 3m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, 8h, 12h, 1d),
so every bar opens on a UTC boundary: a 4h bar opens at 00, 04, ..., 20 UTC and
a 1d bar at 00:00 UTC. Labels are canonical ``<n>m`` / ``<n>h`` / ``1d``; they
are also valid ``pd.Timedelta`` strings. Accepted spellings: ``5m``, ``5min``,
``5T``, ``1h``, ``1H``, ``60min``, ``1d``, ``1D``, ``24h``.

Annualisation: crypto trades 24/7, so ``periods_per_year = 365 days / bar``
(525,600 for 1m, 8,760 for 1h, 2,190 for 4h, 365 for 1d); never 252.

Detection (``detect_bar``): the bar size of a sorted, unique index is the
median spacing between consecutive timestamps. It is then checked: a spacing
that is not a whole multiple of it (mixed bar sizes, e.g. 5-minute rows in an
hourly file) or a timestamp not on the UTC grid of that size (off-grid bars,
e.g. 00:30 in an hourly file) is a ``BarSizeError`` naming the first offending
row and timestamp and the fix. Larger whole multiples are gaps (allowed,
reported by the quality report).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

MINUTE_NS = 60_000_000_000
HOUR_NS = 60 * MINUTE_NS
DAY_NS = 24 * HOUR_NS
YEAR_NS = 365 * DAY_NS
SUPPORTED = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d")
_UNITS = {"m": MINUTE_NS, "min": MINUTE_NS, "t": MINUTE_NS, "h": HOUR_NS, "d": DAY_NS}
_PATTERN = re.compile(r"^\s*(\d+)\s*(m|min|t|h|d)\s*$", re.IGNORECASE)


class BarSizeError(ValueError):
    """A bar size that cannot be parsed or supported, or timestamps that are not one bar size."""


def label(bar_ns: int) -> str:
    """Canonical label of a bar size in ns: ``5m``, ``4h``, ``1d``."""
    if bar_ns % DAY_NS == 0:
        return f"{bar_ns // DAY_NS}d"
    if bar_ns % HOUR_NS == 0:
        return f"{bar_ns // HOUR_NS}h"
    if bar_ns % MINUTE_NS == 0:
        return f"{bar_ns // MINUTE_NS}m"
    return str(pd.Timedelta(bar_ns))


def bar_ns(bar: str | int | pd.Timedelta) -> int:
    """Nanoseconds of a supported bar size; ``BarSizeError`` (one line, with the fix) otherwise."""
    if isinstance(bar, pd.Timedelta):
        ns = int(bar.value)
    elif isinstance(bar, (int, np.integer)) and not isinstance(bar, bool):
        ns = int(bar)
    elif isinstance(bar, str) and (m := _PATTERN.match(bar)) and m.group(2) != "M":
        ns = int(m.group(1)) * _UNITS[m.group(2).lower()]
    else:
        raise BarSizeError(
            f"bar size {bar!r} is not a bar size; write a number and a unit, one of "
            f"{', '.join(SUPPORTED)} (m = minutes, h = hours, d = days)"
        )
    if not (MINUTE_NS <= ns <= DAY_NS and DAY_NS % ns == 0 and ns % MINUTE_NS == 0):
        raise BarSizeError(
            f"bar size {bar!r} ({label(ns) if ns > 0 else ns}) is not supported: bars must be "
            f"1 minute to 1 day and divide a day evenly ({', '.join(SUPPORTED)}); resample "
            "the file to one of these (python -m envs.data resample PATH --to 4h --out FILE)"
        )
    return ns


def step_ns(freq: str | int | pd.Timedelta) -> int:
    """Nanoseconds of any step (a bar size or any ``pd.Timedelta`` string); no support check."""
    if isinstance(freq, str) and (m := _PATTERN.match(freq)) and m.group(2) != "M":
        return int(m.group(1)) * _UNITS[m.group(2).lower()]
    return int(pd.Timedelta(freq).value)


def canonical(bar: str | int | pd.Timedelta) -> str:
    """Canonical label of a bar size given in any accepted spelling (``60min`` -> ``1h``)."""
    return label(bar_ns(bar))


def periods_per_year(bar: str | int | pd.Timedelta) -> int:
    """Bars in a 365-day year of 24/7 trading: 525,600 for 1m, 8,760 for 1h, 365 for 1d."""
    return YEAR_NS // bar_ns(bar)


def bars_for(hours: float, bar: str | int) -> int:
    """Whole bars spanning ``hours`` of time (rounded, at least 1): 24 h = 288 5m bars = 6 4h bars."""
    return max(1, int(round(hours * HOUR_NS / bar_ns(bar))))


def detect_bar(
    index: pd.DatetimeIndex, source: str = "<data>", *, first_line: int = 2, check: bool = True
) -> str:
    """Bar size of a UTC index (median spacing of its sorted unique timestamps); see the module doc.

    ``check=True`` (a file about to be used) also refuses mixed and off-grid bars
    (``check_grid``); ``check=False`` (a quality report of a dirty file) only
    reads the median, the report counts off-grid rows. ``first_line`` names rows
    in messages (CSV line of row 0; header is line 1; 0 = say "row").
    Raises ``BarSizeError`` for fewer than 2 timestamps or an unsupported median.
    """
    ts = pd.DatetimeIndex(index).as_unit("ns").asi8
    if not check:
        ts = np.unique(ts)
    if len(ts) < 2:
        raise BarSizeError(
            f"{source}: cannot detect the bar size from {len(ts)} row(s); give it (--bar 1h)"
        )
    steps = np.diff(ts)
    median = int(np.median(steps))
    try:
        step = bar_ns(median)
    except BarSizeError:
        raise BarSizeError(
            f"{source}: the median spacing between rows is {pd.Timedelta(median)}, not a "
            f"supported bar size ({', '.join(SUPPORTED)}); resample the file or give --bar"
        ) from None
    if check:
        check_grid(ts, step, source, first_line=first_line)
    return label(step)


def check_grid(ts: np.ndarray, step: int, source: str, *, first_line: int = 2) -> None:
    """Refuse rows whose spacing is not a whole number of ``step`` or that are off the UTC grid."""
    where = "line {}" if first_line else "row {}"
    steps = np.diff(ts)
    mixed = np.flatnonzero((steps % step != 0) | (steps <= 0))
    if len(mixed):
        i = int(mixed[0]) + 1
        raise BarSizeError(
            f"{source}: mixed bar sizes: {where.format(i + first_line)} "
            f"({pd.Timestamp(int(ts[i]), tz='UTC').isoformat()}) follows the previous row "
            f"after {pd.Timedelta(int(steps[i - 1]))}, not a whole number of {label(step)} "
            f"bars ({len(mixed):,} such rows); keep one bar size per file (resample it: "
            f"python -m envs.data resample PATH --to {label(step)} --out FILE)"
        )
    off = np.flatnonzero(ts % step != 0)
    if len(off):
        i = int(off[0])
        raise BarSizeError(
            f"{source}: off-grid bar at {where.format(i + first_line)} "
            f"({pd.Timestamp(int(ts[i]), tz='UTC').isoformat()}): {label(step)} bars must open "
            f"on UTC {label(step)} boundaries ({len(off):,} such rows); timestamps are bar open "
            "times: shift them to the boundary or resample the file"
        )


def check_declared(declared: str, detected: str, source: str) -> None:
    """One-line error when a declared bar size differs from the file's."""
    want, have = bar_ns(declared), step_ns(detected)
    if want != have:
        resample = (
            f", or resample to {canonical(declared)} (python -m envs.data resample {source} "
            f"--to {canonical(declared)} --out FILE)"
            if want > have and want % have == 0
            else ""
        )
        raise BarSizeError(
            f"{source}: declared bar size {canonical(declared)} but the file's bars are "
            f"{detected} (median spacing); pass --bar {detected}{resample}"
        )


def check_frame_bar(index: pd.DatetimeIndex, declared: str, source: str) -> None:
    """Refuse rows that are not ``declared``-sized bars (one line saying both sizes).

    Finer or mixed rows (a spacing that is not a whole number of ``declared``:
    5-minute rows declared hourly) are always refused. Coarser rows (daily bars
    declared hourly) are refused when no two rows are one ``declared`` bar apart
    among at least ``MIN_SPACINGS`` spacings; a short, gappy frame is not judged.
    """
    ts = np.unique(pd.DatetimeIndex(index).as_unit("ns").asi8)
    if len(ts) < 2:
        return
    step = step_ns(declared)
    steps = np.diff(ts)
    finer = (steps % step != 0).any()
    coarser = len(steps) >= MIN_SPACINGS and not (steps == step).any()
    if finer or coarser:
        detected = label(int(np.median(steps)))
        if detected == label(step):  # median agrees: a few stray rows, name the first
            check_grid(ts, step, source, first_line=0)
        check_declared(declared, detected, source)


MIN_SPACINGS = 8
