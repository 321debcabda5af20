"""Multi-timeframe observations: the bar window plus a window of daily-sampled feature rows.

With ``daily_window=D`` (``MarketData.build``, ``make_env``), bar t's observation appends the
feature rows of bars ``t - (D-1)*s, ..., t - s, t`` (oldest first), ``s = daily_stride`` = the
bars in one day (24 on 1h bars, 6 on 4h bars, 1 on daily bars). These are the same normalised
feature rows the bar window reads, sampled once a day ending at t: causal by construction
(no row after t), and nothing is aggregated or resampled, so the daily rows are exactly the
rows the env already holds. Layout of the flat observation (``W`` = window, ``F`` = features)::

    [ W*F bar window | 4 account values | D*F daily rows ]

The account values keep their indices ``W*F + k`` (the kernel writes the first two blocks
unchanged); ``daily_window=0`` (the default) is the bar-window observation bit for bit.

Validity (``obs_ok``): every sampled row lies in bar t's segment (``(D-1)*s`` bars since the
segment start at least) and has valid features; a gap therefore restarts the daily window too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from envs.barsize import DAY_NS


def daily_stride(freq_ns: int) -> int:
    """Bars in one day at bar size ``freq_ns`` (at least 1)."""
    return max(1, int(round(DAY_NS / freq_ns)))


def check_daily_window(daily_window: object) -> None:
    """Refuse a daily window that is not an int >= 0 (one line naming the value)."""
    if (
        isinstance(daily_window, bool)
        or not isinstance(daily_window, (int, np.integer))
        or daily_window < 0
    ):
        raise ValueError(
            f"daily_window={daily_window!r} is not valid: expected an int >= 0 (daily rows in "
            "the observation; 0 = none)"
        )


def daily_ok(pos: np.ndarray, feature_ok: np.ndarray, daily_window: int, stride: int) -> np.ndarray:
    """Bars whose ``daily_window`` sampled rows all lie in their segment with valid features."""
    n = len(pos)
    ok = pos >= (daily_window - 1) * stride
    for k in range(daily_window):
        lag = k * stride
        row_ok: np.ndarray = np.zeros(n, dtype=bool)
        row_ok[lag:] = feature_ok[: n - lag] if lag else feature_ok
        ok &= row_ok
    return ok


def daily_index(bars: np.ndarray, daily_window: int, stride: int) -> np.ndarray:
    """Row indices ``(n, D)`` of the daily rows of ``bars`` (oldest first), clipped at row 0
    (a clipped row only occurs at bars without a valid observation)."""
    offsets: np.ndarray = stride * np.arange(daily_window - 1, -1, -1, dtype=np.int64)
    return np.maximum(np.asarray(bars, dtype=np.int64)[:, None] - offsets[None, :], 0)


def daily_rows(
    features: np.ndarray, bars: np.ndarray, daily_window: int, stride: int
) -> np.ndarray:
    """The flat daily block ``(n, D*F)`` float32 of each bar in ``bars``."""
    idx = daily_index(bars, daily_window, stride)
    return features[idx].reshape(len(idx), -1)


def append_daily(
    base: np.ndarray, features: np.ndarray, bars: np.ndarray, daily_window: int, stride: int
) -> np.ndarray:
    """``(n, base_dim)`` observation rows with each bar's daily block appended -> (n, obs_dim)."""
    rows = daily_rows(features, bars, daily_window, stride)
    out: np.ndarray = np.empty((base.shape[0], base.shape[1] + rows.shape[1]), dtype=np.float32)
    out[:, : base.shape[1]] = base
    out[:, base.shape[1] :] = rows
    return out


EXTRA_LAYOUT_KEYS = ("daily_window", "context")  # beyond feature_set and window


def extra_layout(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The ``daily_window`` and ``context`` (cross-asset context market, ``envs.features.daily``)
    of a run's env settings, only where set: what a backtest, a loaded policy or a served
    decision must rebuild beside ``feature_set`` and ``window`` (absent = the old layout)."""
    return {k: settings[k] for k in EXTRA_LAYOUT_KEYS if settings.get(k) not in (None, 0)}
