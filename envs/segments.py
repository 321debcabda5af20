"""Contiguous segments of a bar series: the unit no window may span.

A gap (a missing bar, including a bar the cleaner dropped) starts a new
segment. Features are computed per segment and observation windows never
cross a segment boundary, so nothing is ever bridged across an outage.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from envs.barsize import step_ns


def segment_ids(index: pd.DatetimeIndex, freq: str = "1h") -> np.ndarray:
    """Segment id per bar (int64, starting at 0): increments after every gap.

    ``index`` must be sorted ascending. A step larger than ``freq`` between
    consecutive bars is a gap.
    """
    if len(index) == 0:
        return np.zeros(0, dtype=np.int64)
    step = step_ns(freq)
    ts = index.asi8 if index.unit == "ns" else index.as_unit("ns").asi8
    breaks = np.diff(ts) != step
    return np.concatenate([[0], np.cumsum(breaks)]).astype(np.int64)


def bars_since_segment_start(segment: np.ndarray) -> np.ndarray:
    """0 at each segment's first bar, then 1, 2, ... (int64)."""
    n = len(segment)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate([[True], segment[1:] != segment[:-1]]))
    start_of: np.ndarray = np.repeat(starts, np.diff(np.concatenate([starts, [n]])))
    return np.arange(n, dtype=np.int64) - start_of
