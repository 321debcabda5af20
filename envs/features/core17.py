"""``core17``: the compact research set, adapted from 5-minute bars to hourly bars.

Notation as in ``flagtrader60``: r_t = log(C_t / C_{t-1}) within the segment;
rv_w = sqrt(mean of r^2 over the last w bars). The table is for 1-hour bars;
at another bar size ``specs(bar)`` gives the windows in bars of that size:
``basis="time"`` columns keep their span in hours (the day/week windows:
24 h = 288 5-minute bars = 6 4-hour bars), ``basis="bar"`` ones keep their
bar count (mom_1, mom_3, mr_ema20_z, gk_volatility, flow_diff).

Adaptations from the 5-minute original (1 bar is now 1 h, so a window of n
bars spans 12x more time than before unless stated):

* ``mom_1`` / ``mom_3``: 1- and 3-bar log returns, i.e. 1 h and 3 h (were 5/15 min).
* ``rv_1h``: realised volatility over the last hour. Built from 5-minute returns
  it was sqrt(sum of 12 squared returns); with one return per hour it is abs(r_t).
  Intrabar range information is in ``gk_volatility`` instead.
* ``regime_high_vol``: 1 if rv_24 (one day) > rv_168 (one week), else 0.
* ``depth_proxy``: order-book depth is not in OHLCV; the original was itself a
  proxy. Here: volume traded per unit of log price range (an inverse
  Amihud-style liquidity measure), last day relative to last week, so it is
  scale-free and does not trend with the price level.
* ``funding_rate``: the latest settled rate (alignment rule in ``envs.features.funding``).
* ``funding_momentum_1h``: settled funding only changes every 8 h, so the
  literal 1-hour difference would be 0 in 7 of 8 bars; the column keeps its
  name but is the change between the last two settlements (s_k - s_{k-1}).
  Both funding columns are 0 when there is no funding data or before listing
  (this set has no availability flag: use ``flagtrader60`` for one).

Order-flow features (``flow_diff``, ``S_top``, ``S_bot``) came from cohort
trade data that OHLCV candles do not contain:

* ``flow_diff`` is kept as a **proxy**: the close-location value
  (2C - H - L)/(H - L), which reads the bar's buy-minus-sell volume share from
  where the close lands in the range (Chaikin's money-flow multiplier). It is
  weaker than true order-flow imbalance: it never sees who initiated each
  trade, it is a deterministic function of the bar's own prices (so it largely
  restates the candle shape), and a one-hour bar averages away the intrabar
  sequence of buys and sells.
* ``S_top`` and ``S_bot`` (positioning of the top and bottom trader cohorts)
  are **omitted** (see ``OMITTED``): nothing in OHLCV identifies who traded,
  so any stand-in would be a relabelled price/volume feature, not a cohort
  signal.

The set therefore has 15 columns (17 names minus the 2 omitted).

| # | name | formula | window | units | normalisation | latest | warm-up |
|---|---|---|---|---|---|---|---|
| 0 | mom_1 | r_t = log(C_t/C_(t-1)) | 1 | log-return | robust | t | 1 |
| 1 | mom_3 | log(C_t/C_(t-3)) | 3 | log-return | robust | t | 3 |
| 2 | mr_ema20_z | (C_t-EMA_20(C))/sd_20(C), sd ddof=1 (0 if sd=0) | 20 | std devs | robust | t | 19 |
| 3 | rv_1h | abs(r_t) (realised vol of the last hour from 1 hourly return) | 1 | log-return/bar | robust | t | 1 |
| 4 | regime_high_vol | 1 if rv_24 > rv_168 else 0 | 168 | flag 0/1 | robust | t | 168 |
| 5 | gk_volatility | sqrt(0.5 log(H/L)^2-(2log2-1) log(C/O)^2) of bar t (Garman-Klass) | 0 | log-return/bar | robust | t | 0 |
| 6 | jump_magnitude | abs(r_t)/rv_24(t-1) (vol of the 24 bars before t; 0 if 0) | 25 | multiples of vol | robust | t | 25 |
| 7 | volume_intensity | log(V_t/SMA_24(V)) | 24 | log | robust | t | 23 |
| 8 | price_efficiency | abs(C_t-C_(t-12))/sum_12 abs(C_i-C_(i-1)) (Kaufman ER; 0 if flat) | 12 | 0..1 | robust | t | 12 |
| 9 | price_volume_corr | corr_24(r, dlogV), dlogV=log(V_t/V_(t-1)) (0 if a sd=0) | 24 | -1..1 | robust | t | 24 |
| 10 | vwap_momentum | log(C_t/VWAP_24), VWAP_24=sum_24(V(H+L+C)/3)/sum_24(V) | 24 | log | robust | t | 23 |
| 11 | depth_proxy | log(SMA_24(V)/SMA_168(V)) - log(SMA_24(logH/L)/SMA_168(logH/L)) (volume per unit of range, day vs week; range ratio 1 if a mean is 0) | 168 | log | robust | t | 167 |
| 12 | funding_rate | latest settled rate s_k (0 if none) | 0 | fraction/8h | robust | latest settlement with instant <= close of bar t | 0 |
| 13 | funding_momentum_1h | s_k - s_(k-1) (0 if none) | 0 | fraction/8h | robust | latest settlement with instant <= close of bar t | 0 |
| 14 | flow_diff | PROXY: (2C_t-H_t-L_t)/(H_t-L_t) close location (0 if H=L) | 0 | -1..1 | robust | t | 0 |
"""

