"""Invariants of the action rules (envs.actions) on random markets and actions (hypothesis):
the band never trades inside the band, the minimum hold never changes the position before it
expires, every cost is in the equity and the reward; the kernel equals the plain-Python
reference with the rules on; single == batched bit for bit; the backtest runner's per-bar
pass equals the k-bar env with the rules on.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_env_kernel import check_against_reference, random_market

from backtest.runner import run_env
from envs import BatchedTradingEnv, TradingEnv
from envs import kernel as K

RULES = st.fixed_dictionaries(
    {
        "action": st.sampled_from(["discrete", "continuous"]),
        "no_trade_band": st.sampled_from([0.0, 0.1, 0.45, 1.0]),
        "min_hold": st.sampled_from([0, 1, 3, "5h"]),
        "vol_target": st.sampled_from([None, 0.3, 2.0]),
        "vol_window": st.sampled_from([5, "24h"]),
        "max_leverage": st.sampled_from([0.5, 1.0, 2.5]),
        "decision_interval": st.sampled_from([1, 2, "3h"]),
        "fee_bps": st.sampled_from([0.0, 10.0]),
        "fill": st.sampled_from(["next_open", "close"]),
    }
)


def _actions(env: TradingEnv, rng: np.random.Generator) -> object:
    if env.params.action == "discrete":
        return int(rng.integers(3))
    return rng.uniform(-1.2, 1.2, 1).astype(np.float32)


def _raw_target(env: TradingEnv, action: object) -> float:
    """The action's target before the rules (the env's own mapping, then the vol scaling)."""
    a = env.params.targets[action] if isinstance(action, int) else float(np.clip(action[0], -1, 1))
    if env.params.vol_target is not None:
        sigma = float(env.tables.sigma[env.t])
        a = a * env.params.vol_target / sigma if sigma > 0 else 0.0
    lev = env.params.max_leverage
    return min(max(a, -lev), lev)


@settings(max_examples=30, deadline=None)
@given(opts=RULES, seed=st.integers(0, 10_000))
def test_band_and_min_hold_invariants_and_costs_in_equity_and_reward(opts, seed):
    env = TradingEnv(random_market(seed % 5), reward="log_return", max_drawdown=None, **opts)
    p, rng = env.params, np.random.default_rng(seed)
    env.reset(seed=seed)
    last_trade_bar, pos, eq = None, 0.0, p.initial_equity
    for _ in range(80):
        action, t = _actions(env, rng), env.t
        raw = _raw_target(env, action)
        units_before = float(env._state[0, K.S_UNITS])
        _, reward, term, trunc, info = env.step(action)
        traded = info["position"] != pos
        assert traded == (info["turnover"] > 0.0 or (pos != 0 and info["position"] != pos))
        if abs(raw - pos) <= p.no_trade_band:  # inside the band: never a trade, never a cost
            assert not traded and info["turnover"] == info["fee"] == 0.0
        if last_trade_bar is not None and t - last_trade_bar < p.min_hold:  # frozen
            assert not traded and info["turnover"] == 0.0
        if traded:
            assert abs(info["position"] - pos) > p.no_trade_band
            last_trade_bar = t
        elif info["turnover"] == 0.0:
            assert info["fee"] == info["slippage"] == 0.0
        # costs are in the equity (fee, slippage, funding out of it) and in the reward
        assert reward == pytest.approx(math.log(info["equity"] / eq), rel=1e-9, abs=1e-12)
        if p.decision_interval == 1 and p.fill == "next_open":
            close_prev = float(env.market.close[t])
            o, c = float(env.market.open[t + 1]), float(env.market.close[t + 1])
            units = float(env._state[0, K.S_UNITS])
            expected = (eq + units_before * (o - close_prev) - info["fee"] - info["slippage"]
                        + units * (c - o) - info["funding"])  # fmt: skip
            assert info["equity"] == pytest.approx(expected, rel=1e-9, abs=1e-12)
        pos, eq = info["position"], info["equity"]
        if term or trunc:
            env.reset()
            last_trade_bar, pos, eq = None, 0.0, p.initial_equity


@settings(max_examples=25, deadline=None)
@given(opts=RULES, seed=st.integers(0, 10_000))
def test_kernel_matches_the_reference_with_the_action_rules(opts, seed):
    base = dict(long_only=False, slippage_bps=2.0, slippage_model="fixed", funding=True)
    base |= dict(reward="drawdown", dd_penalty=0.5, episode_length=50, max_drawdown=None)
    base |= dict(ruin_fraction=0.01, reward_scale=1.0, initial_equity=1.0)
    check_against_reference({**base, **opts}, seed)


@settings(max_examples=10, deadline=None)
@given(opts=RULES, seed=st.integers(0, 1000))
def test_batched_equals_single_with_the_action_rules(opts, seed):
    m, n = random_market(seed % 5), 3
    venv = BatchedTradingEnv(m, n, seed=seed, episode_length=30, **opts)
    singles = [TradingEnv(m, episode_length=30, **opts) for _ in range(n)]
    obs_b = venv.reset()
    obs_s = [env.reset(seed=seed + i)[0] for i, env in enumerate(singles)]
    np.testing.assert_array_equal(obs_b, np.stack(obs_s))
    rng = np.random.default_rng(seed)
    for _ in range(40):
        if venv.params.action == "discrete":
            actions = rng.integers(3, size=n)
        else:
            actions = rng.uniform(-1.2, 1.2, (n, 1)).astype(np.float32)
        obs_b, rew_b, done_b, _ = venv.step(actions)
        for i, env in enumerate(singles):
            a = int(actions[i]) if venv.params.action == "discrete" else actions[i]
            obs, rew, term, trunc, info = env.step(a)
            assert (term or trunc) == done_b[i]
            assert np.float32(rew) == rew_b[i]
            for k in ("equity", "position", "fee", "turnover", "funding"):
                assert venv.last_info[k][i] == info[k], k
            if term or trunc:
                obs, _ = env.reset()
            np.testing.assert_array_equal(obs_b[i], obs)


class _Cycle:
    """BUY, SELL, HOLD, SELL, BUY, ... one per call."""

    def bind(self, market, action_space) -> None:  # noqa: ANN001
        self.calls = 0

    def act(self, obs: np.ndarray, bar: np.ndarray) -> np.ndarray:
        self.calls += 1
        return np.array([(2, 0, 1, 0, 2)[(self.calls - 1) % 5]])


@pytest.mark.parametrize("rules", [dict(min_hold=5), dict(no_trade_band=1.0), dict(vol_target=0.5)])
def test_runner_per_bar_pass_equals_the_k_bar_env_with_the_rules(rules):
    """The runner steps a k=1 env and holds (TradingEnv.hold) between decisions: its equity
    at each k-bar env step's end is that env's, bit for bit, with the rules on."""
    m, k = random_market(3), 3
    env_k = TradingEnv(m, decision_interval=k, max_drawdown=None, **rules)
    bt = run_env(_Cycle(), TradingEnv(m, max_drawdown=None, **rules), "x", periods_per_year=8760,
                 decision_interval=k)  # fmt: skip
    ref, eq_end, ts_end, pos_end = _Cycle(), [], [], []
    ref.bind(m, None)
    obs, info = env_k.reset(options={"sequential": True})
    done = False
    while not done:
        obs, _r, term, trunc, info = env_k.step(int(ref.act(obs[None], np.array([0]))[0]))
        eq_end.append(info["equity"])
        ts_end.append(m.timestamps[info["bar"]])
        pos_end.append(info["position"])
        done = term or trunc
    at = np.searchsorted(bt.timestamps, ts_end)
    np.testing.assert_array_equal(bt.equity[at + 1], eq_end)
    np.testing.assert_array_equal(bt.positions[at], pos_end)
