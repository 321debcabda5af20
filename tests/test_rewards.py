"""The reward table (``envs.rewards``): every row complete, and the numba kernel's branch for it
agrees with the row's reference maths, bar by bar."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from envs.kernel import _reward
from envs.params import EnvParams
from envs.rewards import REWARD_CODES, REWARD_DOC, REWARD_TABLE, REWARDS, Reward, problems


def test_every_row_is_complete_and_reaches_params_and_docs() -> None:
    assert [p for r in REWARD_TABLE.values() for p in problems(r)] == []
    fields = set(EnvParams.__dataclass_fields__)
    assert all(set(r.params) <= fields for r in REWARD_TABLE.values())
    assert REWARDS == ("drawdown", "log_return", "dsr")
    assert EnvParams.__dataclass_fields__["reward"].metadata  # the option's doc is the table's
    assert REWARD_DOC.startswith("drawdown: R - dd_penalty * drawdown increase; log_return: R")
    with pytest.raises(ValueError, match="one of drawdown, log_return, dsr"):
        EnvParams(reward="sharpe")


def test_the_checker_flags_an_incomplete_row() -> None:
    bad = Reward("my reward", REWARD_CODES["dsr"], " ", (), None)  # type: ignore[arg-type]
    assert problems(bad) == [
        "reward name 'my reward' is not an option value",
        "my reward: no formula",
        "my reward: no reference maths",
    ]


@pytest.mark.parametrize("name", REWARDS)
def test_kernel_branch_equals_the_reference(name: str) -> None:
    p = replace(EnvParams(), reward=name, dd_penalty=0.7, dsr_eta=0.05)
    rng = np.random.default_rng(3)
    eq_prev, dd_prev, a, b = 1.0, 0.0, 0.0, p.dsr_var0
    ka, kb = a, b
    floor = p.ruin_fraction * p.initial_equity
    cfg = (0.0, floor, 2.0, REWARD_CODES[name], p.dd_penalty, p.dsr_eta)
    peak = 1.0
    for _ in range(50):
        eq = eq_prev * math.exp(rng.normal(0.0, 0.02))
        peak = max(peak, eq)
        dd = 1.0 - eq / peak
        want, a, b = REWARD_TABLE[name].reference(math.log(eq / eq_prev), dd, dd_prev, a, b, p)
        got, ka, kb = _reward(eq, eq_prev, dd, dd_prev, ka, kb, cfg)
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12)
        assert (ka, kb) == pytest.approx((a, b), rel=1e-12)
        eq_prev, dd_prev = eq, dd


def test_a_code_without_a_kernel_branch_gives_no_finite_reward() -> None:
    cfg = (0.0, 0.01, 2.0, 99.0, 0.5, 0.01)
    assert math.isnan(_reward(1.01, 1.0, 0.0, 0.0, 0.0, 1e-4, cfg)[0])
