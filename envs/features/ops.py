"""Segment-aware array primitives used by every feature set.

A *segment* is a run of consecutive bars with no missing bar between them
(``envs.segments``). Every primitive here takes the bar's position inside its
segment (``pos``: 0 at the segment's first bar) and returns NaN wherever its
look-back would reach before the segment start, so no value ever spans a gap:

* windowed statistics (``roll_*``) run one forward-only pandas rolling pass
  over the whole array with ``window`` NaN rows inserted before every segment:
  a window reaching back over a segment start then holds fewer than ``window``
  values (-> NaN, ``min_periods=window``), and pandas' running sums restart
  from zero in the all-NaN stretch, so each segment's values are bit-identical
  to computing that segment alone (no floating-point residue crosses a gap);
* ``lag`` shifts within the segment (NaN for the first ``k`` bars);
* ``ewm`` is recursive (infinite memory), so it is *restarted* in every segment
  via a grouped pandas EWM (one Cython pass, no Python loop over rows).

All functions take and return float64 numpy arrays of the same length.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FloatArray = np.ndarray


def lag(x: FloatArray, k: int, pos: np.ndarray) -> FloatArray:
    """``x[t - k]`` within the segment; NaN for the segment's first ``k`` bars."""
    if k <= 0:
        raise ValueError(f"lag k must be >= 1, got {k}")
    out = np.full(len(x), np.nan)
    out[k:] = x[:-k]
    out[pos < k] = np.nan
    return out


def log_return(close: FloatArray, k: int, pos: np.ndarray) -> FloatArray:
    """``log(close_t / close_{t-k})`` within the segment (NaN for the first k bars)."""
    return np.log(close) - np.log(lag(close, k, pos))


def _roll(x: FloatArray, window: int, pos: np.ndarray, stat: str, **kwargs) -> FloatArray:
    """``Series.rolling(window, min_periods=window).<stat>(**kwargs)`` segment by segment."""
    n = len(x)
    if n == 0:
        return np.zeros(0)
    seg = np.cumsum(pos == 0) - 1
    dest = np.arange(n) + window * (seg + 1)  # row i after the pads of segments 0..seg[i]
    padded = np.full(n + window * (int(seg[-1]) + 1), np.nan)
    padded[dest] = x
    rolling = pd.Series(padded, copy=False).rolling(window, min_periods=window)
    return getattr(rolling, stat)(**kwargs).to_numpy()[dest]


def roll_mean(x: FloatArray, window: int, pos: np.ndarray) -> FloatArray:
    """Mean of ``x[t-window+1 .. t]``; NaN unless the whole window is in t's segment."""
    return _roll(x, window, pos, "mean")


def roll_sum(x: FloatArray, window: int, pos: np.ndarray) -> FloatArray:
    """Sum of ``x[t-window+1 .. t]`` (same masking as ``roll_mean``)."""
    return _roll(x, window, pos, "sum")


def roll_std(x: FloatArray, window: int, pos: np.ndarray, ddof: int = 1) -> FloatArray:
    """Sample standard deviation (``ddof=1`` by default) over the window."""
    return _roll(x, window, pos, "std", ddof=ddof)


def roll_max(x: FloatArray, window: int, pos: np.ndarray) -> FloatArray:
    """Maximum over the window."""
    return _roll(x, window, pos, "max")


def roll_min(x: FloatArray, window: int, pos: np.ndarray) -> FloatArray:
    """Minimum over the window."""
    return _roll(x, window, pos, "min")


def roll_skew(x: FloatArray, window: int, pos: np.ndarray) -> FloatArray:
    """Sample skewness (pandas' bias-corrected estimator) over the window.

    A window with zero variance has no defined skew; it is reported as 0 (not
    NaN) so that a complete window is always a valid row.
    """
    raw = _roll(x, window, pos, "skew")
    complete = _roll(x, window, pos, "count") == window
    return np.where(complete & ~np.isfinite(raw), 0.0, raw)


def ewm(
    x: FloatArray,
    segment: np.ndarray,
    *,
    span: float | None = None,
    alpha: float | None = None,
    min_periods: int = 1,
) -> FloatArray:
    """Exponential moving average restarted at every segment start.

    ``adjust=False`` recursion ``y_t = a x_t + (1 - a) y_{t-1}`` seeded with the
    segment's first non-NaN value; NaN until ``min_periods`` non-NaN values of
    the segment have been seen. ``segment`` must be non-decreasing.
    """
    grouped = pd.Series(x, copy=False).groupby(segment, sort=False)
    out = grouped.ewm(span=span, alpha=alpha, adjust=False, min_periods=min_periods).mean()
    values = out.to_numpy()
    if len(values) != len(x):  # pragma: no cover - pandas contract
        raise RuntimeError("grouped EWM changed the row count")
    return values


def safe_div(num: FloatArray, den: FloatArray, fill: float = 0.0) -> FloatArray:
    """``num / den`` with ``fill`` where ``den == 0`` (NaN inputs stay NaN)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, fill, dtype=np.float64)
    nz = den != 0
    np.divide(num, den, out=out, where=nz)
    out[np.isnan(num) | np.isnan(den)] = np.nan
    return out
