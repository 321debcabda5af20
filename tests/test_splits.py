"""Date splits per preset and purged/embargoed walk-forward folds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.presets import get_preset
from envs.splits import (
    Fold,
    folds_to_timestamps,
    split_bounds,
    split_index_range,
    walk_forward_folds,
)

UTC = "UTC"


@pytest.mark.parametrize("preset", ["btc1h", "eth1h"])
def test_split_bounds(preset):
    assert split_bounds(preset, "train") == (
        pd.Timestamp("2018-01-01", tz=UTC),
        pd.Timestamp("2023-01-01", tz=UTC),
    )
    assert split_bounds(get_preset(preset), "val") == (
        pd.Timestamp("2023-01-01", tz=UTC),
        pd.Timestamp("2024-01-01", tz=UTC),
    )
    assert split_bounds(preset, "test")[1] == pd.Timestamp("2025-01-01", tz=UTC)


def test_unknown_split_and_preset():
    with pytest.raises(KeyError, match="unknown split 'holdout'.*valid splits: train, val, test"):
        split_bounds("btc1h", "holdout")
    with pytest.raises(KeyError, match="valid presets: btc1d, btc1h, btc4h, eth1d, eth1h, eth4h"):
        split_bounds("doge", "train")


def test_split_index_range_half_open():
    idx = pd.date_range("2022-12-31 21:00", periods=6, freq="1h", tz=UTC)  # 21h .. 02h
    assert split_index_range(idx, "btc1h", "train") == (0, 3)  # 21, 22, 23 h of 2022
    assert split_index_range(idx, "btc1h", "val") == (3, 6)
    assert split_index_range(idx, "btc1h", "test") == (6, 6)  # empty, not an error
    with pytest.raises(ValueError, match="tz-naive"):
        split_index_range(idx.tz_localize(None), "btc1h", "train")
    with pytest.raises(ValueError, match="sorted"):
        split_index_range(idx[::-1], "btc1h", "train")


def test_split_index_range_real_btc():
    df = pd.read_csv("data/btcusdt_1h.csv.gz", usecols=["timestamp"])
    idx = pd.DatetimeIndex(pd.to_datetime(df["timestamp"], utc=True))
    lo, hi = split_index_range(idx, "btc1h", "train")
    vlo, vhi = split_index_range(idx, "btc1h", "val")
    tlo, thi = split_index_range(idx, "btc1h", "test")
    assert lo == 0 and hi == vlo and vhi == tlo and thi == len(idx)
    assert idx[hi - 1] == pd.Timestamp("2022-12-31 23:00", tz=UTC)
    assert idx[vlo] == pd.Timestamp("2023-01-01 00:00", tz=UTC)
    assert vhi - vlo == 8760 - 1  # 2023 has one missing hour (2023-03-24 13:00)
    assert thi - tlo == 8784  # 2024 is a leap year with no gaps


def test_walk_forward_hand_checked():
    folds = walk_forward_folds(100, 3, test_bars=20, purge_bars=5, embargo_bars=3)
    assert folds == [
        Fold(0, ((0, 35),), (40, 60)),
        Fold(1, ((0, 55),), (60, 80)),  # embargo [60, 63) is inside this fold's test block
        Fold(2, ((0, 60), (63, 75)), (80, 100)),  # [60, 63) after test block 0 embargoed
    ]
    assert folds[2].n_train == 72 and folds[2].train_span == (0, 75)
    np.testing.assert_array_equal(
        folds[2].train_indices(), np.r_[np.arange(0, 60), np.arange(63, 75)]
    )
    rolling = walk_forward_folds(
        100, 3, test_bars=20, purge_bars=5, embargo_bars=3, expanding=False, train_bars=30
    )
    assert [f.train_ranges for f in rolling] == [((5, 35),), ((25, 55),), ((45, 60), (63, 75))]


def test_walk_forward_default_test_bars_and_errors():
    folds = walk_forward_folds(100, 4, min_train_bars=20)
    assert [f.test for f in folds] == [(20, 40), (40, 60), (60, 80), (80, 100)]
    assert folds[0].train_ranges == ((0, 20),)
    folds = walk_forward_folds(103, 4, min_train_bars=20)  # remainder goes to the first train
    assert folds[0].test == (23, 43) and folds[-1].test == (83, 103)
    with pytest.raises(ValueError, match="keeps 15 training rows"):
        walk_forward_folds(100, 4, test_bars=20, min_train_bars=16, purge_bars=5)
    with pytest.raises(ValueError, match="exceed n_bars"):
        walk_forward_folds(100, 6, test_bars=20)
    with pytest.raises(ValueError, match="no room"):
        walk_forward_folds(10, 20)
    with pytest.raises(ValueError, match="expanding=False"):
        walk_forward_folds(100, 2, train_bars=10)


def test_folds_to_timestamps():
    idx = pd.date_range("2024-01-01", periods=10, freq="1h", tz=UTC)
    (f,) = folds_to_timestamps(idx, walk_forward_folds(10, 1, test_bars=4))
    assert f["test"] == (idx[6], idx[9] + pd.Timedelta("1h"))
    assert f["train"] == [(idx[0], idx[6])]


@settings(max_examples=50, deadline=None)
@given(
    n_bars=st.integers(20, 400),
    n_folds=st.integers(1, 6),
    purge=st.integers(0, 10),
    embargo=st.integers(0, 10),
    expanding=st.booleans(),
    data=st.data(),
)
def test_walk_forward_invariants(n_bars, n_folds, purge, embargo, expanding, data):
    max_test = (n_bars - 1 - purge) // n_folds
    if max_test < 1:
        return
    test_bars = data.draw(st.integers(1, max_test))
    train_bars = None if expanding else data.draw(st.integers(1, n_bars))
    try:
        folds = walk_forward_folds(
            n_bars,
            n_folds,
            test_bars=test_bars,
            purge_bars=purge,
            embargo_bars=embargo,
            expanding=expanding,
            train_bars=train_bars,
        )
    except ValueError as exc:  # only the documented "too few training rows" refusal
        assert "training rows" in str(exc)
        return
    assert len(folds) == n_folds and folds[-1].test[1] == n_bars
    embargoed: set[int] = set()
    for k, f in enumerate(folds):
        lo, hi = f.test
        assert hi - lo == test_bars and f.index == k
        if k:
            assert lo == folds[k - 1].test[1]  # ordered, contiguous, non-overlapping
        tr = f.train_indices()
        assert len(tr) == f.n_train >= 1
        assert np.all(np.diff(tr) > 0)
        assert tr.max() < lo - purge  # nothing within purge of (or after) the test start
        assert not embargoed & set(tr.tolist())
        if expanding and embargo == 0:
            np.testing.assert_array_equal(tr, np.arange(0, lo - purge))
        if not expanding:
            assert tr.min() >= lo - purge - train_bars
        embargoed |= set(range(hi, hi + embargo))


def test_date_range_with_warmup_takes_the_warmup_from_before_start():
    from envs.splits import date_range_with_warmup

    idx = pd.date_range("2024-01-01", periods=100, freq="1h", tz=UTC)
    assert date_range_with_warmup(idx, "2024-01-02", None, 10) == (14, 24, 100)
    assert date_range_with_warmup(idx, "2024-01-01T03:00", "2024-01-02", 10) == (0, 3, 24)
    with pytest.raises(ValueError, match="no bars in"):
        date_range_with_warmup(idx, "2025-01-01", None, 10)
