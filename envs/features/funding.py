"""Perpetual funding-rate features and the one alignment rule they all obey.

Alignment (the rule for every funding feature): bar t has open time ``ts`` and
closes at ``ts + bar`` (one bar size; 1h on hourly bars); the decision is taken at that close. A feature at bar t
may use exactly the settlements whose settlement instant is ``<= ts + bar``
(a settlement at the bar's close instant has been published by then). Later
settlements never affect bar t; ``tests/test_features_truncation.py`` checks
it by changing a settlement value published after bar t's close.

Funding is a series over settlements (every 8 h on Binance), not over bars, so
these features are computed on the settlement series (windows count
settlements, or settlement-instant time) and then read off at the latest
settlement published by each bar's close. They do not depend on candle gaps:
a settlement published during a candle outage is still known afterwards.

No data (``funding=None``) or before the contract listed (no settlement at or
before the bar's close; BTCUSDT starts 2019-09-10T08:00Z): every funding
column is 0 and ``funding_available`` is 0. These columns are never NaN.
Until the 3/9/21-settlement windows fill, means use the settlements available
so far (at least one), and the z-score is 0 until there are 2 settlements.

| name | formula | window | units | latest |
|---|---|---|---|---|
| funding_last | rate of the latest settlement s_k with instant <= close(t) | 1 settlement | fraction / 8 h | s_k |
| funding_mean_3 | mean of s_{k-2..k} | 3 settlements | fraction / 8 h | s_k |
| funding_mean_9 | mean of s_{k-8..k} | 9 settlements | fraction / 8 h | s_k |
| funding_mean_21 | mean of s_{k-20..k} (7 days) | 21 settlements | fraction / 8 h | s_k |
| funding_zscore_21 | (s_k - mean_21) / std_21 (ddof 1), 0 if std is 0 | 21 settlements | std devs | s_k |
| funding_change | s_k - s_{k-1} (0 for the first settlement) | 2 settlements | fraction / 8 h | s_k |
| funding_sign_persistence | sign(s_k) * min(run of settlements with sign(s_k), 21) / 21 | <= 21 settlements | [-1, 1] | s_k |
| funding_cum_24h | sum of rates with instant in (close - 24h, close] | 24 h | fraction | s_k |
| funding_cum_72h | sum of rates with instant in (close - 72h, close] | 72 h | fraction | s_k |
| funding_age_8h | (close(t) - instant(s_k)) / 8 h | - | settlement periods | s_k |
| funding_available | 1 if some settlement has instant <= close(t), else 0 | - | flag | s_k |
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from envs.features.specs import FeatureSpec

_HOUR_NS = 3_600_000_000_000
_NORM = "robust"


def _spec(name: str, formula: str, window: int, units: str) -> FeatureSpec:
    return FeatureSpec(
        name, formula, window, units, _NORM, "latest settlement with instant <= close of bar t", 0
    )


FUNDING_SPECS: tuple[FeatureSpec, ...] = (
    _spec("funding_last", "latest settled rate s_k (0 if none)", 0, "fraction/8h"),
    _spec("funding_mean_3", "mean of last 3 settlements", 0, "fraction/8h"),
    _spec("funding_mean_9", "mean of last 9 settlements", 0, "fraction/8h"),
    _spec("funding_mean_21", "mean of last 21 settlements", 0, "fraction/8h"),
    _spec("funding_zscore_21", "(s_k - mean_21)/std_21, 0 if std=0", 0, "std devs"),
    _spec("funding_change", "s_k - s_{k-1}", 0, "fraction/8h"),
    _spec("funding_sign_persistence", "sign(s_k)*min(same-sign run,21)/21", 0, "[-1,1]"),
    _spec("funding_cum_24h", "sum of rates settled in (close-24h, close]", 0, "fraction"),
    _spec("funding_cum_72h", "sum of rates settled in (close-72h, close]", 0, "fraction"),
    _spec("funding_age_8h", "(close - instant of s_k)/8h", 0, "periods of 8h"),
    _spec("funding_available", "1 if a settlement is published by close(t)", 0, "flag 0/1"),
)


def _as_utc_ns(index: pd.DatetimeIndex, what: str) -> np.ndarray:
    if not isinstance(index, pd.DatetimeIndex):
        raise ValueError(f"{what} must have a DatetimeIndex, got {type(index).__name__}")
    if index.tz is None:
        raise ValueError(f"{what} index must be tz-aware UTC (got tz-naive)")
    return index.tz_convert("UTC").as_unit("ns").asi8


def _validate(funding: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(funding, pd.Series):
        raise TypeError(f"funding must be a pandas Series, got {type(funding).__name__}")
    t = _as_utc_ns(funding.index, "funding")
    f = funding.to_numpy(dtype=np.float64)
    if len(t) > 1 and not (np.all(np.diff(t) > 0)):
        raise ValueError("funding index must be strictly increasing settlement instants")
    if not np.all(np.isfinite(f)):
        i = int(np.flatnonzero(~np.isfinite(f))[0])
        raise ValueError(f"funding has a non-finite rate at {funding.index[i]}")
    return t, f


def latest_settlement(
    bar_open: pd.DatetimeIndex, settle_ns: np.ndarray, bar_ns: int = _HOUR_NS
) -> np.ndarray:
    """Index of the latest settlement with instant <= bar close (open + 1 bar); -1 if none."""
    close_ns: np.ndarray = _as_utc_ns(bar_open, "candles") + bar_ns
    return np.asarray(np.searchsorted(settle_ns, close_ns, side="right")) - 1


def _settlement_stats(f: np.ndarray) -> dict[str, np.ndarray]:
    """Per-settlement statistics that use settlements <= k only."""
    s = pd.Series(f)
    mean21 = s.rolling(21, min_periods=1).mean().to_numpy()
    std21 = s.rolling(21, min_periods=2).std().to_numpy()
    z = np.zeros_like(f)
    ok = np.isfinite(std21) & (std21 > 0)
    z[ok] = (f[ok] - mean21[ok]) / std21[ok]
    change = np.concatenate([[0.0], np.diff(f)])
    sign = np.sign(f)
    new_run = np.concatenate([[True], sign[1:] != sign[:-1]])
    run_start = np.maximum.accumulate(np.where(new_run, np.arange(len(f)), 0))
    run_len = np.arange(len(f)) - run_start + 1
    return {
        "funding_last": f,
        "funding_mean_3": s.rolling(3, min_periods=1).mean().to_numpy(),
        "funding_mean_9": s.rolling(9, min_periods=1).mean().to_numpy(),
        "funding_mean_21": mean21,
        "funding_zscore_21": z,
        "funding_change": change,
        "funding_sign_persistence": sign * np.minimum(run_len, 21) / 21.0,
    }


def funding_features(
    bar_open: pd.DatetimeIndex, funding: pd.Series | None, bar_ns: int = _HOUR_NS
) -> dict[str, np.ndarray]:
    """The 11 ``FUNDING_SPECS`` columns per bar (float64, never NaN)."""
    n = len(bar_open)
    out = {spec.name: np.zeros(n) for spec in FUNDING_SPECS}
    if funding is None or len(funding) == 0:
        return out
    settle_ns, f = _validate(funding)
    k = latest_settlement(bar_open, settle_ns, bar_ns)
    has = k >= 0
    if not has.any():
        return out
    kk = k[has]
    for name, values in _settlement_stats(f).items():
        out[name][has] = values[kk]
    close_ns: np.ndarray = _as_utc_ns(bar_open, "candles") + bar_ns
    csum = np.concatenate([[0.0], np.cumsum(f)])
    for hours, name in ((24, "funding_cum_24h"), (72, "funding_cum_72h")):
        lo = np.asarray(np.searchsorted(settle_ns, close_ns - hours * _HOUR_NS, side="right"))
        out[name][has] = csum[kk + 1] - csum[lo[has]]
    out["funding_age_8h"][has] = (close_ns[has] - settle_ns[kk]) / (8 * _HOUR_NS)
    out["funding_available"][has] = 1.0
    return out
