"""Gymnasium's and SB3's env checkers (warnings are errors) and hypothesis fuzzing of
random action sequences over every option combination."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs import MarketData, TradingEnv


@pytest.fixture(scope="module")
def market():
    from conftest import synthetic_candles

    c = synthetic_candles(600, seed=11)
    c = c.drop(c.index[[300, 301]])  # one gap
    f = np.random.default_rng(3).standard_normal((len(c), 4))
    f[:10] = np.nan
    return MarketData.build(c, f, None, window=8)


@pytest.mark.parametrize("action", ["discrete", "continuous"])
def test_gymnasium_check_env_without_warnings(market, action):
    from gymnasium.utils.env_checker import check_env

    env = TradingEnv(market, action=action)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env, skip_render_check=True)


@pytest.mark.parametrize("action", ["discrete", "continuous"])
def test_sb3_check_env_without_warnings(market, action):
    from stable_baselines3.common.env_checker import check_env

    env = TradingEnv(market, action=action)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env, warn=True, skip_render_check=True)


def test_gymnasium_make_registered_id_is_known():
    import gymnasium

    import envs  # registration happens at import

    assert envs.ENV_VERSION == 1
    for preset in ("btc1h", "eth1h"):
        assert f"TradingEnv-{preset}-v1" in gymnasium.registry  # the env's real version
        assert f"TradingEnv-{preset}-v0" in gymnasium.registry  # v1 at k=1 == v0


option_sets = st.fixed_dictionaries(
    {
        "action": st.sampled_from(["discrete", "continuous"]),
        "long_only": st.booleans(),
        "fill": st.sampled_from(["next_open", "close"]),
        "fee_bps": st.sampled_from([0.0, 10.0, 50.0]),
        "slippage_bps": st.sampled_from([0.0, 2.0]),
        "slippage_model": st.sampled_from(["fixed", "range", "vol"]),
        "funding": st.booleans(),
        "reward": st.sampled_from(["drawdown", "log_return", "dsr"]),
        "episode_length": st.sampled_from([None, 5, 50]),
        "max_drawdown": st.sampled_from([None, 0.1, 0.5]),
    }
)


@settings(max_examples=40, deadline=None)
@given(opts=option_sets, seed=st.integers(0, 2**16), n_steps=st.integers(1, 120))
def test_fuzz_random_actions_keep_accounting_sane(market_fuzz, opts, seed, n_steps):
    env = TradingEnv(market_fuzz, **opts)
    obs, info = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    prev_bar = info["bar"]
    for _ in range(n_steps):
        if opts["action"] == "discrete":
            a = int(rng.integers(3))
        else:
            a = rng.uniform(-1.5, 1.5, size=1).astype(np.float32)
        obs, r, term, trunc, info = env.step(a)
        assert env.observation_space.contains(obs)
        assert math.isfinite(r) and math.isfinite(info["equity"])
        for k in ("fee", "slippage", "turnover"):
            assert info[k] >= 0.0
        assert -1.0 <= info["position"] <= 1.0
        if opts["long_only"]:
            assert info["position"] >= 0.0
        assert info["drawdown"] >= 0.0
        assert info["bar"] == prev_bar + 1  # one bar per step, never across a gap
        assert market_fuzz.segment[info["bar"]] == market_fuzz.segment[prev_bar]
        prev_bar = info["bar"]
        if term or trunc:
            assert not (term and trunc)
            obs, info = env.reset()
            prev_bar = info["bar"]
            continue
        assert info["equity"] > 0.0  # positive until termination


@pytest.fixture(scope="module")
def market_fuzz():
    """A violent market (6 % hourly vol) with funding and a gap, so termination happens."""
    import pandas as pd
    from conftest import synthetic_candles

    c = synthetic_candles(400, seed=5)
    r = np.random.default_rng(9).standard_normal(400) * 0.06
    close = 100 * np.exp(np.cumsum(r))
    c["close"] = close
    c["open"] = np.concatenate([[100.0], close[:-1]])
    c["high"] = np.maximum(c["open"], c["close"]) * 1.01
    c["low"] = np.minimum(c["open"], c["close"]) * 0.99
    c = c.drop(c.index[[200]])
    funding = pd.Series(
        np.where(np.arange(50) % 2, 0.003, -0.002), index=c.index[::8][:50] + pd.Timedelta("1h")
    )
    f = np.random.default_rng(1).standard_normal((len(c), 2))
    return MarketData.build(c, f, funding, window=3)
