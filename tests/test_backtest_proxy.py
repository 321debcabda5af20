"""The fast decision-rule proxy (``backtest.proxy``) agrees with the one runner (``backtest.runner``)."""

from __future__ import annotations

import numpy as np
import pytest

from backtest.metrics import sharpe_ratio
from backtest.proxy import backtest_actions, rank_score
from backtest.runner import run_env
from envs import make_env


class ActionsByBar:
    """A fixed SELL/HOLD/BUY action per market bar (what a classifier's rule path is)."""

    def __init__(self, actions: np.ndarray) -> None:
        self.actions = actions

    def bind(self, market: object, action_space: object) -> None:
        pass

    def act(self, obs_batch: np.ndarray, bars: np.ndarray) -> np.ndarray:
        return self.actions[np.asarray(bars)]


def _both(actions_of: object) -> tuple[dict[str, float], dict[str, float]]:
    env = make_env("btc1h", split="val", feature_set="core17", window=32, max_drawdown=None)
    m = env.market
    lo, hi = env.tables.lo, env.tables.hi
    acts = actions_of(len(m.close))
    bt = run_env(ActionsByBar(acts), env, "fixed", periods_per_year=8760)
    ok = m.obs_ok[lo:hi] & m.can_step[lo:hi]
    fund = np.where(env.params.funding, m.funding[lo : hi + 1], 0.0)
    proxy = backtest_actions(acts[lo:hi], m.open[lo : hi + 1], m.close[lo : hi + 1], ok, fund)
    return proxy, bt.summary()


def test_proxy_agrees_with_the_runner_on_a_trading_path() -> None:
    def blocks(n: int) -> np.ndarray:  # a seeded position held for 48 bars at a time
        rng = np.random.default_rng(7)
        return np.repeat(rng.integers(0, 3, size=n // 48 + 1), 48)[:n]

    proxy, runner = _both(blocks)
    assert proxy["total_log_return"] == pytest.approx(np.log1p(runner["total_return"]), abs=0.02)
    assert proxy["sharpe"] == pytest.approx(runner["sharpe"], abs=0.05)
    assert proxy["score"] == proxy["sharpe"]


def test_proxy_and_runner_share_the_nan_convention_for_a_flat_path() -> None:
    proxy, runner = _both(lambda n: np.ones(n, dtype=np.int64))  # HOLD from flat: never trades
    assert np.isnan(proxy["sharpe"]) and np.isnan(runner["sharpe"])
    assert proxy["score"] == 0.0 and proxy["total_log_return"] == 0.0
    assert np.isnan(sharpe_ratio(np.zeros(10), 8760))


def test_rank_score_ranks_an_undefined_sharpe_as_zero() -> None:
    assert rank_score(float("nan")) == 0.0
    assert rank_score(-0.5) == -0.5 and rank_score(1.25) == 1.25
