"""``flagtrader60``: 49 OHLCV features + 11 funding columns = 60 columns.

Notation: bar t has open O_t, high H_t, low L_t, close C_t, volume V_t (base
asset); r_t = log(C_t / C_{t-1}) within the segment; SMA_w / EMA_w are simple /
exponential (span w, adjust=False, restarted per segment) means; windows count
bars (the table is for 1-hour bars; ``specs(bar)`` gives other bar sizes:
``basis="time"`` windows keep their span in hours, ``basis="bar"`` ones, the
classic indicators RSI/MACD/EMA/Bollinger/ATR and candle shape, their bar
count; see ``FeatureSpec``). Every feature uses bar t and earlier bars of t's segment
only; ``warm-up`` is the number of leading NaN rows in every segment. Raw
units are listed; the model sees them through ``RobustNormaliser``
(median/IQR z-score, clipped to +-5), hence ``robust`` everywhere, which is
also why no per-feature rescaling (e.g. annualising) is done here.

Zero denominators (a window of identical prices, a zero-range bar) give 0
(for %b and shares: the neutral value named in the formula), never inf/NaN.

The 11 funding columns (see ``envs.features.funding`` for the alignment rule):
with ``funding=None``, or before the contract listed, they are all 0 and
``funding_available`` is 0.

| # | name | formula | window | units | normalisation | latest | warm-up |
|---|---|---|---|---|---|---|---|
| 0 | ret_1h | log(C_t/C_(t-1)) | 1 | log-return | robust | t | 1 |
| 1 | ret_6h | log(C_t/C_(t-6)) | 6 | log-return | robust | t | 6 |
| 2 | ret_24h | log(C_t/C_(t-24)) | 24 | log-return | robust | t | 24 |
| 3 | ret_72h | log(C_t/C_(t-72)) | 72 | log-return | robust | t | 72 |
| 4 | ret_168h | log(C_t/C_(t-168)) | 168 | log-return | robust | t | 168 |
| 5 | sma_ratio_12 | log(C_t/SMA_12(C)) | 12 | log | robust | t | 11 |
| 6 | sma_ratio_24 | log(C_t/SMA_24(C)) | 24 | log | robust | t | 23 |
| 7 | sma_ratio_72 | log(C_t/SMA_72(C)) | 72 | log | robust | t | 71 |
| 8 | sma_ratio_168 | log(C_t/SMA_168(C)) | 168 | log | robust | t | 167 |
| 9 | rv_12 | sqrt(mean of r^2 over 12 bars) | 12 | log-return/bar | robust | t | 12 |
| 10 | rv_24 | sqrt(mean of r^2 over 24 bars) | 24 | log-return/bar | robust | t | 24 |
| 11 | rv_72 | sqrt(mean of r^2 over 72 bars) | 72 | log-return/bar | robust | t | 72 |
| 12 | rv_168 | sqrt(mean of r^2 over 168 bars) | 168 | log-return/bar | robust | t | 168 |
| 13 | rsi_14 | Cutler RSI: 100*G/(G+L), G/L = mean gain/loss of r over 14 bars (50 if both 0) | 14 | 0..100 | robust | t | 14 |
| 14 | vol_rel_24 | log(V_t/SMA_24(V)) | 24 | log | robust | t | 23 |
| 15 | vol_rel_168 | log(V_t/SMA_168(V)) | 168 | log | robust | t | 167 |
| 16 | vol_z_24 | (V_t-SMA_24(V))/std_24(V) (0 if std=0) | 24 | std devs | robust | t | 23 |
| 17 | obv_slope_24 | sum_24(sign(r)*V)/sum_24(V) | 24 | -1..1 | robust | t | 24 |
| 18 | vol_change_1h | log(V_t/V_(t-1)) | 1 | log | robust | t | 1 |
| 19 | vol_trend_24_168 | log(SMA_24(V)/SMA_168(V)) | 168 | log | robust | t | 167 |
| 20 | hl_range | log(H_t/L_t) | 0 | log | robust | t | 0 |
| 21 | hl_range_mean_24 | SMA_24(log(H/L)) | 24 | log | robust | t | 23 |
| 22 | hl_range_rel_24_168 | log(SMA_24(log H/L)/SMA_168(log H/L)) | 168 | log | robust | t | 167 |
| 23 | mom_24_voladj | ret_24h/(rv_24*sqrt(24)) (0 if rv=0) | 24 | std devs | robust | t | 24 |
| 24 | mom_168_voladj | ret_168h/(rv_168*sqrt(168)) (0 if rv=0) | 168 | std devs | robust | t | 168 |
| 25 | macd | (EMA_12(C)-EMA_26(C))/C_t | 26 | fraction of price | robust | t | 25 |
| 26 | macd_signal | EMA_9(macd) | 34 | fraction of price | robust | t | 33 |
| 27 | macd_hist | macd - macd_signal | 34 | fraction of price | robust | t | 33 |
| 28 | ema_ratio_12 | log(C_t/EMA_12(C)) | 12 | log | robust | t | 11 |
| 29 | ema_ratio_48 | log(C_t/EMA_48(C)) | 48 | log | robust | t | 47 |
| 30 | ema_cross_12_48 | log(EMA_12(C)/EMA_48(C)) | 48 | log | robust | t | 47 |
| 31 | bb_pctb_20 | (C_t-(SMA_20-2sd_20))/(4sd_20), sd ddof=1 (0.5 if sd=0) | 20 | fraction | robust | t | 19 |
| 32 | bb_width_20 | 4*sd_20(C)/SMA_20(C) | 20 | fraction of price | robust | t | 19 |
| 33 | atr_pct_14 | SMA_14(TR)/C_t, TR=max(H-L, abs(H-C_(t-1)), abs(L-C_(t-1))) | 15 | fraction of price | robust | t | 14 |
| 34 | atr_ratio_14_168 | log(SMA_14(TR)/SMA_168(TR)) | 169 | log | robust | t | 168 |
| 35 | body_share | (C_t-O_t)/(H_t-L_t) (0 if H=L) | 0 | -1..1 | robust | t | 0 |
| 36 | upper_wick_share | (H_t-max(O_t,C_t))/(H_t-L_t) (0 if H=L) | 0 | 0..1 | robust | t | 0 |
| 37 | lower_wick_share | (min(O_t,C_t)-L_t)/(H_t-L_t) (0 if H=L) | 0 | 0..1 | robust | t | 0 |
| 38 | gk_vol_24 | sqrt(SMA_24(0.5 log(H/L)^2-(2log2-1) log(C/O)^2)) (Garman-Klass) | 24 | log-return/bar | robust | t | 23 |
| 39 | parkinson_vol_24 | sqrt(SMA_24(log(H/L)^2)/(4 log 2)) | 24 | log-return/bar | robust | t | 23 |
| 40 | skew_24 | sample skew of r over 24 bars (0 if var=0) | 24 | unitless | robust | t | 24 |
| 41 | skew_72 | sample skew of r over 72 bars (0 if var=0) | 72 | unitless | robust | t | 72 |
| 42 | drawdown_168 | log(C_t/max_168(C)) | 168 | log (<=0) | robust | t | 167 |
| 43 | dist_max_24 | log(C_t/max_24(H)) | 24 | log (<=0) | robust | t | 23 |
| 44 | dist_min_24 | log(C_t/min_24(L)) | 24 | log (>=0) | robust | t | 23 |
| 45 | hour_sin | sin(2pi*hour(open_t)/24) | 0 | -1..1 | robust | t | 0 |
| 46 | hour_cos | cos(2pi*hour(open_t)/24) | 0 | -1..1 | robust | t | 0 |
| 47 | dow_sin | sin(2pi*weekday(open_t)/7), Monday=0 | 0 | -1..1 | robust | t | 0 |
| 48 | dow_cos | cos(2pi*weekday(open_t)/7), Monday=0 | 0 | -1..1 | robust | t | 0 |
| 49 | funding_last | latest settled rate s_k (0 if none) | 0 | fraction/8h | robust | latest settlement with instant <= close of bar t | 0 |
| 50 | funding_mean_3 | mean of last 3 settlements | 0 | fraction/8h | robust | latest settlement with instant <= close of bar t | 0 |
| 51 | funding_mean_9 | mean of last 9 settlements | 0 | fraction/8h | robust | latest settlement with instant <= close of bar t | 0 |
| 52 | funding_mean_21 | mean of last 21 settlements | 0 | fraction/8h | robust | latest settlement with instant <= close of bar t | 0 |
| 53 | funding_zscore_21 | (s_k - mean_21)/std_21, 0 if std=0 | 0 | std devs | robust | latest settlement with instant <= close of bar t | 0 |
| 54 | funding_change | s_k - s_{k-1} | 0 | fraction/8h | robust | latest settlement with instant <= close of bar t | 0 |
| 55 | funding_sign_persistence | sign(s_k)*min(same-sign run,21)/21 | 0 | [-1,1] | robust | latest settlement with instant <= close of bar t | 0 |
| 56 | funding_cum_24h | sum of rates settled in (close-24h, close] | 0 | fraction | robust | latest settlement with instant <= close of bar t | 0 |
| 57 | funding_cum_72h | sum of rates settled in (close-72h, close] | 0 | fraction | robust | latest settlement with instant <= close of bar t | 0 |
| 58 | funding_age_8h | (close - instant of s_k)/8h | 0 | periods of 8h | robust | latest settlement with instant <= close of bar t | 0 |
| 59 | funding_available | 1 if a settlement is published by close(t) | 0 | flag 0/1 | robust | latest settlement with instant <= close of bar t | 0 |
"""

