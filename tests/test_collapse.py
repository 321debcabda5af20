"""Collapse diagnosis (``backtest.collapse``): a constant position is named, a trader is not."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backtest.collapse import collapse_label, constant_position
from backtest.runner import run_policy


@pytest.mark.parametrize(
    ("positions", "expected", "label"),
    [
        ([0.0, 1.0, 1.0, 1.0], 1.0, "always long"),
        ([0.0, -1.0, -1.0], -1.0, "always short"),
        ([0.0, 0.0, 0.0], 0.0, "always flat"),
        ([1.0, 0.5, 0.5], 0.5, "constant position +0.5"),
        ([0.0, 1.0, 0.0, 1.0], math.nan, None),
        ([0.0, 1.0, 1.0, -1.0], math.nan, None),
        ([1.0], math.nan, None),
    ],
)
def test_constant_position_cases(positions, expected, label):
    got = constant_position(np.array(positions))
    assert got == expected or (math.isnan(got) and math.isnan(expected))
    assert collapse_label(got) == label


@given(st.lists(st.sampled_from([-1.0, 0.0, 1.0]), min_size=2, max_size=50))
def test_constant_iff_one_value_after_first_bar(positions):
    got = constant_position(np.array(positions))
    held = set(positions[1:])
    if len(held) == 1:
        assert got == positions[1]
    else:
        assert math.isnan(got)


def test_real_backtests_buy_and_hold_collapsed_momentum_not():
    bh = run_policy("buy_and_hold", "btc1h", "val")
    mom = run_policy("momentum", "btc1h", "val")
    assert collapse_label(constant_position(bh.positions)) == "always long"
    assert math.isnan(constant_position(mom.positions))
