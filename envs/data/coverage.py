"""Does a funding history cover the candles it is charged on?

Funding is charged on the settlements that fall in each bar (``envs.features.funding``); a bar
with no settlement history around it is charged **zero**, which is silently wrong when the
history simply stops early, starts late or has a hole. ``funding_gaps`` lists the spans of the
candles' time ``[first open, last open + 1 bar)`` that the settlements do not cover:

* before the first settlement minus one settlement interval (the interval is the history's
  median spacing: 8 h on Binance, 4 h or 1 h on some contracts);
* after the last settlement plus one interval;
* inside, any hole longer than ``MAX_HOLE`` = 3 intervals (two settlements in a row missing;
  a single late or missing print is tolerated, an exchange that switches its interval from
  8 h to 4 h is not a hole).

``check_funding_coverage`` refuses any such span, naming it, unless the caller opts out
(``--allow-partial-funding``, catalog ``partial_funding: true``): then those bars are charged
zero and carry ``funding_available = 0``, as bars before a contract listed always have.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from envs.data.errors import DataValidationError
from envs.data.reading import iso

MAX_HOLE = 3  # settlement intervals: a hole longer than this is uncovered
MAX_LISTED = 3  # uncovered spans quoted in the message


def funding_gaps(
    bars: pd.DatetimeIndex, settlements: pd.DatetimeIndex, bar: pd.Timedelta
) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Spans ``[start, end)`` of the candles' time that the settlements do not cover."""
    bars, settlements = bars.as_unit("ns"), settlements.as_unit("ns")  # asi8 below is ns
    start, end = bars[0], bars[-1] + bar
    if len(settlements) == 0:
        return [(start, end)]
    step = (
        pd.Timedelta(int(np.median(np.diff(settlements.asi8))), "ns")
        if len(settlements) > 1
        else pd.Timedelta(hours=8)
    )
    first, last = settlements[0] - step, settlements[-1] + step
    if last <= start or first >= end:
        return [(start, end)]
    gaps = []
    if first > start:
        gaps.append((start, first))
    inside = settlements[(settlements >= start - step) & (settlements <= end + step)]
    diffs = np.diff(inside.asi8)
    for j in np.flatnonzero(diffs > MAX_HOLE * step.value):
        gaps.append((max(inside[j] + step, start), min(inside[j + 1] - step, end)))
    if last < end:
        gaps.append((last, end))
    return [(a, b) for a, b in gaps if a < b]


def _hours(a: pd.Timestamp, b: pd.Timestamp) -> str:
    return f"{(b - a) / pd.Timedelta(hours=1):,.0f} h"


def check_funding_coverage(
    bars: pd.DatetimeIndex,
    funding: pd.Series,
    bar: pd.Timedelta,
    label: str,
    opt_out: str,
) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Refuse ``funding`` that does not cover ``bars`` (see the module doc). ``label`` names the
    funding file, ``opt_out`` the way to accept it. Returns the gaps (empty: fully covered)."""
    gaps = funding_gaps(bars, pd.DatetimeIndex(funding.index), bar)
    if not gaps:
        return gaps
    span = f"[{iso(bars[0])}, {iso(bars[-1] + bar)})"
    if len(funding) and gaps == [(bars[0], bars[-1] + bar)]:
        have = f"[{iso(funding.index[0])}, {iso(funding.index[-1])}]"
        what = f"its settlements {have} do not overlap the candles {span}"
    else:
        listed = "; ".join(f"[{iso(a)}, {iso(b)}) ({_hours(a, b)})" for a, b in gaps[:MAX_LISTED])
        more = f" and {len(gaps) - MAX_LISTED:,} more" if len(gaps) > MAX_LISTED else ""
        what = f"covers only part of the candles {span}: no settlements in {listed}{more}"
    raise DataValidationError(
        f"{label}: {what}; those bars would be charged zero funding. Give a funding file that "
        f"covers the candles, or {opt_out} to accept zero funding there"
    )
