"""Cleaning: exact report on a known frame, the gate, outlier policies, invariants (hypothesis)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envs.data import (
    CleaningReport,
    DataQualityError,
    DataValidationError,
    clean,
    load_candles,
    load_clean,
)
from envs.presets import BITSTAMP_2011
from envs.segments import segment_ids


def iso(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def known_frame(make_candles) -> pd.DataFrame:
    """300 hourly bars with bars 200-202 missing, zero volume at 50, flat at 80, both at 120,
    and a bad tick (whole bar 50% too high, cut off from both neighbours) at 150."""
    frame = make_candles(n=300, seed=7)
    frame.iloc[50, 4] = 0.0
    frame.iloc[80, :4] = frame.iloc[79, 3]  # o = h = l = c = previous close, volume > 0
    frame.iloc[120, :4] = frame.iloc[119, 3]
    frame.iloc[120, 4] = 0.0
    frame.iloc[150, :4] *= 1.5
    return frame.drop(frame.index[200:203])


def test_known_frame_exact_report(make_candles):
    frame = known_frame(make_candles)
    before = frame.copy()
    cleaned, report = clean(frame, source="synthetic")
    full = make_candles(n=300, seed=7).index
    assert report.dropped == {
        "zero_volume": [iso(full[50]), iso(full[120])],
        "flat": [iso(full[80])],
        "outlier": [iso(full[150])],
    }
    assert (report.rows_before, report.rows_after, report.n_dropped) == (297, 293, 4)
    # 2 segments (the 200-202 gap), + one split per dropped interior bar
    assert (report.segments_before, report.segments_after) == (2, 6)
    assert segment_ids(cleaned.index)[-1] == 5
    # segments: 0-49, 51-79, 81-119, 121-149, 151-199, 203-299
    assert np.bincount(segment_ids(cleaned.index)).tolist() == [50, 29, 39, 29, 49, 97]
    assert report.longest_segment_after == 97
    assert report.valid_fraction == 293 / 300
    q = report.quality_before
    assert (q["gaps"], q["zero_volume"], q["flat"], q["outliers"]) == (3, 2, 2, 1)
    assert report.source == "synthetic" and report.min_valid_fraction == 0.9
    # nothing filled, nothing added: exactly the input minus the four dropped bars
    dropped = full[[50, 80, 120, 150]]
    pd.testing.assert_frame_equal(cleaned, frame.drop(dropped))
    pd.testing.assert_frame_equal(frame, before)  # input untouched
    assert json.loads(json.dumps(report.to_dict()))["n_dropped"] == 4
    text = report.summary()
    assert "297 -> 293 (4 dropped)" in text and "segments: 2 -> 6" in text


def test_outliers_keep_and_raise(make_candles):
    frame = known_frame(make_candles)
    bad = iso(make_candles(n=300, seed=7).index[150])
    cleaned, report = clean(frame, outliers="keep")
    assert (
        report.rows_after == 294
        and report.dropped["outlier"] == []
        and report.kept_outliers == [bad]
    )
    with pytest.raises(DataQualityError, match=f"1 bad tick\\(s\\) \\(k=10\\): {bad}"):
        clean(frame, outliers="raise")
    with pytest.raises(ValueError, match="outliers='fill'"):
        clean(frame, outliers="fill")


def test_gate_threshold(make_candles):
    frame = known_frame(make_candles)
    with pytest.raises(DataQualityError) as info:
        clean(frame, min_valid_fraction=0.99, source="synthetic")
    msg = str(info.value)
    assert "synthetic" in msg and "0.9767" in msg and "0.99" in msg
    assert "2 zero-volume, 2 flat (high == low), 1 bad ticks of 297 rows" in msg
    assert "3 missing bars of 300 expected" in msg


def test_gate_refuses_bitstamp_2011():
    with pytest.raises(DataQualityError) as info:
        clean(load_candles(BITSTAMP_2011.path))
    msg = str(info.value)
    assert BITSTAMP_2011.filename in msg
    assert "valid_fraction 0.0809" in msg and "min_valid_fraction 0.9" in msg
    assert "2,918 zero-volume, 2,989 flat (high == low), 0 bad ticks of 3,252 rows" in msg
    assert "--min-valid-fraction" in msg


def test_bitstamp_cleans_when_the_gate_is_lowered():
    cleaned, report = clean(load_candles(BITSTAMP_2011.path), min_valid_fraction=0.05)
    assert report.rows_after == 263 and len(report.dropped["zero_volume"]) == 2_918
    assert len(report.dropped["flat"]) == 71
    assert (cleaned.volume > 0).all() and (cleaned.high > cleaned.low).all()


def test_clean_refuses_invalid_input(make_candles):
    frame = make_candles(n=30)
    frame.iloc[5, 3] = np.nan
    with pytest.raises(DataValidationError, match="NaN or infinite values in column\\(s\\) close"):
        clean(frame, min_valid_fraction=0.0)


def test_load_clean_btc_is_cached_and_copied():
    cleaned, report = load_clean("btc1h")
    assert isinstance(report, CleaningReport)
    assert (report.rows_before, report.rows_after) == (61_246, 61_243)
    assert report.dropped["zero_volume"] == [
        "2019-06-07T21:00:00Z",
        "2021-02-11T03:00:00Z",
        "2023-03-24T12:00:00Z",
    ]
    assert report.segments_before == 28 and report.segments_after == 29
    cleaned.iloc[0, 0] = -1.0
    report.dropped.clear()
    again, report2 = load_clean("btc1h")
    assert again.iloc[0, 0] == 13715.65 and len(report2.dropped["zero_volume"]) == 3


# make_candles is a pure function, so sharing it across examples is safe
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(5, 120),
    data=st.data(),
)
def test_clean_invariants(seed, n, data, make_candles):
    frame = make_candles(n=n, seed=seed)
    positions = st.lists(st.integers(0, n - 1), max_size=n // 2, unique=True)
    zeroed, flattened, removed = data.draw(positions), data.draw(positions), data.draw(positions)
    frame.iloc[zeroed, 4] = 0.0
    for i in flattened:
        frame.iloc[i, :4] = frame.iloc[i, 3]
    frame = frame.drop(frame.index[removed])
    if len(frame) == 0:
        return
    cleaned, report = clean(frame, min_valid_fraction=0.0)
    assert (cleaned["volume"] != 0).all() and (cleaned["high"] != cleaned["low"]).all()
    assert cleaned.index.isin(frame.index).all() and len(cleaned) <= len(frame)
    listed = [t for stamps in report.dropped.values() for t in stamps]
    assert len(listed) == len(set(listed)) == len(frame) - len(cleaned)
    gone = frame.index.difference(cleaned.index)
    assert sorted(listed) == [iso(t) for t in gone]
    pd.testing.assert_frame_equal(cleaned, frame.loc[cleaned.index])  # values untouched
