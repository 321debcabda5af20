"""Feature sets: column contract, hand-computed values, gaps, warm-up, real-data finiteness."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from envs.data import load_clean, load_funding
from envs.features import (
    FEATURE_SETS,
    compute_features,
    core17,
    feature_names,
    feature_specs,
    flagtrader60,
    valid_rows,
    warmup_bars,
)
from envs.features.bars import Bars
from envs.features.specs import render_table
from envs.segments import bars_since_segment_start, segment_ids
from tests.conftest import synthetic_candles

SETS = sorted(FEATURE_SETS)


def frame(close, open_=None, high=None, low=None, volume=None, start="2020-01-01"):
    """Tiny OHLCV frame; by default open = previous close and a 1% range around the body."""
    close = np.asarray(close, dtype=np.float64)
    open_ = np.concatenate([[close[0]], close[:-1]]) if open_ is None else np.asarray(open_, float)
    high = np.maximum(open_, close) * 1.01 if high is None else np.asarray(high, float)
    low = np.minimum(open_, close) * 0.99 if low is None else np.asarray(low, float)
    volume = np.full(len(close), 10.0) if volume is None else np.asarray(volume, float)
    index = pd.date_range(start, periods=len(close), freq="1h", tz="UTC", name="timestamp")
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index
    )


def gappy_candles() -> pd.DataFrame:
    """900 synthetic bars with gaps: segments of 200, 99, 290 and 298 bars."""
    c = synthetic_candles(900, seed=3)
    drop = [200, *range(300, 310), 600, 601]
    return c.drop(c.index[drop])


def real_btc() -> pd.DataFrame:
    """The shipped BTC candles after envs.data's cleaning (3 zero-volume bars dropped)."""
    return load_clean("btc1h")[0]


def real_btc_funding() -> pd.Series:
    return load_funding("btc1h")


# --- contract ---------------------------------------------------------------------------------


def test_column_counts_and_names():
    ft = compute_features(synthetic_candles(300), "flagtrader60")
    assert ft.shape == (300, 60) and list(ft.columns) == feature_names("flagtrader60")
    assert len(flagtrader60.OHLCV_SPECS) == 49
    assert ft.dtypes.eq(np.float64).all()
    c17 = compute_features(synthetic_candles(300), "core17")
    assert c17.shape[1] == 15 == 17 - len(core17.OMITTED)
    assert core17.OMITTED == ("S_top", "S_bot")
    assert not set(core17.OMITTED) & set(c17.columns)
    for name in SETS:
        names = feature_names(name)
        assert len(set(names)) == len(names)
        hourly = {"core17": 168, "flagtrader60": 168, "daily": 4800, "daily30": 720}[name]
        assert warmup_bars(name) == max(s.warmup for s in feature_specs(name)) == hourly
        assert all(s.latest_bar.startswith(("t", "latest settlement")) for s in feature_specs(name))


@pytest.mark.parametrize("module", [flagtrader60, core17])
def test_docstring_table_matches_specs(module):
    assert render_table(module.SPECS) in module.__doc__


def test_unknown_set_and_bad_input_errors():
    with pytest.raises(KeyError, match="core17, daily, daily30, flagtrader60"):
        compute_features(synthetic_candles(10), "nope")
    c = synthetic_candles(10)
    c.iloc[4, c.columns.get_loc("volume")] = 0.0
    with pytest.raises(ValueError, match=r"'volume'.*2020-01-01 04:00.*envs.data.clean"):
        compute_features(c, "core17")
    with pytest.raises(ValueError, match="sorted ascending"):
        compute_features(synthetic_candles(10).iloc[::-1], "core17")
    with pytest.raises(ValueError, match="lack columns"):
        compute_features(synthetic_candles(10).drop(columns="high"), "core17")


# --- hand-computed values ---------------------------------------------------------------------


