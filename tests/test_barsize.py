"""Bar sizes: parsing, annualisation, detection, features and funding at any bar size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from envs import barsize
from envs.barsize import BarSizeError, bars_for, canonical, detect_bar, periods_per_year
from envs.features import FEATURE_SETS, compute_features, feature_specs, valid_rows, warmup_bars
from envs.features.bars import Bars
from envs.market import MarketData
from envs.segments import bars_since_segment_start, segment_ids
from tests.conftest import synthetic_candles


@pytest.mark.parametrize(
    ("bar", "ppy"), [("1m", 525_600), ("5m", 105_120), ("1h", 8_760), ("4h", 2_190), ("1d", 365)]
)
def test_periods_per_year_from_the_bar_size(bar, ppy):
    assert periods_per_year(bar) == ppy


def test_spellings_and_refusals():
    assert [canonical(b) for b in ("60min", "1H", "24h", "1D", "5T", "15min")] == [
        "1h",
        "1h",
        "1d",
        "1d",
        "5m",
        "15m",
    ]
    for bad, words in (("banana", "not a bar size"), ("7m", "divide a day"), ("2d", "1 minute")):
        with pytest.raises(BarSizeError, match=words):
            barsize.bar_ns(bad)
    with pytest.raises(BarSizeError, match="not a bar size"):
        barsize.bar_ns("1M")  # ccxt's month: ambiguous, refused


def test_bars_for_time_spans():
    assert (bars_for(24, "5m"), bars_for(24, "4h"), bars_for(24, "1h"), bars_for(1, "1d")) == (
        288,
        6,
        24,
        1,
    )


def _index(start: str, n: int, freq: str) -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq=freq, tz="UTC")


def test_detect_bar_and_its_checks():
    assert detect_bar(_index("2024-01-01", 50, "5min")) == "5m"
    assert detect_bar(_index("2006-01-01", 50, "1D")) == "1d"
    gappy = _index("2024-01-01", 50, "4h").delete([3, 4, 10])
    assert detect_bar(gappy) == "4h"
    mixed = _index("2024-01-01", 20, "1h").append(_index("2024-01-01T20:05", 1, "1h"))
    with pytest.raises(BarSizeError, match=r"mixed bar sizes: line 22 \(2024-01-01T20:05"):
        detect_bar(mixed, "x.csv")
    off = _index("2024-01-01T00:30", 20, "1h")
    with pytest.raises(BarSizeError, match=r"off-grid bar at line 2 \(2024-01-01T00:30"):
        detect_bar(off, "x.csv")
    with pytest.raises(BarSizeError, match="declared bar size 1h but the file's bars are 5m"):
        barsize.check_frame_bar(_index("2024-01-01", 50, "5min"), "1h", "x.csv")
    with pytest.raises(BarSizeError, match="declared bar size 1h but the file's bars are 1d"):
        barsize.check_frame_bar(_index("2006-01-01", 50, "1D"), "1h", "x.csv")


@pytest.mark.parametrize("bar", ["5m", "4h", "1d"])
@pytest.mark.parametrize("name", sorted(FEATURE_SETS))
def test_warmup_exact_at_other_bar_sizes(name, bar):
    n = {"5m": 6000, "4h": 900, "1d": 400}[bar]
    n = max(n, 2 * warmup_bars(name, bar) + 10)  # the second half is one segment past warm-up
    c = synthetic_candles(n, seed=5, freq=pd.Timedelta(barsize.bar_ns(bar)))
    c = c.drop(c.index[[100, 101, n // 2]])
    fs = FEATURE_SETS[name]
    bars = Bars.from_candles(c, bar)
    raw = fs.compute_ohlcv(bars)
    pos = bars_since_segment_start(segment_ids(c.index, bar))
    for spec in feature_specs(name, bar):
        if spec.name in raw:
            np.testing.assert_array_equal(np.isnan(raw[spec.name]), pos < spec.warmup, spec.name)
    f = compute_features(c, name, freq=bar)
    np.testing.assert_array_equal(valid_rows(f), pos >= warmup_bars(name, bar))
    assert valid_rows(f).sum() > 0


def test_time_features_span_the_same_hours():
    """ret_24h on 4h bars is the 6-bar return; on 1h bars the 24-bar return (unchanged)."""
    c4 = synthetic_candles(400, seed=1, freq="4h")
    f4 = compute_features(c4, "flagtrader60", freq="4h")
    expected = np.log(c4.close.to_numpy()[6:] / c4.close.to_numpy()[:-6])
    np.testing.assert_allclose(f4["ret_24h"].to_numpy()[200:], expected[194:], rtol=1e-12)
    spec = {s.name: s for s in feature_specs("flagtrader60", "4h")}
    assert (spec["ret_24h"].window, spec["ret_24h"].basis) == (6, "time")
    assert (spec["rsi_14"].window, spec["rsi_14"].basis) == (14, "bar")
    assert {s.name: s.window for s in feature_specs("core17", "5m")}["volume_intensity"] == 288


def test_daily_bar_funding_sums_the_days_settlements():
    c = synthetic_candles(5, freq="1D", start="2021-01-01")
    instants = pd.date_range("2021-01-01T00:00", "2021-01-06T00:00", freq="8h", tz="UTC")
    rates = pd.Series(np.arange(1.0, len(instants) + 1) * 1e-4, index=instants)
    m = MarketData.build(c, np.zeros((5, 1)), rates, window=1, freq="1d")
    # bar 0 spans (01-01 00:00, 01-02 00:00]: settlements 08:00, 16:00 and 01-02 00:00
    np.testing.assert_allclose(m.funding, np.array([9.0, 18.0, 27.0, 36.0, 45.0]) * 1e-4)
    assert m.funding_unmatched == 1  # 2021-01-01T00:00 closes no bar of the series
