"""Quality report: exact counts on a hand-built dirty frame, bad ticks, and the shipped files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from envs.data import load_candles, quality_report, read_candles_raw
from envs.data.quality import bad_tick_mask
from envs.presets import BITSTAMP_2011

T0 = pd.Timestamp("2020-01-01T00:00:00Z")
OK = (100.0, 101.0, 99.0, 100.0, 1.0)


def dirty_frame() -> pd.DataFrame:
    """15 rows, one problem each where noted; hour offsets from T0 (gaps at 5-6 and 11)."""
    rows = [
        (0, (100, 110, 90, 105, 5)),  # ok
        (1, (105, 112, 101, 108, 7)),  # ok
        (2, (108, 109, 100, 102, 0)),  # zero volume
        (3, (102, 102, 102, 102, 4)),  # flat
        (4, (102, 102, 102, 102, 0)),  # zero volume and flat
        (7, (102, 104, 99, np.nan, 4)),  # NaN close (after a 2-bar gap)
        (8, (100, 90, 110, 100, 1)),  # high < low
        (9, OK),  # duplicate timestamp ...
        (9, OK),  # ... both rows
        (10, OK),  # ok (then a 1-bar gap)
        (12, (1, 2, 0, 1, 1)),  # non-positive low
        (14, OK),  # ok, but written before 13
        (13, (100, 101, 99, 100, -1)),  # negative volume, and unsorted
        (14.5, OK),  # off the hourly grid
        (15, OK),  # ok
    ]
    index = pd.DatetimeIndex([T0 + pd.Timedelta(hours=h) for h, _ in rows], name="timestamp")
    values = np.array([v for _, v in rows], dtype=np.float64)
    return pd.DataFrame(values, index=index, columns=["open", "high", "low", "close", "volume"])


def test_dirty_frame_counts_are_exact():
    r = quality_report(dirty_frame())
    expected = {
        "rows": 15,
        "expected_bars": 16,
        "unique_timestamps": 14,
        "gaps": 3,
        "gap_runs": 2,
        "longest_gap": 2,
        "duplicates": 1,
        "unsorted": 1,
        "off_grid": 1,
        "nan": 1,
        "nonpositive": 1,
        "invalid_ohlc": 1,
        "negative_volume": 1,
        "zero_volume": 2,
        "flat": 2,
        "zero_volume_and_flat": 1,
        "outliers": 0,
        "usable_bars": 5,
    }
    assert {k: r[k] for k in expected} == expected
    assert r["valid_fraction"] == 5 / 16
    assert r["gap_list"] == [
        {"first_missing": "2020-01-01T05:00:00Z", "bars": 2},
        {"first_missing": "2020-01-01T11:00:00Z", "bars": 1},
    ]
    assert r["zero_volume_timestamps"] == ["2020-01-01T02:00:00Z", "2020-01-01T04:00:00Z"]
    assert r["start"] == "2020-01-01T00:00:00Z" and r["end"] == "2020-01-01T15:00:00Z"
    json.dumps(r)  # JSON-serialisable


def test_empty_frame():
    empty = dirty_frame().iloc[:0]
    r = quality_report(empty)
    assert (r["rows"], r["expected_bars"], r["gaps"], r["valid_fraction"]) == (0, 0, 0, 0.0)


# --- bad ticks -------------------------------------------------------------------------------


def _arrays(frame: pd.DataFrame):
    return (
        frame.index.as_unit("ns").asi8,
        frame["open"].to_numpy(),
        frame["close"].to_numpy(),
        3_600 * 10**9,
    )


def test_whole_bar_level_shift_is_a_bad_tick(make_candles):
    frame = make_candles(n=200, seed=1)
    frame.iloc[100, :4] *= 1.5  # a decimal-style glitch: the whole bar sits 50% too high
    assert np.flatnonzero(bad_tick_mask(*_arrays(frame))).tolist() == [100]
    assert quality_report(frame)["outlier_timestamps"] == [
        str(frame.index[100].strftime("%Y-%m-%dT%H:%M:%SZ"))
    ]


def test_bad_close_print_is_a_bad_tick(make_candles):
    frame = make_candles(n=200, seed=2)
    frame.iloc[120, 3] *= 0.6  # close misprinted; the next bar still opens at the true level
    frame.iloc[120, 2] = min(frame.iloc[120, 2], frame.iloc[120, 3])  # keep OHLC consistent
    assert np.flatnonzero(bad_tick_mask(*_arrays(frame))).tolist() == [120]


def test_continuous_crash_and_rebound_is_not_a_bad_tick(make_candles):
    frame = make_candles(n=200, seed=3)
    crash = frame.iloc[100, 3] * 0.7  # -36% in an hour, then straight back: real trading
    frame.iloc[100, 3] = crash
    frame.iloc[100, 2] = min(frame.iloc[100, 2], crash)
    frame.iloc[101, 0] = crash  # the next bar opens where the crash bar closed
    frame.iloc[101, 2] = min(frame.iloc[101, 2], crash)
    r_out = np.log(frame.close.iloc[100] / frame.close.iloc[99])
    r_back = np.log(frame.close.iloc[101] / frame.close.iloc[100])
    assert r_out < -0.3 and r_back > 0.3  # a spike that reverts ...
    assert not bad_tick_mask(*_arrays(frame)).any()  # ... but continuous, so kept


def test_no_judgement_without_history(make_candles):
    frame = make_candles(n=60, seed=4)
    frame.iloc[10, :4] *= 1.5  # fewer than 24 trailing returns: not judged
    assert not bad_tick_mask(*_arrays(frame)).any()


def test_k_is_configurable(make_candles):
    frame = make_candles(n=200, seed=1)
    frame.iloc[100, :4] *= 1.05  # +5%: ~5 robust scales of 1% noise
    assert quality_report(frame, outlier_k=10)["outliers"] == 0
    assert quality_report(frame, outlier_k=3)["outliers"] == 1


# --- the shipped files -----------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["btc1h", "eth1h"])
def test_binance_files(preset):
    r = quality_report(load_candles(preset))
    assert (r["rows"], r["gaps"], r["gap_runs"], r["longest_gap"]) == (61_246, 122, 27, 33)
    assert (r["zero_volume"], r["flat"], r["zero_volume_and_flat"]) == (3, 3, 3)
    assert (r["invalid_ohlc"], r["nonpositive"], r["nan"], r["duplicates"]) == (0, 0, 0, 0)
    assert r["outliers"] == 0  # incl. 2020-03-12/13, 2018-10-15 and 2023-08-17: real moves
    assert r["zero_volume_timestamps"] == [
        "2019-06-07T21:00:00Z",
        "2021-02-11T03:00:00Z",
        "2023-03-24T12:00:00Z",
    ]
    assert r["expected_bars"] == 61_368 and r["valid_fraction"] == 61_243 / 61_368
    assert r["gap_list"][:2] == [
        {"first_missing": "2018-01-04T04:00:00Z", "bars": 1},
        {"first_missing": "2018-02-08T01:00:00Z", "bars": 33},
    ]
    assert r["gap_list"][-1] == {"first_missing": "2023-03-24T13:00:00Z", "bars": 1}


def test_bitstamp_2011_file():
    r = quality_report(read_candles_raw(BITSTAMP_2011.path))
    assert (r["rows"], r["zero_volume"], r["flat"], r["gaps"]) == (3_252, 2_918, 2_989, 0)
    assert r["flat"] - r["zero_volume_and_flat"] == 71  # flat hours that did trade
    assert r["usable_bars"] == 3_252 - 2_989 and r["valid_fraction"] == 263 / 3_252
    assert r["zero_volume_timestamps"] is None  # too many to list