from __future__ import annotations

import functools

import numpy as np

import envs.features.ops as ops
from envs.barsize import bars_for
from envs.features.bars import Bars
from envs.features.funding import FUNDING_SPECS
from envs.features.specs import FeatureSpec

_R = "robust"


def _s(
    name: str, formula: str, window: int, units: str, warmup: int, basis: str = "time"
) -> FeatureSpec:
    return FeatureSpec(name, formula, window, units, _R, "t", warmup, basis)


# size: a table, one FeatureSpec per column (49); splitting it would scatter the list
def ohlcv_specs(bar: str = "1h") -> tuple[FeatureSpec, ...]:
    """The 49 OHLCV specs for ``bar``-sized bars (windows and warm-ups in bars of that size).

    ``basis="time"`` features keep their span in hours (``n(h)`` bars, see
    ``envs.barsize.bars_for``: ret_24h is 288 5-minute bars or 6 4-hour bars);
    ``basis="bar"`` ones are classic per-bar indicators (RSI-14 is 14 bars at
    any size); ``mixed`` names both. On 1h bars every window equals its hours.
    """
    n = functools.partial(bars_for, bar=bar)
    n2 = lambda hours: max(2, n(hours))  # noqa: E731  a sample std needs 2 values
    ret = tuple(
        _s(f"ret_{k}h", f"log(C_t/C_(t-{n(k)}))", n(k), "log-return", n(k))
        for k in (1, 6, 24, 72, 168)
    )
    sma = tuple(
        _s(f"sma_ratio_{w}", f"log(C_t/SMA_{n(w)}(C))", n(w), "log", n(w) - 1)
        for w in (12, 24, 72, 168)
    )
    rv = tuple(
        _s(f"rv_{w}", f"sqrt(mean of r^2 over {n(w)} bars)", n(w), "log-return/bar", n(w))
        for w in (12, 24, 72, 168)
    )
    d, wk, d3 = n(24), n(168), n(72)
    atr_w = max(14, wk)
    return (
        *ret,
        *sma,
        *rv,
        _s(
            "rsi_14",
            "Cutler RSI: 100*G/(G+L), G/L = mean gain/loss of r over 14 bars (50 if both 0)",
            14,
            "0..100",
            14,
            "bar",
        ),
        _s("vol_rel_24", f"log(V_t/SMA_{d}(V))", d, "log", d - 1),
        _s("vol_rel_168", f"log(V_t/SMA_{wk}(V))", wk, "log", wk - 1),
        _s(
            "vol_z_24",
            f"(V_t-SMA_{n2(24)}(V))/std_{n2(24)}(V) (0 if std=0)",
            n2(24),
            "std devs",
            n2(24) - 1,
        ),
        _s("obv_slope_24", f"sum_{d}(sign(r)*V)/sum_{d}(V)", d, "-1..1", d),
        _s("vol_change_1h", "log(V_t/V_(t-1))", 1, "log", 1, "bar"),
        _s("vol_trend_24_168", f"log(SMA_{d}(V)/SMA_{wk}(V))", wk, "log", max(d, wk) - 1),
        _s("hl_range", "log(H_t/L_t)", 0, "log", 0, "bar"),
        _s("hl_range_mean_24", f"SMA_{d}(log(H/L))", d, "log", d - 1),
        _s(
            "hl_range_rel_24_168",
            f"log(SMA_{d}(log H/L)/SMA_{wk}(log H/L))",
            wk,
            "log",
            max(d, wk) - 1,
        ),
        _s("mom_24_voladj", f"ret_24h/(rv_24*sqrt({d})) (0 if rv=0)", d, "std devs", d),
        _s("mom_168_voladj", f"ret_168h/(rv_168*sqrt({wk})) (0 if rv=0)", wk, "std devs", wk),
        _s("macd", "(EMA_12(C)-EMA_26(C))/C_t", 26, "fraction of price", 25, "bar"),
        _s("macd_signal", "EMA_9(macd)", 34, "fraction of price", 33, "bar"),
        _s("macd_hist", "macd - macd_signal", 34, "fraction of price", 33, "bar"),
        _s("ema_ratio_12", "log(C_t/EMA_12(C))", 12, "log", 11, "bar"),
        _s("ema_ratio_48", "log(C_t/EMA_48(C))", 48, "log", 47, "bar"),
        _s("ema_cross_12_48", "log(EMA_12(C)/EMA_48(C))", 48, "log", 47, "bar"),
        _s(
            "bb_pctb_20",
            "(C_t-(SMA_20-2sd_20))/(4sd_20), sd ddof=1 (0.5 if sd=0)",
            20,
            "fraction",
            19,
            "bar",
        ),
        _s("bb_width_20", "4*sd_20(C)/SMA_20(C)", 20, "fraction of price", 19, "bar"),
        _s(
            "atr_pct_14",
            "SMA_14(TR)/C_t, TR=max(H-L, abs(H-C_(t-1)), abs(L-C_(t-1)))",
            15,
            "fraction of price",
            14,
            "bar",
        ),
        _s("atr_ratio_14_168", f"log(SMA_14(TR)/SMA_{wk}(TR))", atr_w + 1, "log", atr_w, "mixed"),
        _s("body_share", "(C_t-O_t)/(H_t-L_t) (0 if H=L)", 0, "-1..1", 0, "bar"),
        _s("upper_wick_share", "(H_t-max(O_t,C_t))/(H_t-L_t) (0 if H=L)", 0, "0..1", 0, "bar"),
        _s("lower_wick_share", "(min(O_t,C_t)-L_t)/(H_t-L_t) (0 if H=L)", 0, "0..1", 0, "bar"),
        _s(
            "gk_vol_24",
            f"sqrt(SMA_{d}(0.5 log(H/L)^2-(2log2-1) log(C/O)^2)) (Garman-Klass)",
            d,
            "log-return/bar",
            d - 1,
        ),
        _s("parkinson_vol_24", f"sqrt(SMA_{d}(log(H/L)^2)/(4 log 2))", d, "log-return/bar", d - 1),
        _s("skew_24", f"sample skew of r over {d} bars (0 if var=0)", d, "unitless", d),
        _s("skew_72", f"sample skew of r over {d3} bars (0 if var=0)", d3, "unitless", d3),
        _s("drawdown_168", f"log(C_t/max_{wk}(C))", wk, "log (<=0)", wk - 1),
        _s("dist_max_24", f"log(C_t/max_{d}(H))", d, "log (<=0)", d - 1),
        _s("dist_min_24", f"log(C_t/min_{d}(L))", d, "log (>=0)", d - 1),
        _s("hour_sin", "sin(2pi*hour(open_t)/24)", 0, "-1..1", 0),
        _s("hour_cos", "cos(2pi*hour(open_t)/24)", 0, "-1..1", 0),
        _s("dow_sin", "sin(2pi*weekday(open_t)/7), Monday=0", 0, "-1..1", 0),
        _s("dow_cos", "cos(2pi*weekday(open_t)/7), Monday=0", 0, "-1..1", 0),
    )


