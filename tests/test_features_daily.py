"""The ``daily``/``daily30`` feature sets: hand-computed values, time-unit windows at every bar
size, funding zeros + flag, cross-asset context alignment (a missing context bar is a gap, never
forward-filled) and truncation (features at bar t never change when the future is cut off or
altered, context and funding included)."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from envs.data import load_clean, load_funding
from envs.features import compute_features, daily, feature_names, feature_specs, warmup_bars
from envs.features.specs import render_table
from envs.registry import load_market, make_env
from envs.segments import bars_since_segment_start, segment_ids
from tests.conftest import synthetic_candles

DAY = pd.Timedelta("1D")


def day_frame(close, start="2021-01-01", freq="1D") -> pd.DataFrame:
    """Daily OHLCV with open = previous close and a 1 % range around the body."""
    close = np.asarray(close, dtype=np.float64)
    open_ = np.concatenate([[close[0]], close[:-1]])
    index = pd.date_range(start, periods=len(close), freq=freq, tz="UTC", name="timestamp")
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * 1.01,
            "low": np.minimum(open_, close) * 0.99,
            "close": close,
            "volume": np.full(len(close), 5.0),
        },
        index=index,
    )


# --- contract ---------------------------------------------------------------------------------


def test_docstring_table_and_columns():
    assert render_table(daily.SPECS) in daily.__doc__
    assert len(feature_names("daily")) == 28 and len(feature_names("daily30")) == 20
    assert warmup_bars("daily") == 4800 and warmup_bars("daily30") == 720  # 200 / 30 days of 1h
    assert warmup_bars("daily", "4h") == 1200 and warmup_bars("daily", "1d") == 200
    spec = {s.name: s for s in feature_specs("daily", "4h")}
    assert (spec["ret_7d"].window, spec["sma_dist_20d"].window) == (42, 120)
    assert all(s.basis == "time" for s in spec.values())
    # scale-free: no column is a price level (every formula is a log ratio, a vol, a flag, funding)
    assert not {"close", "open", "sma_200d"} & set(feature_names("daily"))


def test_context_refused_by_sets_without_context_columns():
    c = synthetic_candles(50)
    with pytest.raises(ValueError, match="'core17' has no cross-asset context.*daily, daily30"):
        compute_features(c, "core17", context=c)


# --- hand-computed values ---------------------------------------------------------------------


def test_hand_values_on_daily_bars():
    close = 100.0 * np.exp(np.concatenate([[0.0], np.cumsum([0.01, -0.02, 0.03] * 12)]))  # 37
    close[20] = close[19]  # a flat day: r_20 = 0
    f = compute_features(day_frame(close), "daily30", freq="1d")
    r = np.diff(np.log(close))
    assert np.isnan(f["ret_1d"].iloc[0]) and np.isnan(f["ret_3d"].iloc[2])
    assert_allclose(f["ret_1d"].iloc[1], 0.01, rtol=1e-12)
    assert_allclose(f["ret_3d"].iloc[3], 0.02, rtol=1e-12)  # 0.01 - 0.02 + 0.03
    assert_allclose(f["ret_30d"].iloc[36], np.log(close[36] / close[6]), rtol=1e-12)
    # rv_7d: b = 1 bar per day, sqrt(mean r^2) of the last 7 returns
    assert np.isnan(f["rv_7d"].iloc[6])
    assert_allclose(f["rv_7d"].iloc[7], np.sqrt(np.mean(r[:7] ** 2)), rtol=1e-12)
    # sma_dist_20d at row 19: log(C_19 / mean(C_0..19))
    assert np.isnan(f["sma_dist_20d"].iloc[18])
    assert_allclose(f["sma_dist_20d"].iloc[19], np.log(close[19] / close[:20].mean()), rtol=1e-12)
    # drawdown from the 30-day high
    assert_allclose(f["dd_30d"].iloc[29], np.log(close[29] / close[:30].max()), rtol=1e-12)
    assert np.isnan(f["dd_30d"].iloc[28])
    rv30 = np.sqrt(np.mean(r[6:36] ** 2))
    assert_allclose(f["rv_30d"].iloc[36], rv30, rtol=1e-12)
    assert_allclose(
        f["mom_30d_voladj"].iloc[36],
        np.log(close[36] / close[6]) / (rv30 * np.sqrt(30)),
        rtol=1e-12,
    )
    rv7 = np.sqrt(np.mean(r[29:36] ** 2))
    assert_allclose(f["vol_regime_7d_30d"].iloc[36], np.log(rv7 / rv30), rtol=1e-12)


def test_hourly_windows_are_days_of_bars():
    c = synthetic_candles(800, seed=4)
    f = compute_features(c, "daily30")
    close = c["close"].to_numpy()
    assert_allclose(f["ret_1d"].iloc[24], np.log(close[24] / close[0]), rtol=1e-12)
    assert np.isnan(f["ret_1d"].iloc[23])
    r = np.diff(np.log(close))
    # per-day vol from hourly returns: sqrt(24 * mean r^2 over the 168 bars of 7 days)
    assert_allclose(f["rv_7d"].iloc[168], np.sqrt(24 * np.mean(r[:168] ** 2)), rtol=1e-12)
    assert_allclose(
        f["sma_dist_20d"].iloc[479], np.log(close[479] / close[:480].mean()), rtol=1e-12
    )


def test_flat_prices_give_zero_not_inf():
    f = compute_features(day_frame(np.full(40, 50.0)), "daily30", freq="1d")
    valid = f.iloc[30:]
    assert np.isfinite(valid.to_numpy()).all()
    assert (
        (valid[["ret_30d", "rv_7d", "mom_30d_voladj", "vol_regime_7d_30d", "dd_30d"]] == 0)
        .all()
        .all()
    )


def test_funding_level_trend_and_flag():
    c = day_frame(100 + np.arange(6.0))  # bars open 2021-01-01 .. 01-06, close at next midnight
    instants = pd.date_range("2021-01-01T08:00", periods=8, freq="8h", tz="UTC")
    rates = pd.Series([1, 2, 3, 4, 5, 6, 7, 8], index=instants, dtype=float) * 1e-4
    f = compute_features(c, "daily", funding=rates, freq="1d")
    # bar 0 closes 01-02 00:00: settlements 08:00, 16:00, 00:00 (1, 2, 3)
    assert_allclose(
        f.iloc[0][["funding_mean_1d", "funding_mean_7d", "funding_trend", "funding_available"]],
        [2e-4, 2e-4, 0.0, 1.0],
        atol=1e-18,
    )
    # bar 1 closes 01-03 00:00: all 6 settlements; last three 4, 5, 6; all six mean 3.5
    assert_allclose(
        f.iloc[1][["funding_mean_1d", "funding_mean_7d", "funding_trend"]],
        [5e-4, 3.5e-4, 1.5e-4],
        rtol=1e-12,
    )
    none = compute_features(c, "daily", freq="1d")
    fund_cols = [s.name for s in daily.FUNDING_SPECS]
    assert (none[fund_cols] == 0).all().all()  # never NaN, flag 0
    early = compute_features(
        day_frame(100 + np.arange(6.0), start="2020-12-20"), "daily", funding=rates, freq="1d"
    )
    assert (early.iloc[:12][fund_cols] == 0).all().all()  # before listing: zeros, flag 0


# --- cross-asset context ----------------------------------------------------------------------


def test_context_aligned_on_open_time_and_missing_bar_not_filled():
    main = synthetic_candles(60, seed=1, freq="1D", start="2021-01-01")
    ctx = synthetic_candles(80, seed=2, freq="1D", start="2020-12-15")  # starts 17 days earlier
    ctx = ctx.drop(pd.Timestamp("2021-01-20", tz="UTC"))  # one missing context bar
    f = compute_features(main, "daily30", context=ctx, freq="1d")
    x = ctx["close"]
    t = pd.Timestamp("2021-01-19", tz="UTC")  # context history 01-??..01-19 is one segment
    i = main.index.get_loc(t)
    # the context's segment from 2020-12-15 is 35 bars old at 2021-01-19: 30-day look-back inside
    assert f["ctx_available"].iloc[i] == 1
    assert_allclose(f["ctx_ret_1d"].iloc[i], np.log(x[t] / x[t - DAY]), rtol=1e-12)
    miss = main.index.get_loc(pd.Timestamp("2021-01-20", tz="UTC"))
    assert f["ctx_available"].iloc[miss] == 0 and f["ctx_ret_1d"].iloc[miss] == 0  # not filled
    # after the gap the context restarts its look-back: 30 days until ctx_ret_30d is defined
    after = f["ctx_available"].iloc[miss + 1 :].to_numpy()
    assert (after[:30] == 0).all() and (after[30:] == 1).all()
    t2 = main.index[miss + 31]
    assert_allclose(f["ctx_ret_7d"].iloc[miss + 31], np.log(x[t2] / x[t2 - 7 * DAY]), rtol=1e-12)


def test_context_of_another_bar_size_is_refused():
    main = synthetic_candles(60, seed=1, freq="1D", start="2021-01-01")
    with pytest.raises(ValueError, match="context candles"):
        compute_features(main, "daily", context=synthetic_candles(200, freq="1h"), freq="1d")


# --- truncation: nothing after bar t's close changes row t ------------------------------------


@cache
def real_daily() -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    """Shipped BTC and ETH resampled to daily bars (gaps included) and BTC funding."""
    return load_clean("btc1d")[0], load_funding("btc1d"), load_clean("eth1d")[0]


@cache
def full(name: str) -> pd.DataFrame:
    c, fund, ctx = real_daily()
    return compute_features(c, name, funding=fund, context=ctx, freq="1d")


def assert_prefix(name: str, t: int, changed: bool) -> None:
    c, fund, ctx = real_daily()
    close_t = c.index[t] + DAY
    if changed:  # every later settlement and context bar altered
        fund = fund.where(fund.index <= close_t, -fund * 3 + 0.01)
        ctx = ctx.copy()
        later = ctx.index > c.index[t]
        ctx.loc[later, ["open", "high", "low", "close"]] *= 1.7
    else:  # cut off
        fund, ctx = fund[fund.index <= close_t], ctx[ctx.index <= c.index[t]]
    trunc = compute_features(c.iloc[: t + 1], name, funding=fund, context=ctx, freq="1d")
    assert_allclose(
        trunc.to_numpy(),
        full(name).iloc[: t + 1].to_numpy(),
        rtol=1e-12,
        atol=1e-15,
        equal_nan=True,
        err_msg=f"{name} cut at row {t}",
    )


@pytest.mark.parametrize("name", ["daily", "daily30"])
def test_truncation_at_gaps_and_warmup_edges_real_daily(name):
    c, _, _ = real_daily()
    starts = (np.flatnonzero(np.diff(segment_ids(c.index, "1d"))) + 1)[:5]  # 5 gaps: enough edges
    w = warmup_bars(name, "1d")
    cuts = {0, len(c) - 1, w - 1, w, *starts.tolist(), *(starts - 1).tolist()}
    cuts |= {*(starts + w - 1).tolist(), *(starts + w).tolist()}
    assert full(name)["ctx_available"].sum() > 0 and full(name)["funding_available"].sum() > 0
    for t in sorted(x for x in cuts if 0 <= x < len(c)):
        for changed in (False, True):
            assert_prefix(name, t, changed)


@settings(max_examples=10, deadline=None)
@given(frac=st.floats(0.0, 1.0))
def test_truncation_random_cuts_real_daily(frac):
    c, _, _ = real_daily()
    t = int(frac * (len(c) - 1))
    assert_prefix("daily", t, changed=True)


def test_truncation_hourly_with_context():
    c = load_clean("btc1h")[0].loc["2020-06-01":].iloc[:2500]
    ctx = load_clean("eth1h")[0].loc["2020-05-01":"2020-10-01"]
    base = compute_features(c, "daily30", context=ctx)
    assert base["ctx_available"].sum() > 1000
    for t in (800, 1500, 2499):
        cut = compute_features(c.iloc[: t + 1], "daily30", context=ctx[ctx.index <= c.index[t]])
        assert_allclose(cut.to_numpy(), base.iloc[: t + 1].to_numpy(), rtol=1e-12, equal_nan=True)


def test_real_warmup_cost_matches_segments():
    """The warm-up cost stated in the module doc: valid rows = bars >= warm-up into a segment."""
    c = load_clean("btc1h")[0]
    pos = bars_since_segment_start(segment_ids(c.index))
    train = (c.index >= "2018-01-01") & (c.index < "2023-01-01")
    assert int((pos[train] >= warmup_bars("daily")).sum()) == 6207
    assert int((pos[train] >= warmup_bars("daily30")).sum()) == 28623


def test_env_with_context_market_at_another_bar_size():
    """``make_env(..., context="eth1h")`` on a 4h market reads ETH resampled to 4h; the cache
    keeps markets with and without context apart."""
    with_ctx = load_market("btc4h", "daily30", 8, context="eth1h")[0]
    without = load_market("btc4h", "daily30", 8)[0]
    j = with_ctx.feature_names.index("ctx_ret_7d")
    assert with_ctx.features[:, j].std() > 0 and without.features[:, j].std() == 0
    eth4h = load_clean("eth4h")[0]
    raw = compute_features(
        load_clean("btc4h")[0], "daily30", funding=load_funding("btc4h"), freq="4h", context=eth4h
    )
    ok = raw["ctx_available"].to_numpy() == 1
    assert ok.mean() > 0.7  # 30-day context look-backs restart after every ETH gap
    env = make_env("btc4h", split="val", feature_set="daily30", window=8, context="eth1h")
    assert env.market is with_ctx
