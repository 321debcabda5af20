"""BatchedTradingEnv == N single TradingEnv seeded seed+i, bit for bit, with auto-reset."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from envs import BatchedTradingEnv, MarketData, TradingEnv


@pytest.fixture(scope="module")
def market() -> MarketData:
    """Violent synthetic market (4 % hourly vol) with two gaps and funding every 8 bars."""
    from conftest import synthetic_candles

    c = synthetic_candles(700, seed=21)
    r = np.random.default_rng(2).standard_normal(700) * 0.04
    close = 100 * np.exp(np.cumsum(r))
    c["close"] = close
    c["open"] = np.concatenate([[100.0], close[:-1]]) * (
        1 + 0.001 * np.random.default_rng(3).standard_normal(700)
    )
    c["high"] = np.maximum(c["open"], c["close"]) * 1.005
    c["low"] = np.minimum(c["open"], c["close"]) * 0.995
    c = c.drop(c.index[[250, 251, 480]])
    funding = pd.Series(
        np.random.default_rng(4).uniform(-0.003, 0.003, 80),
        index=pd.date_range("2020-01-01T08:00", periods=80, freq="8h", tz="UTC"),
    )
    f = np.random.default_rng(1).standard_normal((len(c), 3))
    f[:4] = np.nan
    return MarketData.build(c, f, funding, window=5)


CASES = [
    dict(),
    dict(reward="dsr", fill="close", slippage_model="vol", episode_length=40),
    dict(
        action="continuous",
        reward="log_return",
        slippage_model="range",
        max_drawdown=0.2,
        episode_length=None,
    ),
    dict(
        action="continuous",
        long_only=True,
        funding=False,
        reward="drawdown",
        dd_penalty=3.0,
        max_drawdown=0.1,
        episode_length=25,
        terminal_penalty=0.0,
    ),
    dict(long_only=True, max_drawdown=None, ruin_fraction=0.9, reward_scale=100.0),
]


@pytest.mark.parametrize("opts", CASES)
def test_batched_equals_single_envs_bit_for_bit(market, opts):
    n, seed, n_steps = 6, 100, 160
    split = (40, 640)
    venv = BatchedTradingEnv(market, n, split=split, seed=seed, **opts)
    singles = [TradingEnv(market, split=split, **opts) for _ in range(n)]
    obs_b = venv.reset()
    obs_s = [env.reset(seed=seed + i)[0] for i, env in enumerate(singles)]
    np.testing.assert_array_equal(obs_b, np.stack(obs_s))
    rng = np.random.default_rng(0)
    n_done = n_term = 0
    for _ in range(n_steps):
        if venv.params.action == "discrete":
            actions = rng.integers(0, 3, size=n)
        else:
            actions = rng.uniform(-1.2, 1.2, size=(n, 1)).astype(np.float32)
        obs_b, rew_b, done_b, infos = venv.step(actions)
        assert obs_b.dtype == np.float32 and rew_b.dtype == np.float32 and done_b.dtype == bool
        for i, env in enumerate(singles):
            o, r, term, trunc, info = env.step(actions[i])
            assert rew_b[i] == np.float32(r)
            assert done_b[i] == (term or trunc)
            for k in ("equity", "position", "fee", "slippage", "funding", "turnover", "drawdown"):
                assert venv.last_info[k][i] == info[k], k
            assert venv.last_info["bar"][i] == info["bar"]
            if term or trunc:
                n_done += 1
                n_term += term
                np.testing.assert_array_equal(infos[i]["terminal_observation"], o)
                assert infos[i]["TimeLimit.truncated"] == trunc
                assert infos[i]["equity"] == info["equity"]
                o, _ = env.reset()
            else:
                assert "terminal_observation" not in infos[i]
            np.testing.assert_array_equal(obs_b[i], o)
    assert n_done > 0  # the cases are built so that episodes end (and auto-reset) in the run
    if opts.get("max_drawdown") == 0.1:
        assert n_term > 0


def test_vecenv_plumbing(market):
    venv = BatchedTradingEnv(market, 3, seed=0)
    assert venv.num_envs == 3 and venv.observation_space.shape == (5 * 3 + 4,)
    assert venv.seed(7) == [7, 8, 9]
    a = venv.reset()
    b = BatchedTradingEnv(market, 3, seed=7).reset()
    np.testing.assert_array_equal(a, b)
    assert venv.get_attr("window") == [5, 5, 5]
    assert venv.env_is_wrapped(object, indices=[0, 2]) == [False, False]
    venv.set_options({"start": 100})
    obs = venv.reset()
    assert (venv._t == 100).all() and obs.shape == (3, 19)
    assert venv.reset_infos[0]["bar"] == 100
    venv.set_attr("foo", 1)
    assert venv.get_attr("foo", indices=1) == [1]
    assert venv.env_method("has_attr", "window", indices=[0, 1]) == [True, True]
    with pytest.raises(ValueError, match="discrete action"):
        venv.step(np.array([0, 1, 5]))
    with pytest.raises(RuntimeError, match="step_async"):
        venv.step_wait()
    venv.close()
    assert venv.closed


def test_obs_is_fresh_each_step(market):
    venv = BatchedTradingEnv(market, 4, seed=1)
    o1 = venv.reset()
    keep = o1.copy()
    o2, *_ = venv.step(np.ones(4, dtype=np.int64))
    assert not np.shares_memory(o1, o2)
    np.testing.assert_array_equal(o1, keep)