def test_log_returns_and_sma_ratio():
    f = compute_features(frame([100, 110, 99, 121]), "flagtrader60")
    assert np.isnan(f["ret_1h"].iloc[0])
    assert_allclose(f["ret_1h"].iloc[1:], [np.log(1.1), np.log(0.9), np.log(121 / 99)], rtol=1e-12)
    assert f["ret_6h"].isna().all()
    g = compute_features(frame(np.arange(10.0, 130.0, 10.0)), "flagtrader60")  # 10, 20, .., 120
    assert g["sma_ratio_12"].iloc[:11].isna().all()
    assert_allclose(g["sma_ratio_12"].iloc[11], np.log(120 / 65), rtol=1e-12)  # mean 10..120 = 65


def test_rsi_known_sequence():
    r = np.array([0.02] * 10 + [-0.01] * 4)
    close = 100 * np.exp(np.concatenate([[0.0], np.cumsum(r)]))
    f = compute_features(frame(close), "flagtrader60")
    assert f["rsi_14"].iloc[:14].isna().all()
    assert_allclose(f["rsi_14"].iloc[14], 100 * 0.20 / (0.20 + 0.04), rtol=1e-9)  # 83.33


def test_single_bar_candle_features():
    # O=100 H=110 L=95 C=105: log(H/L)=0.146603474, log(C/O)=0.048790164,
    # GK var = 0.5*0.146603474^2 - (2 ln2 - 1)*0.048790164^2 = 0.009826723 -> sqrt 0.099129830
    one = frame([105.0], open_=[100.0], high=[110.0], low=[95.0])
    c = compute_features(one, "core17").iloc[0]
    assert_allclose(c["gk_volatility"], 0.09912983040222308, rtol=1e-12)
    assert_allclose(c["flow_diff"], (210 - 110 - 95) / 15, rtol=1e-12)
    f = compute_features(one, "flagtrader60").iloc[0]
    assert_allclose(f["hl_range"], 0.14660347419187544, rtol=1e-12)
    assert_allclose(
        f[["body_share", "upper_wick_share", "lower_wick_share"]], [1 / 3] * 3, rtol=1e-12
    )
    # 2020-01-01 00:00 UTC is a Wednesday (weekday 2)
    assert_allclose(f[["hour_sin", "hour_cos"]], [0.0, 1.0], atol=1e-15)
    assert_allclose(f[["dow_sin", "dow_cos"]], [np.sin(4 * np.pi / 7), np.cos(4 * np.pi / 7)])


def test_core17_hand_values():
    close = [100, 102, 101, 103, 102, 104, 103, 105, 104, 106, 105, 107, 106]
    c = compute_features(frame(close), "core17")
    assert c["price_efficiency"].iloc[:12].isna().all()
    assert_allclose(c["price_efficiency"].iloc[12], 6 / 18, rtol=1e-12)  # net 6, path 6*2+6*1
    assert_allclose(c["mom_3"].iloc[3], np.log(103 / 100), rtol=1e-12)
    assert_allclose(c["rv_1h"].iloc[1], np.log(102 / 100), rtol=1e-12)
    r = np.array([0.01, -0.01] * 12 + [0.05])  # 24 returns of size 0.01, then a 0.05 jump
    jump = compute_features(frame(100 * np.exp(np.concatenate([[0], np.cumsum(r)]))), "core17")
    assert np.isnan(jump["jump_magnitude"].iloc[24])
    assert_allclose(jump["jump_magnitude"].iloc[25], 5.0, rtol=1e-9)


