"""THE truncation test: features at row t never depend on anything after bar t's close.

For every feature set, with and without funding: features computed on
``candles[:t+1]`` equal the full-series features at every row <= t (NaN
positions included), whatever funding after bar t's close looks like (absent,
present, or changed). Run on synthetic candles with gaps and on a 3,000-row
slice of the real BTC file spanning the funding listing and three gaps.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from envs.features import FEATURE_SETS, compute_features, warmup_bars
from envs.segments import segment_ids
from tests.test_features import gappy_candles, real_btc, real_btc_funding

SETS = sorted(FEATURE_SETS)
HOUR = pd.Timedelta("1h")


def synthetic_funding(candles: pd.DataFrame, seed: int = 7) -> pd.Series:
    """8-hourly settlements listing 150 h after the first bar, past the last bar's close."""
    first = candles.index[0].ceil("8h") + pd.Timedelta("152h")
    instants = pd.date_range(first, candles.index[-1] + pd.Timedelta("24h"), freq="8h")
    rates = np.random.default_rng(seed).normal(1e-4, 2e-4, len(instants)).round(8)
    return pd.Series(rates, index=instants, name="funding_rate")


@cache
def data(kind: str) -> tuple[pd.DataFrame, pd.Series]:
    if kind == "synthetic":
        c = gappy_candles()
        return c, synthetic_funding(c)
    c = real_btc()
    c = c.loc["2019-08-01":].iloc[:3000]  # gaps on 2019-08-15, 11-13, 11-25; listing 09-10
    return c, real_btc_funding()


@cache
def full_features(kind: str, name: str, with_funding: bool) -> pd.DataFrame:
    c, f = data(kind)
    return compute_features(c, name, funding=f if with_funding else None)


def assert_prefix_equal(
    kind: str, name: str, t: int, funding: pd.Series | None, with_funding: bool = True
) -> None:
    c, _ = data(kind)
    full = full_features(kind, name, with_funding)
    trunc = compute_features(c.iloc[: t + 1], name, funding=funding)
    assert trunc.shape == (t + 1, full.shape[1])
    # tight: only 1-ulp SIMD rounding may differ; NaN positions must match exactly
    assert_allclose(
        trunc.to_numpy(),
        full.iloc[: t + 1].to_numpy(),
        rtol=1e-12,
        atol=1e-15,
        equal_nan=True,
        err_msg=f"{kind}/{name} cut at row {t}",
    )


def funding_variants(kind: str, t: int):
    """Funding as seen at bar t: full, cut at t's close, and with every later value changed."""
    c, f = data(kind)
    close_t = c.index[t] + HOUR
    later = f.index > close_t
    changed = f.copy()
    changed[later] = changed[later] * -3.0 + 0.01
    return [f, f[~later], changed]


def fixed_cuts(kind: str, name: str) -> list[int]:
    c, f = data(kind)
    seg = segment_ids(c.index)
    starts = np.flatnonzero(np.diff(seg)) + 1  # first bar after each gap
    w = warmup_bars(name)
    cuts = {
        0,
        len(c) - 1,
        *starts.tolist(),
        *(starts - 1).tolist(),
        *(starts + 1).tolist(),
        *(starts + w - 1).tolist(),
        *(starts + w).tolist(),
        w - 1,
        w,
    }
    # bars closing exactly at, and one hour before, the first settlements in the candles
    inside = f.index[(f.index > c.index[0] + HOUR) & (f.index <= c.index[-1])][:3]
    for lag_h in (1, 2):
        cuts |= set(c.index.get_indexer(inside - lag_h * HOUR).tolist()) - {-1}
    return sorted(t for t in cuts if 0 <= t < len(c))


@pytest.mark.parametrize("kind", ["synthetic", "real"])
@pytest.mark.parametrize("name", SETS)
def test_truncation_fixed_cuts(kind, name):
    for t in fixed_cuts(kind, name):
        assert_prefix_equal(kind, name, t, None, with_funding=False)
        for funding in funding_variants(kind, t):
            assert_prefix_equal(kind, name, t, funding)


@pytest.mark.parametrize("name", SETS)
@settings(max_examples=30, deadline=None)
@given(frac=st.floats(0.0, 1.0))
def test_truncation_random_cuts_synthetic(name, frac):
    c, _ = data("synthetic")
    t = int(frac * (len(c) - 1))
    assert_prefix_equal("synthetic", name, t, None, with_funding=False)
    for funding in funding_variants("synthetic", t):
        assert_prefix_equal("synthetic", name, t, funding)


@pytest.mark.parametrize("name", SETS)
@settings(max_examples=12, deadline=None)
@given(frac=st.floats(0.0, 1.0))
def test_truncation_random_cuts_real_btc(name, frac):
    c, _ = data("real")
    t = int(frac * (len(c) - 1))
    for funding in funding_variants("real", t)[1:]:
        assert_prefix_equal("real", name, t, funding)


def test_settlement_at_bar_close_is_used_and_later_one_is_not():
    """The alignment boundary: settlement instant == close of bar t is known at t; +1 bar is not."""
    c, f = data("synthetic")
    s = f.index[5]  # a settlement instant inside the candles
    t = c.index.get_loc(s - HOUR)  # bar t closes exactly at s
    base = compute_features(c, "flagtrader60", funding=f)
    bumped = f.copy()
    bumped.iloc[5] += 0.001
    moved = compute_features(c, "flagtrader60", funding=bumped)
    assert_allclose(moved.iloc[:t].to_numpy(), base.iloc[:t].to_numpy(), equal_nan=True)
    assert moved["funding_last"].iloc[t] == pytest.approx(base["funding_last"].iloc[t] + 0.001)
    c17 = compute_features(c, "core17", funding=bumped)["funding_rate"]
    assert c17.iloc[t - 1] == base["funding_last"].iloc[t - 1]
    assert c17.iloc[t] == pytest.approx(f.iloc[5] + 0.001)