from __future__ import annotations

import functools

import numpy as np

import envs.features.ops as ops
from envs.barsize import bars_for
from envs.features.bars import Bars
from envs.features.specs import FeatureSpec

OMITTED: tuple[str, ...] = ("S_top", "S_bot")


def _s(
    name: str,
    formula: str,
    window: int,
    units: str,
    warmup: int,
    latest: str = "t",
    basis: str = "time",
) -> FeatureSpec:
    return FeatureSpec(name, formula, window, units, "robust", latest, warmup, basis)


_FUND = "latest settlement with instant <= close of bar t"


# size: a table, one FeatureSpec per column (15), each with its comment
def specs(bar: str = "1h") -> tuple[FeatureSpec, ...]:
    """The 15 specs for ``bar``-sized bars (``basis`` per feature, see ``FeatureSpec``).

    Per bar: mom_1, mom_3, mr_ema20_z, gk_volatility, flow_diff (the original
    5-minute definitions). In time: rv_1h (sqrt of the sum of squared returns
    over 1 h: abs(r_t) on bars of 1 h or more), the day/week windows and funding.
    """
    n = functools.partial(bars_for, bar=bar)
    d, wk, hr, er = n(24), n(168), n(1), n(12)
    d2 = max(2, d)  # a correlation needs 2 values (1d bars: 24 h is one bar)
    rv1 = (
        "abs(r_t) (realised vol of the last hour from 1 hourly return)"
        if hr == 1
        else f"sqrt(sum of r^2 over the last {hr} bars = 1 hour)"
    )
    return (
        _s("mom_1", "r_t = log(C_t/C_(t-1))", 1, "log-return", 1, basis="bar"),
        _s("mom_3", "log(C_t/C_(t-3))", 3, "log-return", 3, basis="bar"),
        _s(
            "mr_ema20_z",
            "(C_t-EMA_20(C))/sd_20(C), sd ddof=1 (0 if sd=0)",
            20,
            "std devs",
            19,
            basis="bar",
        ),
        _s("rv_1h", rv1, hr, "log-return/bar", hr),
        _s("regime_high_vol", f"1 if rv_{d} > rv_{wk} else 0", wk, "flag 0/1", wk),
        _s(
            "gk_volatility",
            "sqrt(0.5 log(H/L)^2-(2log2-1) log(C/O)^2) of bar t (Garman-Klass)",
            0,
            "log-return/bar",
            0,
            basis="bar",
        ),
        _s(
            "jump_magnitude",
            f"abs(r_t)/rv_{d}(t-1) (vol of the {d} bars before t; 0 if 0)",
            d + 1,
            "multiples of vol",
            d + 1,
        ),
        _s("volume_intensity", f"log(V_t/SMA_{d}(V))", d, "log", d - 1),
        _s(
            "price_efficiency",
            f"abs(C_t-C_(t-{er}))/sum_{er} abs(C_i-C_(i-1)) (Kaufman ER; 0 if flat)",
            er,
            "0..1",
            er,
        ),
        _s(
            "price_volume_corr",
            f"corr_{d2}(r, dlogV), dlogV=log(V_t/V_(t-1)) (0 if a sd=0)",
            d2,
            "-1..1",
            d2,
        ),
        _s(
            "vwap_momentum",
            f"log(C_t/VWAP_{d}), VWAP_{d}=sum_{d}(V(H+L+C)/3)/sum_{d}(V)",
            d,
            "log",
            d - 1,
        ),
        _s(
            "depth_proxy",
            f"log(SMA_{d}(V)/SMA_{wk}(V)) - log(SMA_{d}(logH/L)/SMA_{wk}(logH/L)) "
            "(volume per unit of range, day vs week; range ratio 1 if a mean is 0)",
            wk,
            "log",
            wk - 1,
        ),
        _s("funding_rate", "latest settled rate s_k (0 if none)", 0, "fraction/8h", 0, _FUND),
        _s("funding_momentum_1h", "s_k - s_(k-1) (0 if none)", 0, "fraction/8h", 0, _FUND),
        _s(
            "flow_diff",
            "PROXY: (2C_t-H_t-L_t)/(H_t-L_t) close location (0 if H=L)",
            0,
            "-1..1",
            0,
            basis="bar",
        ),
    )