def specs(bar: str = "1h") -> tuple[FeatureSpec, ...]:
    """All 60 specs for ``bar``-sized bars (funding columns are defined in time already)."""
    return ohlcv_specs(bar) + FUNDING_SPECS


OHLCV_SPECS: tuple[FeatureSpec, ...] = ohlcv_specs("1h")
SPECS: tuple[FeatureSpec, ...] = OHLCV_SPECS + FUNDING_SPECS
OMITTED: tuple[str, ...] = ()


def _rsi(r: np.ndarray, window: int, pos: np.ndarray) -> np.ndarray:
    # "+ 0.0 * r" carries r's NaN (segment start) into gain/loss, so warm-up stays exact
    gain = ops.roll_mean(np.where(r > 0, r, 0.0) + 0.0 * r, window, pos)
    loss = ops.roll_mean(np.where(r < 0, -r, 0.0) + 0.0 * r, window, pos)
    return 100.0 * ops.safe_div(gain, gain + loss, fill=0.5)


# size: the 49 column formulas in spec order, each one line or two; the order is the contract
def compute(b: Bars) -> dict[str, np.ndarray]:
    """The 49 OHLCV columns of ``OHLCV_SPECS`` (funding is added by the caller)."""
    c, h, lo, o, v, pos, r, seg = b.close, b.high, b.low, b.open, b.volume, b.pos, b.r1, b.segment
    n, d, wk = b.n, b.n(24), b.n(168)
    out: dict[str, np.ndarray] = {}
    for k in (1, 6, 24, 72, 168):
        out[f"ret_{k}h"] = ops.log_return(c, n(k), pos)
    for w in (12, 24, 72, 168):
        out[f"sma_ratio_{w}"] = np.log(c / ops.roll_mean(c, n(w), pos))
    r2 = r * r
    for w in (12, 24, 72, 168):
        out[f"rv_{w}"] = np.sqrt(ops.roll_mean(r2, n(w), pos))
    out["rsi_14"] = _rsi(r, 14, pos)

    log_v = np.log(v)
    v24, v168 = ops.roll_mean(v, d, pos), ops.roll_mean(v, wk, pos)
    d2 = max(2, d)  # a sample std needs 2 values (1d bars: 24 h is one bar)
    out["vol_rel_24"] = log_v - np.log(v24)
    out["vol_rel_168"] = log_v - np.log(v168)
    v24z = v24 if d2 == d else ops.roll_mean(v, d2, pos)
    out["vol_z_24"] = ops.safe_div(v - v24z, ops.roll_std(v, d2, pos))
    out["obv_slope_24"] = ops.safe_div(
        ops.roll_sum(np.sign(r) * v, d, pos), ops.roll_sum(v, d, pos)
    )
    out["vol_change_1h"] = log_v - np.log(ops.lag(v, 1, pos))
    out["vol_trend_24_168"] = np.log(v24 / v168)

    hl = np.log(h / lo)
    hl24, hl168 = ops.roll_mean(hl, d, pos), ops.roll_mean(hl, wk, pos)
    out["hl_range"] = hl
    out["hl_range_mean_24"] = hl24
    out["hl_range_rel_24_168"] = np.log(ops.safe_div(hl24, hl168, fill=1.0))
    out["mom_24_voladj"] = ops.safe_div(out["ret_24h"], out["rv_24"] * np.sqrt(float(d)))
    out["mom_168_voladj"] = ops.safe_div(out["ret_168h"], out["rv_168"] * np.sqrt(float(wk)))

    ema12 = ops.ewm(c, seg, span=12, min_periods=12)
    ema26 = ops.ewm(c, seg, span=26, min_periods=26)
    ema48 = ops.ewm(c, seg, span=48, min_periods=48)
    macd = (ema12 - ema26) / c
    signal = ops.ewm(macd, seg, span=9, min_periods=9)
    out["macd"], out["macd_signal"], out["macd_hist"] = macd, signal, macd - signal
    out["ema_ratio_12"] = np.log(c / ema12)
    out["ema_ratio_48"] = np.log(c / ema48)
    out["ema_cross_12_48"] = np.log(ema12 / ema48)

    sma20, sd20 = ops.roll_mean(c, 20, pos), ops.roll_std(c, 20, pos)
    out["bb_pctb_20"] = ops.safe_div(c - (sma20 - 2.0 * sd20), 4.0 * sd20, fill=0.5)
    out["bb_width_20"] = 4.0 * sd20 / sma20

    prev_c = ops.lag(c, 1, pos)
    tr = np.fmax.reduce([h - lo, np.abs(h - prev_c), np.abs(lo - prev_c)])
    tr[pos < 1] = np.nan  # TR needs the previous close (in the segment)
    atr14 = ops.roll_mean(tr, 14, pos)
    out["atr_pct_14"] = atr14 / c
    out["atr_ratio_14_168"] = np.log(ops.safe_div(atr14, ops.roll_mean(tr, wk, pos), fill=1.0))

    rng = h - lo
    out["body_share"] = ops.safe_div(c - o, rng)
    out["upper_wick_share"] = ops.safe_div(h - np.maximum(o, c), rng)
    out["lower_wick_share"] = ops.safe_div(np.minimum(o, c) - lo, rng)
    gk_var = 0.5 * hl**2 - (2.0 * np.log(2.0) - 1.0) * np.log(c / o) ** 2
    out["gk_vol_24"] = np.sqrt(np.maximum(ops.roll_mean(gk_var, d, pos), 0.0))
    out["parkinson_vol_24"] = np.sqrt(ops.roll_mean(hl**2, d, pos) / (4.0 * np.log(2.0)))
    out["skew_24"] = ops.roll_skew(r, d, pos)
    out["skew_72"] = ops.roll_skew(r, n(72), pos)
    out["drawdown_168"] = np.log(c / ops.roll_max(c, wk, pos))
    out["dist_max_24"] = np.log(c / ops.roll_max(h, d, pos))
    out["dist_min_24"] = np.log(c / ops.roll_min(lo, d, pos))

    hour = b.index.hour.to_numpy().astype(np.float64)
    dow = b.index.day_of_week.to_numpy().astype(np.float64)
    out["hour_sin"], out["hour_cos"] = np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24)
    out["dow_sin"], out["dow_cos"] = np.sin(2 * np.pi * dow / 7), np.cos(2 * np.pi * dow / 7)
    return out
