"""``daily`` and ``daily30``: features for daily-horizon decisions, on any bar size.

Every window is a span of **days**, converted to bars of the market's size
(``envs.barsize.bars_for``: 30 days are 720 hourly bars, 180 four-hour bars, 30
daily bars), so the same set describes hourly, 4-hourly and daily candles alike.
Nothing is a raw price level: returns and distances are log ratios, volatility
is per day, so one policy can read several markets (``multimarket``).

Notation as in ``flagtrader60``: r_t = log(C_t / C_(t-1)) within the segment;
``n(k)`` = bars in k days; ``b`` = bars per day (24 on 1h bars, 1 on 1d bars);
``rv_kd = sqrt(b * mean of r^2 over n(k) bars)`` (log-return per day). Every
window lies inside bar t's segment (``envs.segments``): a missing bar restarts
every look-back, so a segment shorter than the longest window never yields a
valid row (warm-up cost on the shipped splits, 1h bars, valid rows of train
2018-22 / val 2023 / test 2024: ``daily`` 6,207 of 43,701 / 3,958 of 8,758 /
8,784 of 8,784; ``daily30`` 28,623 / 8,038 / 8,784: the shipped files have 28
gaps, most of them in 2018-2021).

``daily`` holds the horizons up to 200 days; ``daily30`` the same columns up to
30 days (``ret`` 1-30 d, ``rv`` 7/30 d, SMA 20 d, drawdown from the 30-day
high), for markets whose segments are too short for 200-day windows.

Every column has a bounded look-back (its ``window``): no value depends on how much
history precedes it (a drawdown from the all-time high of the segment would, so a
served decision, which reads the file's tail, would see another value than training;
the running high is the ``max_days`` high instead).

Funding (``envs.features.funding`` alignment: settlements published by bar t's
close): the level over one and seven days, their difference (the trend), the
7-day z-score and ``funding_available``. No funding data, or before listing:
every funding column is 0 and ``funding_available`` is 0 (never NaN).

Cross-asset context (``compute_features(..., context=OTHER_CANDLES)``): another
market's returns over 1/7/30 days, each computed on the **other** market's own
bars and segments, and read at the context bar that opens when bar t opens
(same bar size, so it closes at bar t's close: known at the decision). A missing
context bar is never forward-filled: where the context has no bar at t's open
time, or its 30-day look-back is not complete inside one of its segments, every
``ctx_*`` column is 0 and ``ctx_available`` is 0, so the row stays a valid
decision bar of the traded market and the model sees that the context is absent.
Without context (``context=None``) the ``ctx_*`` columns are 0 throughout.

``daily`` at 1-hour bars:

| # | name | formula | window | units | normalisation | latest | warm-up |
|---|---|---|---|---|---|---|---|
| 0 | ret_1d | log(C_t/C_(t-24)) | 24 | log-return | robust | t | 24 |
| 1 | ret_3d | log(C_t/C_(t-72)) | 72 | log-return | robust | t | 72 |
| 2 | ret_7d | log(C_t/C_(t-168)) | 168 | log-return | robust | t | 168 |
| 3 | ret_14d | log(C_t/C_(t-336)) | 336 | log-return | robust | t | 336 |
| 4 | ret_30d | log(C_t/C_(t-720)) | 720 | log-return | robust | t | 720 |
| 5 | ret_60d | log(C_t/C_(t-1440)) | 1440 | log-return | robust | t | 1440 |
| 6 | ret_100d | log(C_t/C_(t-2400)) | 2400 | log-return | robust | t | 2400 |
| 7 | ret_200d | log(C_t/C_(t-4800)) | 4800 | log-return | robust | t | 4800 |
| 8 | rv_7d | sqrt(b * mean of r^2 over 168 bars), b=24 | 168 | log-return/day | robust | t | 168 |
| 9 | rv_30d | sqrt(b * mean of r^2 over 720 bars), b=24 | 720 | log-return/day | robust | t | 720 |
| 10 | rv_100d | sqrt(b * mean of r^2 over 2400 bars), b=24 | 2400 | log-return/day | robust | t | 2400 |
| 11 | vol_regime_7d_100d | log(max(rv_7d/rv_100d, 1e-6)) (0 if rv_100d=0) | 2400 | log | robust | t | 2400 |
| 12 | mom_30d_voladj | ret_30d/(rv_30d*sqrt(30)) (0 if rv=0) | 720 | std devs | robust | t | 720 |
| 13 | mom_100d_voladj | ret_100d/(rv_100d*sqrt(100)) (0 if rv=0) | 2400 | std devs | robust | t | 2400 |
| 14 | sma_dist_20d | log(C_t/SMA_480(C)) | 480 | log | robust | t | 479 |
| 15 | sma_dist_50d | log(C_t/SMA_1200(C)) | 1200 | log | robust | t | 1199 |
| 16 | sma_dist_100d | log(C_t/SMA_2400(C)) | 2400 | log | robust | t | 2399 |
| 17 | sma_dist_200d | log(C_t/SMA_4800(C)) | 4800 | log | robust | t | 4799 |
| 18 | dd_200d | log(C_t/max_4800(C)) | 4800 | log (<=0) | robust | t | 4799 |
| 19 | funding_mean_1d | mean of the last 3 settlements (0 if none) | 0 | fraction/8h | robust | latest settlement with instant <= close of bar t | 0 |
| 20 | funding_mean_7d | mean of the last 21 settlements (0 if none) | 0 | fraction/8h | robust | latest settlement with instant <= close of bar t | 0 |
| 21 | funding_trend | funding_mean_1d - funding_mean_7d | 0 | fraction/8h | robust | latest settlement with instant <= close of bar t | 0 |
| 22 | funding_zscore_7d | (s_k - mean_21)/std_21, 0 if std=0 | 0 | std devs | robust | latest settlement with instant <= close of bar t | 0 |
| 23 | funding_available | 1 if a settlement is published by close(t) | 0 | flag 0/1 | robust | latest settlement with instant <= close of bar t | 0 |
| 24 | ctx_ret_1d | log(X_t/X_(t-24)) of the context close X (0 if not ctx_available) | 0 | log-return | robust | t (the context bar opening with bar t; it closes with it) | 0 |
| 25 | ctx_ret_7d | log(X_t/X_(t-168)) of the context close X (0 if not ctx_available) | 0 | log-return | robust | t (the context bar opening with bar t; it closes with it) | 0 |
| 26 | ctx_ret_30d | log(X_t/X_(t-720)) of the context close X (0 if not ctx_available) | 0 | log-return | robust | t (the context bar opening with bar t; it closes with it) | 0 |
| 27 | ctx_available | 1 if the context has a bar at open(t) with 720 bars of its segment before it, else 0 | 0 | flag 0/1 | robust | t (the context bar opening with bar t; it closes with it) | 0 |
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import pandas as pd

import envs.features.ops as ops
from envs.barsize import DAY_NS, bar_ns, bars_for, check_frame_bar
from envs.features.bars import Bars
from envs.features.funding import funding_features
from envs.features.specs import FeatureSpec

RET_DAYS = (1, 3, 7, 14, 30, 60, 100, 200)
RV_DAYS = (7, 30, 100)
VOLADJ_DAYS = (30, 100)
SMA_DAYS = (20, 50, 100, 200)
CTX_DAYS = (1, 7, 30)
MAX_DAYS = {"daily": 200, "daily30": 30}
_FUND = "latest settlement with instant <= close of bar t"
_CTX = "t (the context bar opening with bar t; it closes with it)"
_OMITTED: tuple[str, ...] = ()


def _s(
    name: str, formula: str, window: int, units: str, warmup: int, latest: str = "t"
) -> FeatureSpec:
    return FeatureSpec(name, formula, window, units, "robust", latest, warmup, "time")


def _horizons(days: tuple[int, ...], max_days: int) -> tuple[int, ...]:
    return tuple(k for k in days if k <= max_days)


def _rv_days(max_days: int) -> tuple[int, ...]:
    return _horizons(RV_DAYS, max_days)


def _price_specs(bar: str, max_days: int) -> list[FeatureSpec]:
    """Returns, volatility, trend strength: the columns read from the close series."""
    n = functools.partial(bars_for, bar=bar)
    out = [
        _s(f"ret_{k}d", f"log(C_t/C_(t-{n(24 * k)}))", n(24 * k), "log-return", n(24 * k))
        for k in _horizons(RET_DAYS, max_days)
    ]
    out += [
        _s(
            f"rv_{k}d",
            f"sqrt(b * mean of r^2 over {n(24 * k)} bars), b={n(24)}",
            n(24 * k),
            "log-return/day",
            n(24 * k),
        )
        for k in _rv_days(max_days)
    ]
    lo, hi = _rv_days(max_days)[0], _rv_days(max_days)[-1]
    out.append(
        _s(
            f"vol_regime_{lo}d_{hi}d",
            f"log(max(rv_{lo}d/rv_{hi}d, 1e-6)) (0 if rv_{hi}d=0)",
            n(24 * hi),
            "log",
            n(24 * hi),
        )
    )
    out += [
        _s(
            f"mom_{k}d_voladj",
            f"ret_{k}d/(rv_{k}d*sqrt({k})) (0 if rv=0)",
            n(24 * k),
            "std devs",
            n(24 * k),
        )
        for k in _horizons(VOLADJ_DAYS, max_days)
    ]
    return out


def _level_specs(bar: str, max_days: int) -> list[FeatureSpec]:
    """Distances from moving averages and from running highs."""
    n = functools.partial(bars_for, bar=bar)
    out = [
        _s(f"sma_dist_{k}d", f"log(C_t/SMA_{n(24 * k)}(C))", n(24 * k), "log", n(24 * k) - 1)
        for k in _horizons(SMA_DAYS, max_days)
    ]
    w = n(24 * max_days)
    out.append(_s(f"dd_{max_days}d", f"log(C_t/max_{w}(C))", w, "log (<=0)", w - 1))
    return out


FUNDING_SPECS: tuple[FeatureSpec, ...] = (
    _s("funding_mean_1d", "mean of the last 3 settlements (0 if none)", 0, "fraction/8h", 0, _FUND),
    _s(
        "funding_mean_7d", "mean of the last 21 settlements (0 if none)", 0, "fraction/8h", 0, _FUND
    ),
    _s("funding_trend", "funding_mean_1d - funding_mean_7d", 0, "fraction/8h", 0, _FUND),
    _s("funding_zscore_7d", "(s_k - mean_21)/std_21, 0 if std=0", 0, "std devs", 0, _FUND),
    _s("funding_available", "1 if a settlement is published by close(t)", 0, "flag 0/1", 0, _FUND),
)


def _context_specs(bar: str, max_days: int) -> list[FeatureSpec]:
    n = functools.partial(bars_for, bar=bar)
    days = _horizons(CTX_DAYS, max_days)
    out = [
        _s(
            f"ctx_ret_{k}d",
            f"log(X_t/X_(t-{n(24 * k)})) of the context close X (0 if not ctx_available)",
            0,
            "log-return",
            0,
            _CTX,
        )
        for k in days
    ]
    out.append(
        _s(
            "ctx_available",
            f"1 if the context has a bar at open(t) with {n(24 * days[-1])} bars of its "
            "segment before it, else 0",
            0,
            "flag 0/1",
            0,
            _CTX,
        )
    )
    return out


def specs(bar: str = "1h", max_days: int = 200) -> tuple[FeatureSpec, ...]:
    """The specs of the set with horizons up to ``max_days`` at bar size ``bar``, in column order."""
    return (
        *_price_specs(bar, max_days),
        *_level_specs(bar, max_days),
        *FUNDING_SPECS,
        *_context_specs(bar, max_days),
    )


def compute_ohlcv(b: Bars, max_days: int = 200) -> dict[str, np.ndarray]:
    """The price and level columns of ``specs(b.bar, max_days)`` (funding, context: below)."""
    c, pos, r = b.close, b.pos, b.r1
    n = b.n
    per_day = DAY_NS / bar_ns(b.bar)  # bars per day (b in the formulas; >= 1)
    out: dict[str, np.ndarray] = {}
    for k in _horizons(RET_DAYS, max_days):
        out[f"ret_{k}d"] = ops.log_return(c, n(24 * k), pos)
    r2 = r * r
    for k in _rv_days(max_days):
        out[f"rv_{k}d"] = np.sqrt(per_day * ops.roll_mean(r2, n(24 * k), pos))
    lo, hi = _rv_days(max_days)[0], _rv_days(max_days)[-1]
    ratio = ops.safe_div(out[f"rv_{lo}d"], out[f"rv_{hi}d"], fill=1.0)
    # a zero short-window vol over a non-zero long one is "no movement at all": log would be
    # -inf, so it reads as the ratio's floor instead (1e-6: a millionth of the long-run vol)
    out[f"vol_regime_{lo}d_{hi}d"] = np.log(np.maximum(ratio, 1e-6))
    for k in _horizons(VOLADJ_DAYS, max_days):
        scale = out[f"rv_{k}d"] * np.sqrt(float(k))
        out[f"mom_{k}d_voladj"] = ops.safe_div(out[f"ret_{k}d"], scale)
    for k in _horizons(SMA_DAYS, max_days):
        out[f"sma_dist_{k}d"] = np.log(c / ops.roll_mean(c, n(24 * k), pos))
    out[f"dd_{max_days}d"] = np.log(c / ops.roll_max(c, n(24 * max_days), pos))
    return out


def compute_funding(
    index: pd.DatetimeIndex, funding: pd.Series | None, bar_size_ns: int
) -> dict[str, np.ndarray]:
    """The ``FUNDING_SPECS`` columns (never NaN; zeros and flag 0 without funding)."""
    f = funding_features(index, funding, bar_size_ns)
    return {
        "funding_mean_1d": f["funding_mean_3"],
        "funding_mean_7d": f["funding_mean_21"],
        "funding_trend": f["funding_mean_3"] - f["funding_mean_21"],
        "funding_zscore_7d": f["funding_zscore_21"],
        "funding_available": f["funding_available"],
    }


def _utc_ns(index: pd.DatetimeIndex) -> np.ndarray:
    return pd.DatetimeIndex(index).tz_convert("UTC").as_unit("ns").asi8


def compute_context(
    index: pd.DatetimeIndex, context: pd.DataFrame | None, bar: str, max_days: int = 200
) -> dict[str, np.ndarray]:
    """The ``ctx_*`` columns of bars opening at ``index`` from the context candles (see module doc).

    Raises ValueError when ``context`` is not valid candles of bar size ``bar``.
    """
    days = _horizons(CTX_DAYS, max_days)
    out = {f"ctx_ret_{k}d": np.zeros(len(index)) for k in days}
    out["ctx_available"] = np.zeros(len(index))
    if context is None:
        return out
    if not isinstance(context, pd.DataFrame) or not isinstance(context.index, pd.DatetimeIndex):
        raise ValueError("context must be a candle DataFrame with a UTC DatetimeIndex")
    if context.index.tz is None:
        raise ValueError("context candles index must be tz-aware UTC (got tz-naive)")
    check_frame_bar(context.index, bar, "context candles")  # finer or mixed rows are refused
    cb = Bars.from_candles(context, bar)
    values = np.column_stack([ops.log_return(cb.close, cb.n(24 * k), cb.pos) for k in days])
    ctx_ns, main_ns = _utc_ns(context.index), _utc_ns(index)
    j = np.minimum(np.searchsorted(ctx_ns, main_ns), max(len(ctx_ns) - 1, 0))
    hit = (ctx_ns[j] == main_ns) if len(ctx_ns) else np.zeros(len(index), dtype=bool)
    ok = hit & np.isfinite(values[j]).all(axis=1)
    for i, k in enumerate(days):
        out[f"ctx_ret_{k}d"][ok] = values[j[ok], i]
    out["ctx_available"][ok] = 1.0
    return out


def variant(
    max_days: int,
) -> tuple[
    Callable[[str], tuple[FeatureSpec, ...]],
    Callable[[Bars], dict[str, np.ndarray]],
    Callable[[pd.DatetimeIndex, pd.DataFrame | None, str], dict[str, np.ndarray]],
]:
    """``(specs_for(bar), compute_ohlcv(bars), compute_context(index, ctx, bar))`` of one set."""
    return (
        functools.partial(specs, max_days=max_days),
        functools.partial(compute_ohlcv, max_days=max_days),
        functools.partial(compute_context, max_days=max_days),
    )


OMITTED = _OMITTED
SPECS: tuple[FeatureSpec, ...] = specs("1h", 200)
SPECS_30: tuple[FeatureSpec, ...] = specs("1h", 30)
