"""Per-episode trading stats from step infos, checked against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.training.episode_stats import STEP_KEYS, EpisodeStats, summarize_episode
from backtest.metrics import position_shares


def _summ(steps: list[dict], start_equity: float = 1.0) -> dict[str, float]:
    cols = {k: np.array([s.get(k, 0.0) for s in steps]) for k in STEP_KEYS}
    return summarize_episode(*(cols[k] for k in STEP_KEYS), start_equity, 8760)


def test_summary_hand_computed() -> None:
    steps = [  # equity after the step, position held, costs paid in that step
        dict(equity=1.1, position=1.0, fee=0.001, slippage=0.0005, funding=0.0),
        dict(equity=0.99, position=1.0, fee=0.0, slippage=0.0, funding=0.0002),
        dict(equity=0.99, position=0.0, fee=0.001, slippage=0.0005, funding=0.0),
        dict(equity=1.05, position=-1.0, fee=0.001, slippage=0.0005, funding=-0.0001),
    ]
    out = _summ(steps)
    r = np.array([0.1, 0.99 / 1.1 - 1, 0.0, 1.05 / 0.99 - 1])
    assert math.isclose(out["final_equity"], 1.05)
    assert math.isclose(out["sharpe"], r.mean() / r.std(ddof=1) * math.sqrt(8760))
    assert math.isclose(out["max_drawdown"], 1 - 0.99 / 1.1)
    assert math.isclose(out["turnover"], 1 + 0 + 1 + 1)  # 0->1, 1->1, 1->0, 0->-1
    assert math.isclose(out["fees_paid"], 0.003)
    assert math.isclose(out["slippage_paid"], 0.0015)
    assert math.isclose(out["funding_paid"], 0.0001)
    assert math.isclose(out["costs_paid"], 0.0046)
    assert (out["share_short"], out["share_flat"], out["share_long"]) == (0.25, 0.25, 0.5)
    assert out["episode_steps"] == 4


def test_costs_are_fractions_of_start_equity() -> None:
    out = _summ([dict(equity=990.0, position=1.0, fee=10.0)], start_equity=1000.0)
    assert math.isclose(out["fees_paid"], 0.01) and math.isclose(out["final_equity"], 0.99)


def test_flat_episode_has_nan_sharpe_and_zero_drawdown() -> None:
    out = _summ([dict(equity=1.0, position=0.0)] * 5)
    assert math.isnan(out["sharpe"]) and out["max_drawdown"] == 0.0 and out["share_flat"] == 1.0


def _arrays(equity: list[float], position: list[float]) -> dict[str, np.ndarray]:
    n = len(equity)
    return dict(
        equity=np.array(equity),
        position=np.array(position),
        fee=np.zeros(n),
        slippage=np.zeros(n),
        funding=np.zeros(n),
    )


def test_stats_split_episodes_per_env_and_restart() -> None:
    stats = EpisodeStats(n_envs=2)
    no, env0 = np.array([False, False]), np.array([True, False])
    assert stats.step(_arrays([1.1, 1.0], [1.0, 0.0]), no) == []
    done = stats.step(_arrays([1.21, 1.0], [1.0, 0.0]), env0)  # env 0 ends after 2 steps
    assert len(done) == 1
    assert math.isclose(done[0]["final_equity"], 1.21) and done[0]["episode_steps"] == 2
    assert stats.step(_arrays([0.9, 1.0], [-1.0, 0.0]), no) == []
    done = stats.step(_arrays([0.99, 1.2], [-1.0, 1.0]), np.array([True, True]))
    assert [d["episode_steps"] for d in done] == [2, 4]  # env 0's second episode, env 1's first
    assert math.isclose(done[0]["final_equity"], 0.99)  # restarted from 1.0, not 1.21
    assert math.isclose(done[1]["final_equity"], 1.2)
    assert done[1]["share_flat"] == 0.75 and done[1]["turnover"] == 1.0
    assert stats._rows == []  # nothing kept once every episode is summarised


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1, 1, allow_nan=False), min_size=1, max_size=50))
def test_position_shares_partition(positions: list[float]) -> None:
    short, flat, long = position_shares(np.array(positions))
    assert math.isclose(short + flat + long, 1.0)
    assert min(short, flat, long) >= 0.0