def test_funding_hand_values():
    candles = frame(100 + np.arange(30.0))  # bars open 2020-01-01 00:00 .. 2020-01-02 05:00
    funding = pd.Series(
        [1e-4, 3e-4, -2e-4],
        name="funding_rate",
        index=pd.DatetimeIndex(
            ["2020-01-01 08:00", "2020-01-01 16:00", "2020-01-02 00:00"], tz="UTC"
        ),
    )
    f = compute_features(candles, "flagtrader60", funding=funding)
    at = lambda hour: f.iloc[hour]  # noqa: E731  bar opening at that hour of 2020-01-01
    assert (at(6)[49:] == 0).all()  # closes 07:00: nothing published yet
    assert_allclose(
        at(7)[
            [
                "funding_last",
                "funding_mean_3",
                "funding_change",
                "funding_age_8h",
                "funding_cum_24h",
                "funding_available",
            ]
        ],
        [1e-4, 1e-4, 0, 0, 1e-4, 1],
    )
    assert_allclose(
        at(15)[
            [
                "funding_last",
                "funding_mean_3",
                "funding_change",
                "funding_cum_24h",
                "funding_zscore_21",
                "funding_sign_persistence",
            ]
        ],
        [3e-4, 2e-4, 2e-4, 4e-4, (3e-4 - 2e-4) / np.std([1e-4, 3e-4], ddof=1), 2 / 21],
    )
    assert_allclose(at(20)[["funding_last", "funding_age_8h"]], [3e-4, 5 / 8])
    assert_allclose(
        at(23)[
            [
                "funding_last",
                "funding_mean_3",
                "funding_change",
                "funding_cum_24h",
                "funding_sign_persistence",
            ]
        ],
        [-2e-4, 2e-4 / 3, -5e-4, 2e-4, -1 / 21],
        atol=1e-18,
        rtol=1e-12,
    )
    c = compute_features(candles, "core17", funding=funding)
    assert_allclose(
        c.iloc[[6, 7, 15, 23]][["funding_rate", "funding_momentum_1h"]],
        [[0, 0], [1e-4, 0], [3e-4, 2e-4], [-2e-4, -5e-4]],
        atol=1e-18,
    )
    none = compute_features(candles, "flagtrader60")
    assert (none.iloc[:, 49:] == 0).all().all()


# --- segments and warm-up ---------------------------------------------------------------------


@pytest.mark.parametrize("name", SETS)
def test_no_feature_crosses_a_gap(name):
    c = gappy_candles()
    full = compute_features(c, name)
    seg = segment_ids(c.index)
    for s in np.unique(seg):
        rows = np.flatnonzero(seg == s)
        alone = compute_features(c.iloc[rows], name)
        # Rolling sums restart per segment, so no residue of earlier segments carries over;
        # the only differences allowed are 1-ulp ones from numpy's SIMD log/exp, whose
        # vector chunks fall differently when the arrays start at different rows.
        assert_allclose(
            full.iloc[rows].to_numpy(),
            alone.to_numpy(),
            rtol=1e-12,
            atol=1e-15,
            equal_nan=True,
            err_msg=f"segment {s}",
        )


@pytest.mark.parametrize("name", SETS)
def test_warmup_is_exact_per_column_and_segment(name):
    c = gappy_candles()
    fs = FEATURE_SETS[name]
    bars = Bars.from_candles(c)
    raw = fs.compute_ohlcv(bars)  # before compute_features enforces the spec: natural NaNs
    pos = bars_since_segment_start(segment_ids(c.index))
    for spec in fs.specs:
        if spec.name in raw:
            np.testing.assert_array_equal(
                np.isnan(raw[spec.name]), pos < spec.warmup, err_msg=spec.name
            )
    f = compute_features(c, name)
    np.testing.assert_array_equal(valid_rows(f), pos >= warmup_bars(name))
    assert valid_rows(f)[300:400].sum() == 0  # the 99-bar segment never warms up


@pytest.mark.parametrize("name", SETS)
def test_real_btc_valid_rows_finite(name):
    c = real_btc()
    f = compute_features(c, name, funding=real_btc_funding())
    ok = valid_rows(f)
    pos = bars_since_segment_start(segment_ids(c.index))
    np.testing.assert_array_equal(ok, pos >= warmup_bars(name))
    assert np.isfinite(f.to_numpy()[ok]).all()
    # daily windows (up to 200 days) never warm up in the many short segments (test_features_daily)
    assert ok.sum() > {"daily": 0.3, "daily30": 0.7}.get(name, 0.9) * len(c)
    if name == "flagtrader60":  # funding exists from the 2019-09-10 08:00 settlement onwards
        avail = f["funding_available"].to_numpy() == 1
        assert f.index[avail][0] == pd.Timestamp("2019-09-10 07:00", tz="UTC")
        assert (f.loc[~avail, [s.name for s in flagtrader60.FUNDING_SPECS]] == 0).all().all()
