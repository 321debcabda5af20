"""SB3 accepts BatchedTradingEnv through a one-line adapter (the adapter lives in agents;
this test writes its own so envs never imports SB3)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from envs import BatchedTradingEnv, MarketData


@pytest.fixture(scope="module")
def market() -> MarketData:
    from conftest import synthetic_candles

    c = synthetic_candles(800, seed=3)
    c = c.drop(c.index[[400]])
    f = np.random.default_rng(0).standard_normal((len(c), 3))
    return MarketData.build(c, f, None, window=4)


def make_adapter():
    from stable_baselines3.common.vec_env import VecEnv

    class SB3BatchedTradingEnv(BatchedTradingEnv, VecEnv):
        """The whole adapter: BatchedTradingEnv already implements VecEnv's methods."""

    return SB3BatchedTradingEnv


@pytest.mark.parametrize("action,algo", [("discrete", "PPO"), ("continuous", "PPO")])
def test_ppo_trains_on_the_batched_env_through_vecmonitor(market, action, algo):
    import stable_baselines3
    from stable_baselines3.common.vec_env import VecEnv, VecMonitor

    adapter = make_adapter()
    venv = adapter(market, 8, seed=0, action=action, episode_length=30)
    assert isinstance(venv, VecEnv)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        monitored = VecMonitor(venv)
        model = getattr(stable_baselines3, algo)(
            "MlpPolicy",
            monitored,
            n_steps=32,
            batch_size=64,
            n_epochs=1,
            seed=0,
            device="cpu",
            policy_kwargs=dict(net_arch=[16]),
        )
        model.learn(total_timesteps=600)
    assert model.num_timesteps >= 600
    # VecMonitor saw finished episodes: 30-step episodes over 8 envs in 600+ steps
    assert len(model.ep_info_buffer) > 0
    assert all(ep["l"] <= 30 for ep in model.ep_info_buffer)
    obs = monitored.reset()
    assert obs.shape == (8, 4 * 3 + 4)
