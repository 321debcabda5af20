"""A policy with memory (``backtest.policy.StatefulPolicy``): the runner starts its state afresh at
every episode and threads it through every decision; an ensemble carries one state per member;
stateless policies are stepped exactly as before."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from backtest.baselines import ConstantPolicy
from backtest.ensemble import EnsemblePolicy, action_space_of
from backtest.policy import PolicySpec, initial_state, is_stateful, position_to_action, step
from backtest.runner import CostOverrides, run_policy


@dataclass
class AlternatingPolicy:
    """Long on an episode's 1st, 3rd, ... decision and short on the 2nd, 4th, ...: only a state
    counting the episode's decisions can do that."""

    space: Any = None

    def bind(self, market: Any, action_space: Any) -> None:
        self.space = action_space

    def act(self, obs_batch: np.ndarray, bars: np.ndarray) -> np.ndarray:
        raise AssertionError("a stateful policy is stepped through act_state")

    def initial_state(self, n: int) -> np.ndarray:
        return np.zeros(n, dtype=np.int64)

    def act_state(self, obs_batch: np.ndarray, bars: np.ndarray, state: np.ndarray) -> tuple:
        pos = np.where(state % 2 == 0, 1.0, -1.0)
        return position_to_action(pos, self.space), state + 1


# no costs: an hourly long/short flip would otherwise ruin the account within months
FREE = CostOverrides(fee_bps=0.0, slippage_bps=0.0, funding=False)


def _expected(bt: Any) -> np.ndarray:
    """+1, -1, +1, ... restarting at every segment (episode) start."""
    starts = list(bt.segment_starts) + [len(bt.positions)]
    out = np.empty(len(bt.positions))
    for lo, hi in zip(starts[:-1], starts[1:], strict=True):
        out[lo:hi] = np.where(np.arange(hi - lo) % 2 == 0, 1.0, -1.0)
    return out


def test_the_runner_resets_and_threads_a_policys_state_per_episode() -> None:
    bt = run_policy(PolicySpec("alt", "alt", AlternatingPolicy()), "btc1h", "train", costs=FREE)
    assert len(bt.segment_starts) >= 10  # the train split's gaps: one episode per segment
    np.testing.assert_array_equal(bt.positions, _expected(bt))


def test_an_ensemble_threads_each_members_state() -> None:
    disc = action_space_of("discrete")
    ens = EnsemblePolicy("voting", [AlternatingPolicy(), AlternatingPolicy(), ConstantPolicy(0.0)],
                         [disc, disc, disc])  # fmt: skip
    assert is_stateful(ens) and initial_state(ens, 1)[2] is None
    bt = run_policy(PolicySpec("ens", "ens", ens), "btc1h", "train", costs=FREE)
    np.testing.assert_array_equal(bt.positions, _expected(bt))  # 2 of 3 members agree


def test_a_stateless_policy_is_stepped_through_act_with_no_state() -> None:
    policy = ConstantPolicy(1.0)
    policy.bind(None, action_space_of("discrete"))
    assert not is_stateful(policy) and initial_state(policy, 4) is None
    actions, state = step(policy, np.zeros((4, 3), np.float32), np.arange(4), None)
    assert state is None and actions.tolist() == [2, 2, 2, 2]