SPECS: tuple[FeatureSpec, ...] = specs("1h")


def compute(b: Bars) -> dict[str, np.ndarray]:
    """The OHLCV columns of ``SPECS`` (the caller adds the two funding columns)."""
    c, h, lo, o, v, pos, r, seg = b.close, b.high, b.low, b.open, b.volume, b.pos, b.r1, b.segment
    d, wk, hr, er = b.n(24), b.n(168), b.n(1), b.n(12)
    d2 = max(2, d)
    out: dict[str, np.ndarray] = {"mom_1": r, "mom_3": ops.log_return(c, 3, pos)}
    ema20 = ops.ewm(c, seg, span=20, min_periods=20)
    out["mr_ema20_z"] = ops.safe_div(c - ema20, ops.roll_std(c, 20, pos))
    r2 = r * r
    out["rv_1h"] = np.abs(r) if hr == 1 else np.sqrt(ops.roll_sum(r2, hr, pos))
    rv24 = np.sqrt(ops.roll_mean(r2, d, pos))
    rv168 = np.sqrt(ops.roll_mean(r2, wk, pos))
    out["regime_high_vol"] = np.where(np.isnan(rv168), np.nan, (rv24 > rv168).astype(np.float64))
    hl = np.log(h / lo)
    out["gk_volatility"] = np.sqrt(0.5 * hl**2 - (2.0 * np.log(2.0) - 1.0) * np.log(c / o) ** 2)
    out["jump_magnitude"] = ops.safe_div(np.abs(r), ops.lag(rv24, 1, pos))
    v24 = ops.roll_mean(v, d, pos)
    out["volume_intensity"] = np.log(v / v24)
    path = ops.roll_sum(np.abs(c - ops.lag(c, 1, pos)), er, pos)
    out["price_efficiency"] = ops.safe_div(np.abs(c - ops.lag(c, er, pos)), path)
    dlv = np.log(v) - np.log(ops.lag(v, 1, pos))
    cov = ops.roll_mean(r * dlv, d2, pos) - ops.roll_mean(r, d2, pos) * ops.roll_mean(dlv, d2, pos)
    sd_r = ops.roll_std(r, d2, pos, ddof=0)
    sd_v = ops.roll_std(dlv, d2, pos, ddof=0)
    out["price_volume_corr"] = np.clip(ops.safe_div(cov, sd_r * sd_v), -1.0, 1.0)
    typical = (h + lo + c) / 3.0
    vwap = ops.roll_sum(v * typical, d, pos) / ops.roll_sum(v, d, pos)
    out["vwap_momentum"] = np.log(c / vwap)
    hl_ratio = ops.safe_div(ops.roll_mean(hl, d, pos), ops.roll_mean(hl, wk, pos), fill=1.0)
    hl_ratio = np.where(hl_ratio > 0, hl_ratio, 1.0) + 0.0 * hl_ratio  # keeps NaN warm-up
    out["depth_proxy"] = np.log(v24 / ops.roll_mean(v, wk, pos)) - np.log(hl_ratio)
    out["flow_diff"] = ops.safe_div(2.0 * c - h - lo, h - lo)
    return out
