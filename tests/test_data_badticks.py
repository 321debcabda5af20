"""Bad ticks the one-bar rule missed (issue 24, older corpus): a 1000x wick and a continuous
spike (a run of bars at 1000x) are listed and dropped by the cleaner; a jump that never comes
back is still a level shift, refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.data import DataQualityError, clean, quality_report
from envs.data.quality import price_jumps, wick_mask
from tests.conftest import synthetic_candles


def _iso(frame: pd.DataFrame, rows: list[int]) -> list[str]:
    return [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in frame.index[rows]]


def test_a_1000x_wick_is_a_bad_tick_listed_and_dropped():
    frame = synthetic_candles(300)
    frame.iloc[150, frame.columns.get_loc("high")] = 1000 * frame["close"].iat[150]
    frame.iloc[200, frame.columns.get_loc("low")] = frame["close"].iat[200] / 1000
    report = quality_report(frame)
    assert (report["wick"], report["spike"], report["outliers"]) == (2, 0, 2)
    assert report["outlier_timestamps"] == _iso(frame, [150, 200])
    cleaned, rep = clean(frame)
    assert rep.dropped["outlier"] == _iso(frame, [150, 200]) and len(cleaned) == 298
    with pytest.raises(DataQualityError, match="2 bad tick\\(s\\) \\(k=10\\): 2020-01-07T06:00"):
        clean(frame, outliers="raise")


def _spike(frame: pd.DataFrame, first: int, last: int, factor: float, continuous: bool):
    """Bars first..last at ``factor`` x. continuous: bar ``first`` opens at the old price and
    the bar after ``last`` opens at the spike price (the path moves inside those bars)."""
    out = frame.copy()
    cols = ["open", "high", "low", "close"]
    out.iloc[first : last + 1, [out.columns.get_loc(c) for c in cols]] *= factor
    if continuous:
        o = out.columns.get_loc("open")
        out.iloc[first, o] = frame["open"].iat[first]
        out.iloc[last + 1, o] = out["close"].iat[last]
        for i in (first, last + 1):
            out.iloc[i, out.columns.get_loc("high")] = out[["open", "close"]].iloc[i].max()
            out.iloc[i, out.columns.get_loc("low")] = out[["open", "close"]].iloc[i].min()
    return out


@pytest.mark.parametrize(
    ("continuous", "bad"), [(False, list(range(100, 120))), (True, list(range(100, 121)))]
)
def test_a_run_of_bars_at_1000x_is_a_spike_listed_and_dropped(continuous, bad):
    frame = _spike(synthetic_candles(400), 100, 119, 1000.0, continuous)
    report = quality_report(frame)
    assert report["spike"] == len(bad) and report["level_shift"] == 0
    cleaned, rep = clean(frame)
    assert rep.dropped["outlier"] == _iso(frame, bad)
    assert cleaned["close"].max() < 1000  # nothing of the spike is left
    assert len(cleaned) == 400 - len(bad)


def test_a_jump_that_never_comes_back_is_a_level_shift_not_a_spike():
    frame = _spike(synthetic_candles(300), 150, 299, 1000.0, continuous=False)
    spike, shift = price_jumps(
        frame.index.as_unit("ns").asi8, frame["open"].to_numpy(), frame["close"].to_numpy()
    )
    assert not spike.any() and np.flatnonzero(shift).tolist() == [150]
    with pytest.raises(DataQualityError, match="level shift at 2020-01-07T06:00:00Z: open"):
        clean(frame)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), vol=st.floats(0.001, 0.2))
def test_a_continuous_market_has_no_jumps_or_wicks(seed, vol):
    """Invariant: any market whose bars open at the previous close and move < 10x per bar
    (here up to 20% per bar, four times BTC's worst hour) has no wick, spike or shift."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, vol, 500)))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.3, 500))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.3, 500))
    ts = pd.date_range("2020-01-01", periods=500, freq="1h").as_unit("ns").asi8
    assert not wick_mask(open_, high, low, close).any()
    spike, shift = price_jumps(ts, open_, close)
    assert not spike.any() and not shift.any()
