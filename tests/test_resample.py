"""Resampling: OHLCV aggregation on UTC boundaries, partial bars at gaps dropped, never invented."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.barsize import BarSizeError, bar_ns
from envs.data import load_candles, load_clean, load_funding
from envs.data.resample import resample
from envs.presets import PRESETS
from tests.conftest import synthetic_candles


def test_btc_hourly_to_daily_matches_the_hourly_bars():
    hourly = load_candles("btc1h")
    daily, report = resample(hourly, "1d")
    assert report.from_bar == "1h" and report.rows_out == len(daily) == 2_529
    day = hourly.index.floor("D")
    counts = pd.Series(1, index=hourly.index).groupby(day).sum()
    complete = counts.index[counts == 24]
    assert list(daily.index) == list(complete)  # exactly the complete days, nothing invented
    assert len(report.partial) == int((counts < 24).sum()) == 28
    at = lambda hour: hourly[hourly.index.hour == hour].set_index(day[hourly.index.hour == hour])  # noqa: E731
    np.testing.assert_array_equal(daily.close, at(23).loc[daily.index, "close"])
    np.testing.assert_array_equal(daily.open, at(0).loc[daily.index, "open"])
    grouped = hourly.groupby(day)
    np.testing.assert_array_equal(daily.high, grouped.high.max().loc[daily.index])
    np.testing.assert_array_equal(daily.low, grouped.low.min().loc[daily.index])
    np.testing.assert_allclose(daily.volume, grouped.volume.sum().loc[daily.index], rtol=1e-12)
    assert (daily.index.hour == 0).all()


def test_partial_bars_dropped_or_kept_with_a_count():
    c = synthetic_candles(48, start="2021-01-01")  # two whole days of hourly bars
    gappy = c.drop(c.index[[5, 6]])  # day 1 loses two hours
    out, report = resample(gappy, "4h")
    assert report.partial == ["2021-01-01T04:00:00Z"]
    assert pd.Timestamp("2021-01-01T04:00Z") not in out.index and len(out) == 11
    kept, _ = resample(gappy, "4h", partial="keep")
    assert kept.loc["2021-01-01T04:00Z", "source_bars"] == 2 and len(kept) == 12
    assert (kept.drop(index=pd.Timestamp("2021-01-01T04:00Z")).source_bars == 4).all()


def test_resample_refuses_finer_or_non_multiple_targets():
    c = synthetic_candles(48, freq="4h")
    with pytest.raises(BarSizeError, match="whole multiple of 4h"):
        resample(c, "1h")
    with pytest.raises(BarSizeError, match="whole multiple"):
        resample(c, "6h")


@pytest.mark.parametrize(("name", "ppy"), [("btc4h", 2190), ("btc1d", 365), ("eth4h", 2190)])
def test_resampled_presets(name, ppy):
    p = PRESETS[name]
    base = PRESETS[name[:3] + "1h"]
    assert (p.periods_per_year, p.splits, p.candles, p.funding) == (
        ppy,
        base.splits,
        base.candles,
        base.funding,
    )
    cleaned, report = load_clean(name)
    assert report.freq == p.freq and report.valid_fraction > 0.98
    assert ((cleaned.index.asi8 % bar_ns(p.freq)) == 0).all()


def test_daily_preset_env_sums_the_days_funding():
    from envs.registry import load_market

    market, _ = load_market("btc1d", window=4)
    funding = load_funding("btc1h")
    day = pd.Timestamp("2023-03-01", tz="UTC")
    t = int(np.searchsorted(market.timestamps, day.value))
    # bar 2023-03-01 spans (00:00, 24:00]: the 08:00, 16:00 and next-day 00:00 settlements
    expected = funding.loc[day + pd.Timedelta("1h") : day + pd.Timedelta("24h")].sum()
    assert len(funding.loc[day + pd.Timedelta("1h") : day + pd.Timedelta("24h")]) == 3
    assert market.funding[t] == pytest.approx(expected, rel=1e-12)
    assert market.freq_ns == 86_400 * 10**9


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(10, 200),
    drop=st.lists(st.integers(0, 199), max_size=30),
    to=st.sampled_from(["2h", "4h", "6h", "1d"]),
    seed=st.integers(0, 1000),
)
def test_resample_invariants(n, drop, to, seed):
    c = synthetic_candles(n, seed=seed, start="2021-03-01T00:00")
    c = c.drop(c.index[sorted({d for d in drop if d < n})])
    out, report = resample(c, to, from_bar="1h")
    per = bar_ns(to) // bar_ns("1h")
    assert len(out) + len(report.partial) == len(
        np.unique(c.index.as_unit("ns").asi8 // bar_ns(to))
    )
    for t, row in out.iterrows():
        src = c.loc[t : t + pd.Timedelta(hours=per - 1)]
        assert len(src) == per  # complete: nothing invented
        assert (row.open, row.close) == (src.open.iloc[0], src.close.iloc[-1])
        assert (row.high, row.low) == (src.high.max(), src.low.min())
        assert row.volume == pytest.approx(src.volume.sum(), rel=1e-12)
        assert t.value % bar_ns(to) == 0


@settings(max_examples=30, deadline=None)
@given(
    bar=st.sampled_from(["1h", "4h", "1d"]),
    drop=st.lists(st.integers(0, 59), max_size=10),
    offsets_h=st.lists(st.integers(-30, 30 * 24 + 30), max_size=40, unique=True),
)
def test_funding_is_conserved_across_bar_sizes(bar, drop, offsets_h):
    from envs.market import MarketData

    c = synthetic_candles(60, freq=pd.Timedelta(bar_ns(bar)), start="2021-01-01")
    c = c.drop(c.index[sorted(set(drop))])
    start = pd.Timestamp("2021-01-01", tz="UTC")
    instants = pd.DatetimeIndex(
        [start + pd.Timedelta(hours=h) for h in sorted(offsets_h)], tz="UTC"
    )
    rates = pd.Series(np.arange(1, len(instants) + 1) * 1e-5, index=instants)
    m = MarketData.build(c, np.zeros((len(c), 1)), rates, window=1, freq=bar)
    opens = c.index.as_unit("ns").asi8
    inside = [any(o < s.value <= o + bar_ns(bar) for o in opens) for s in instants]
    assert m.funding.sum() == pytest.approx(rates[np.array(inside, bool)].sum(), abs=1e-15)
    assert m.funding_unmatched == len(instants) - sum(inside)
