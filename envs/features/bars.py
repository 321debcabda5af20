"""Validated bar arrays plus the segment bookkeeping every feature needs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from envs.barsize import bars_for, canonical
from envs.features.ops import log_return
from envs.segments import bars_since_segment_start, segment_ids

REQUIRED_COLUMNS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class Bars:
    """OHLCV as float64 arrays; ``segment`` id and ``pos`` (bars since segment start).

    ``r1`` is the 1-bar log return within the segment (NaN at each segment's
    first bar, because the previous close is across a gap or absent).
    """

    index: pd.DatetimeIndex
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    segment: np.ndarray
    pos: np.ndarray
    r1: np.ndarray
    bar: str = "1h"  # canonical bar size (envs.barsize)

    def n(self, hours: float) -> int:
        """Bars spanning ``hours`` of time at this bar size (at least 1; see envs.barsize)."""
        return bars_for(hours, self.bar)

    @classmethod
    def from_candles(cls, candles: pd.DataFrame, freq: str = "1h") -> Bars:
        """Validate ``candles`` (the ``envs.data.load_candles`` contract) and build arrays.

        Raises ValueError naming the column/row when the input cannot give
        well-defined features: missing columns, a non-DatetimeIndex, unsorted
        or duplicate timestamps, non-finite values, non-positive prices or
        volume (zero-volume bars are dropped by ``envs.data.clean``, run it first).
        """
        if not isinstance(candles, pd.DataFrame):
            raise TypeError(f"candles must be a DataFrame, got {type(candles).__name__}")
        missing = [c for c in REQUIRED_COLUMNS if c not in candles.columns]
        if missing:
            raise ValueError(f"candles lack columns {missing}; need {list(REQUIRED_COLUMNS)}")
        index = candles.index
        if not isinstance(index, pd.DatetimeIndex):
            raise ValueError("candles must have a DatetimeIndex (bar open time, UTC)")
        if len(index) > 1 and not (index.is_monotonic_increasing and index.is_unique):
            raise ValueError("candles index must be sorted ascending with no duplicate timestamps")
        arrays = {c: candles[c].to_numpy(dtype=np.float64) for c in REQUIRED_COLUMNS}
        for c, a in arrays.items():
            bad = ~np.isfinite(a) | (a <= 0)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                hint = (
                    " (run envs.data.clean first: it drops zero-volume bars)"
                    if c == "volume"
                    else ""
                )
                raise ValueError(
                    f"candles column {c!r} has a non-finite or non-positive value {a[i]!r} "
                    f"at {index[i]} ({int(bad.sum())} such rows){hint}"
                )
        bar = canonical(freq)
        seg = segment_ids(index, bar)
        pos = bars_since_segment_start(seg)
        return cls(
            index=index,
            open=arrays["open"],
            high=arrays["high"],
            low=arrays["low"],
            close=arrays["close"],
            volume=arrays["volume"],
            segment=seg,
            pos=pos,
            r1=log_return(arrays["close"], 1, pos),
            bar=bar,
        )

    def __len__(self) -> int:
        return len(self.close)
