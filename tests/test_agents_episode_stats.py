"""Per-episode trading stats from step infos, checked against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.episode_stats import EpisodeStats, EpisodeTrace, position_shares


def test_trace_summary_hand_computed() -> None:
    trace = EpisodeTrace(start_equity=1.0)
    steps = [  # equity after the step, position held, costs paid in that step
        dict(equity=1.1, position=1.0, fee=0.001, slippage=0.0005, funding=0.0),
        dict(equity=0.99, position=1.0, fee=0.0, slippage=0.0, funding=0.0002),
        dict(equity=0.99, position=0.0, fee=0.001, slippage=0.0005, funding=0.0),
        dict(equity=1.05, position=-1.0, fee=0.001, slippage=0.0005, funding=-0.0001),
    ]
    for s in steps:
        trace.add(s)
    out = trace.summary(periods_per_year=8760)
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
    trace = EpisodeTrace(start_equity=1000.0)
    trace.add(dict(equity=990.0, position=1.0, fee=10.0))
    out = trace.summary()
    assert math.isclose(out["fees_paid"], 0.01) and math.isclose(out["final_equity"], 0.99)


def test_flat_episode_has_nan_sharpe_and_zero_drawdown() -> None:
    trace = EpisodeTrace()
    for _ in range(5):
        trace.add(dict(equity=1.0, position=0.0))
    out = trace.summary()
    assert math.isnan(out["sharpe"]) and out["max_drawdown"] == 0.0 and out["share_flat"] == 1.0


def test_stats_emit_one_summary_per_finished_env_and_restart() -> None:
    stats = EpisodeStats(n_envs=2)
    info = dict(equity=1.0, position=0.0)
    assert stats.step([info, info], np.array([False, False])) == []
    done = stats.step([dict(equity=1.2, position=1.0), info], np.array([True, False]))
    assert len(done) == 1 and math.isclose(done[0]["final_equity"], 1.2)
    assert done[0]["episode_steps"] == 2
    assert len(stats.traces[0].equity) == 0 and len(stats.traces[1].equity) == 2
    # infos without account keys (e.g. a reset-only info) are ignored, not crashed on
    assert stats.step([{}, {}], np.array([False, False])) == []


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1, 1, allow_nan=False), min_size=1, max_size=50))
def test_position_shares_partition(positions: list[float]) -> None:
    short, flat, long = position_shares(np.array(positions))
    assert math.isclose(short + flat + long, 1.0)
    assert min(short, flat, long) >= 0.0
