"""``decision_interval=k``: each action is held k bars (one fill, then no trade), rewards summed.

A hand-computed k=3 scenario, the equivalence with a k=1 env stepped with the same action k
times (per-bar numbers, early stops at gaps and terminations), the reward/equity identity,
single == batched for random k, the env checkers and the backtest runner's per-bar records.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hand_market import INDEX
from hand_market import hand_market as _hand_market
from hypothesis import given, settings
from hypothesis import strategies as st

from envs import BatchedTradingEnv, MarketData, TradingEnv
from envs.params import EnvParams

# one settlement, at the close of bar 2 (02:00 open -> 03:00 close)
FUNDING = pd.Series([0.001], index=pd.DatetimeIndex(["2021-01-01T03:00"], tz="UTC"))


def hand_market() -> MarketData:
    return _hand_market(FUNDING)


def test_hand_computed_k3_fill_once_hold_three_bars():
    env = TradingEnv(
        hand_market(), fee_bps=10, slippage_bps=5, dd_penalty=0.5, max_drawdown=None,
        decision_interval=3,
    )  # fmt: skip
    env.reset(options={"start": 0})
    # BUY at bar 0's close: one fill at open[1] = 101 with equity 1, then held over bars 1..3
    u = 1.0 / 101.0
    cash = 1.0 - u * 101.0 - 1.0 * (0.001 + 0.0005)
    e1 = cash + u * 102.0  # bar 1: no funding
    fund = 0.001 * u * 104.0  # bar 2's settlement, long pays
    cash -= fund
    e2 = cash + u * 104.0
    e3 = cash + u * 100.0  # bar 3: no trade, no cost
    assert 1.0 < e1 < e2 and e3 < e2  # peak at bar 2, drawdown at bar 3
    dd3 = 1.0 - e3 / e2
    per_bar = [math.log(e1), math.log(e2 / e1), math.log(e3 / e2) - 0.5 * dd3]
    obs, r, term, trunc, info = env.step(2)
    assert r == pytest.approx(sum(per_bar), abs=1e-12)
    assert (term, trunc, info["bar"], info["position"]) == (False, False, 3, 1.0)
    assert info["timestamp"] == INDEX[3].value
    assert info["fee"] == pytest.approx(0.001, abs=1e-15)
    assert info["slippage"] == pytest.approx(0.0005, abs=1e-15)
    assert info["turnover"] == pytest.approx(1.0, abs=1e-15)
    assert info["funding"] == pytest.approx(fund, abs=1e-15) and fund > 0
    assert info["equity"] == pytest.approx(e3, abs=1e-12)
    assert info["drawdown"] == pytest.approx(dd3, abs=1e-12)
    np.testing.assert_array_equal(obs[:2], [3.0, -3.0])  # bar 3's features (its close)
    np.testing.assert_allclose(
        obs[2:], [1.0, 100 / 101 - 1, dd3, math.log1p(3) / math.log1p(720)], rtol=1e-6
    )
    # SELL at bar 3's close: flip at open[4] = 99; the split ends after bar 6 (3 bars held)
    e_pre = cash + u * 99.0
    u2 = -e_pre / 99.0
    turnover = (u - u2) * 99.0
    cash = cash - (u2 - u) * 99.0 - turnover * 0.0015
    e6 = cash + u2 * 95.0
    obs, r, term, trunc, info = env.step(0)
    assert (term, trunc, info["bar"], info["position"]) == (False, True, 6, -1.0)
    assert info["turnover"] == pytest.approx(turnover, abs=1e-12)
    assert info["funding"] == 0.0 and info["equity"] == pytest.approx(e6, abs=1e-12)


def test_step_truncates_mid_interval_at_the_split_end():
    env = TradingEnv(hand_market(), max_drawdown=None, decision_interval=4)
    env.reset(options={"start": 3})
    *_, term, trunc, info = env.step(2)  # bars 4, 5, 6: the split ends after 3 of the 4
    assert (term, trunc, info["bar"]) == (False, True, 6)


def gap_market(seed: int = 0, n: int = 200) -> MarketData:
    """Violent synthetic market (3 % hourly vol), gaps after rows 70 and 140, funding / 8 h."""
    from conftest import synthetic_candles

    rng = np.random.default_rng(seed)
    c = synthetic_candles(n, seed=seed)
    close = 100 * np.exp(np.cumsum(rng.standard_normal(n) * 0.03))
    c["close"] = close
    c["open"] = np.concatenate([[100.0], close[:-1]]) * (1 + 0.002 * rng.standard_normal(n))
    c["high"] = np.maximum(c["open"], c["close"]) * 1.004
    c["low"] = np.minimum(c["open"], c["close"]) * 0.996
    c = c.drop(c.index[[71, 72, 142]])
    funding = pd.Series(
        rng.uniform(-0.003, 0.003, n // 8 + 1),
        index=pd.date_range("2020-01-01T01:00", periods=n // 8 + 1, freq="8h", tz="UTC"),
    )
    return MarketData.build(c, rng.standard_normal((len(c), 2)), funding, window=3)


OPTIONS = st.fixed_dictionaries(
    {
        "action": st.sampled_from(["discrete", "continuous"]),
        "fill": st.sampled_from(["next_open", "close"]),
        "slippage_model": st.sampled_from(["fixed", "range", "vol"]),
        "reward": st.sampled_from(["drawdown", "log_return", "dsr"]),
        "dd_penalty": st.sampled_from([0.0, 0.5]),
        "episode_length": st.sampled_from([None, 7, 30]),
        "max_drawdown": st.sampled_from([None, 0.05, 0.3]),
        "ruin_fraction": st.sampled_from([0.01, 0.95]),
        "reward_scale": st.sampled_from([1.0, 100.0]),
    }
)
PER_BAR_SUMS = ("fee", "slippage", "funding", "turnover")
LAST_BAR = ("equity", "position", "drawdown", "bar", "timestamp")


@settings(max_examples=30, deadline=None)
@given(opts=OPTIONS, k=st.integers(1, 5), seed=st.integers(0, 10_000))
def test_k_bar_step_equals_k_one_bar_steps_with_the_same_action(opts, k, seed):
    """The spec of the hold: a k-bar step is k one-bar steps re-choosing the same target,
    stopped at the bar where the episode ends; sums in bar order, so equality is exact."""
    m = gap_market(seed % 3)
    env_k = TradingEnv(m, decision_interval=k, **opts)
    env_1 = TradingEnv(m, **opts)
    rng = np.random.default_rng(seed)
    obs_k, info_k = env_k.reset(seed=seed)
    obs_1, _ = env_1.reset(options={"start": info_k["bar"]})
    for _ in range(25):
        if opts["action"] == "discrete":
            action = int(rng.integers(3))
        else:
            action = rng.uniform(-1.2, 1.2, 1).astype(np.float32)
        obs_k, r_k, term_k, trunc_k, info_k = env_k.step(action)
        sums, reward = dict.fromkeys(PER_BAR_SUMS, 0.0), 0.0
        for j in range(k):
            obs_1, r_1, term_1, trunc_1, info_1 = env_1.step(action)
            reward = r_1 if j == 0 else reward + r_1
            for key in PER_BAR_SUMS:
                sums[key] = info_1[key] if j == 0 else sums[key] + info_1[key]
            if term_1 or trunc_1:
                break
        assert r_k == reward
        assert (term_k, trunc_k) == (term_1, trunc_1)
        assert {key: info_k[key] for key in PER_BAR_SUMS} == sums
        assert {key: info_k[key] for key in LAST_BAR} == {key: info_1[key] for key in LAST_BAR}
        np.testing.assert_array_equal(obs_k, obs_1)
        if term_k or trunc_k:
            obs_k, info_k = env_k.reset()
            obs_1, _ = env_1.reset(options={"start": info_k["bar"]})


def test_a_step_stops_at_a_gap_mid_interval():
    m = gap_market(1)
    env = TradingEnv(m, decision_interval=5, episode_length=None, max_drawdown=None)
    last = int(env.episode_starts()[1]) - 1  # the first run ends...
    ok = env.tables.step_ok
    end = int(np.flatnonzero(ok[: last + 1])[-1])  # ...at its last decision bar
    env.reset(options={"start": end - 2})  # 3 bars left before the gap, k = 5
    *_, term, trunc, info = env.step(2)
    assert (term, trunc) == (False, True) and info["bar"] == end + 1
    assert info["timestamp"] == m.timestamps[end + 1]


def test_termination_stops_the_step_at_that_bar():
    m = gap_market(2)
    env_1 = TradingEnv(m, max_drawdown=0.02, episode_length=None)
    env_k = TradingEnv(m, max_drawdown=0.02, episode_length=None, decision_interval=50)
    t0 = int(env_1.tables.run_starts[0])
    env_1.reset(options={"start": t0})
    env_k.reset(options={"start": t0})
    bars = 0
    while True:
        *_, term, trunc, info_1 = env_1.step(2)
        bars += 1
        if term or trunc:
            break
    assert term and bars < 50  # a 2 % drawdown comes quickly at 3 % hourly vol
    *_, term_k, trunc_k, info_k = env_k.step(2)
    assert (term_k, trunc_k) == (True, False) and info_k["bar"] == info_1["bar"]


def test_rewards_sum_to_log_equity_ratio_without_dd_penalty():
    m = gap_market(0)
    env = TradingEnv(
        m, decision_interval=4, dd_penalty=0.0, max_drawdown=None, episode_length=None,
        fee_bps=10, slippage_model="range",
    )  # fmt: skip
    rng = np.random.default_rng(0)
    env.reset(options={"sequential": True})
    total, done, n_steps = 0.0, False, 0
    while not done:
        _, r, term, trunc, info = env.step(int(rng.integers(3)))
        total += r
        n_steps += 1
        done = term or trunc
    assert n_steps > 5
    assert total == pytest.approx(math.log(info["equity"] / 1.0), abs=1e-10)


def test_episode_length_counts_bars():
    env = TradingEnv(gap_market(0), decision_interval=4, episode_length=10, max_drawdown=None)
    _, info0 = env.reset(options={"start": 3})
    bars = []
    for _ in range(3):
        *_, term, trunc, info = env.step(2)
        bars.append(info["bar"] - info0["bar"])
    assert bars == [4, 8, 10] and trunc and not term  # 4 + 4 + 2 bars


@settings(max_examples=15, deadline=None)
@given(k=st.integers(1, 5), reward=st.sampled_from(["drawdown", "dsr"]), seed=st.integers(0, 99))
def test_batched_equals_single_for_any_k(k, reward, seed):
    m = gap_market(seed % 3)
    opts = dict(decision_interval=k, reward=reward, episode_length=12, max_drawdown=0.1)
    n = 4
    venv = BatchedTradingEnv(m, n, seed=seed, **opts)
    singles = [TradingEnv(m, **opts) for _ in range(n)]
    obs_b = venv.reset()
    obs_s = [env.reset(seed=seed + i)[0] for i, env in enumerate(singles)]
    np.testing.assert_array_equal(obs_b, np.stack(obs_s))
    rng = np.random.default_rng(seed)
    for _ in range(20):
        actions = rng.integers(0, 3, size=n)
        obs_b, rew_b, done_b, infos = venv.step(actions)
        for i, env in enumerate(singles):
            o, r, term, trunc, info = env.step(int(actions[i]))
            assert rew_b[i] == np.float32(r) and done_b[i] == (term or trunc)
            for key in ("equity", "fee", "slippage", "funding", "turnover", "drawdown", "bar"):
                assert venv.last_info[key][i] == info[key], key
            if term or trunc:
                np.testing.assert_array_equal(infos[i]["terminal_observation"], o)
                o, _ = env.reset()
            np.testing.assert_array_equal(obs_b[i], o)


@pytest.mark.parametrize("action", ["discrete", "continuous"])
def test_env_checkers_clean_with_k(action):
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = TradingEnv(gap_market(0), action=action, decision_interval=6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env, skip_render_check=True)
        sb3_check_env(env, warn=True, skip_render_check=True)


@pytest.mark.parametrize("bad", [0, -2, 2.5, True, "3"])
def test_decision_interval_is_validated(bad):
    with pytest.raises(ValueError, match="decision_interval"):
        EnvParams(decision_interval=bad)


class _Alternate:
    """Deterministic test policy: BUY, SELL, HOLD, ... one per call (calls counted)."""

    def __init__(self) -> None:
        self.calls = 0

    def bind(self, market, action_space) -> None:  # noqa: ANN001
        self.calls = 0

    def act(self, obs: np.ndarray, bar: np.ndarray) -> np.ndarray:
        a = (2, 0, 1)[self.calls % 3]
        self.calls += 1
        return np.array([a])


def test_runner_holds_actions_and_records_every_bar():
    from backtest.runner import run_env

    m = gap_market(0)
    k = 4
    env_k = TradingEnv(m, decision_interval=k, max_drawdown=None)
    with pytest.raises(ValueError, match="decision_interval=1"):
        run_env(_Alternate(), env_k, "x", periods_per_year=8760)
    policy = _Alternate()
    bt = run_env(policy, TradingEnv(m, max_drawdown=None), "x", periods_per_year=8760,
                 decision_interval=k)  # fmt: skip
    # the same pass on the k-bar env: its steps' equity lies on the runner's per-bar path
    ref, ts_end, eq_end = _Alternate(), [], []
    obs, info = env_k.reset(options={"sequential": True})  # the first run (carry 1.0: exact)
    done = False
    while not done:
        obs, _r, term, trunc, info = env_k.step(ref.act(obs[None], np.array([0]))[0])
        ts_end.append(m.timestamps[info["bar"]])
        eq_end.append(info["equity"])
        done = term or trunc
    first_run = int(bt.segment_starts[1]) if len(bt.segment_starts) > 1 else len(bt.positions)
    assert first_run == info["bar"] - int(env_k.episode_starts()[0])  # one record per bar
    pos = bt.positions[:first_run]
    for start in range(0, first_run, k):  # one position per k-bar block
        assert np.all(pos[start : start + k] == pos[start])
    assert len(np.unique(pos)) == 3
    at = np.searchsorted(bt.timestamps[:first_run], ts_end)
    np.testing.assert_array_equal(bt.timestamps[at], ts_end)
    np.testing.assert_array_equal(bt.equity[at + 1], eq_end)
    assert policy.calls > ref.calls == len(eq_end)  # the later runs were decided too
