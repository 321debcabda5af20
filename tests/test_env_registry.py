"""make_env / gymnasium.make on the shipped data: splits, normaliser, cache, registration."""

from __future__ import annotations

import gymnasium
import numpy as np
import pandas as pd
import pytest

import envs
import envs.registry
from envs.registry import load_market


@pytest.fixture(scope="module")
def train_env():
    return envs.make_env("btc1h", split="train")


def test_make_env_train_split_uses_train_bars_only(train_env):
    env = train_env
    m = env.market
    assert m.window == 32 and m.n_features == 15 and m.obs_dim == 32 * 15 + 4
    ts = pd.to_datetime(m.timestamps[env.tables.starts], utc=True)
    assert ts.min() >= pd.Timestamp("2018-01-01", tz="UTC")
    # the last decision bar's next bar (the one the position is held over) is still in 2022
    assert pd.Timestamp(m.timestamps[env.tables.starts.max() + 1], tz="UTC") < pd.Timestamp(
        "2023-01-01", tz="UTC"
    )
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    # normalised features: robust z-scores clipped at +-5
    assert np.abs(m.features).max() <= 5.0
    assert env.normaliser.fitted


def test_val_env_shares_the_train_normaliser_and_market(train_env):
    val = envs.make_env("btc1h", split="val")
    assert val.market is train_env.market  # cached: one load per (preset, features, window)
    ts = pd.to_datetime(val.market.timestamps[val.tables.starts], utc=True)
    assert ts.min() >= pd.Timestamp("2023-01-01", tz="UTC")
    assert ts.max() < pd.Timestamp("2024-01-01", tz="UTC")
    # a given (e.g. loaded) normaliser is used as is
    m2, norm2 = load_market("btc1h", normaliser=train_env.normaliser)
    np.testing.assert_array_equal(m2.features, train_env.market.features)
    assert norm2 is train_env.normaliser


def test_full_split_pass_is_deterministic():
    env = envs.make_env("btc1h", split="test", episode_length=None)
    starts = env.episode_starts()
    assert len(starts) >= 1
    _, info = env.reset(options={"sequential": True})
    assert info["bar"] == starts[0]
    n, done = 0, False
    while not done:
        _, _, term, trunc, info = env.step(1)
        n += 1
        done = term or trunc
    assert trunc and info["equity"] == 1.0  # flat all along: no cost, no funding
    # the run ends at the test split's last bar (2024 has no gap in the BTC file)
    assert pd.Timestamp(info["timestamp"], tz="UTC") == pd.Timestamp("2024-12-31T23:00", tz="UTC")


def test_gymnasium_make_registered_ids():
    env = gymnasium.make("TradingEnv-eth1h-v1", split="val", reward="log_return")
    obs, _ = env.reset(seed=1)
    assert obs.shape == (32 * 15 + 4,)
    assert env.unwrapped.params.reward == "log_return"
    obs, r, term, trunc, info = env.step(2)
    assert isinstance(r, float) and info["position"] == 1.0
    k3 = gymnasium.make("TradingEnv-eth1h-v1", split="val", decision_interval=3)
    assert k3.unwrapped.params.decision_interval == 3


def test_v0_ids_are_v1_at_one_bar_per_step_bit_for_bit():
    with pytest.warns(DeprecationWarning, match="out of date.*v1"):  # gymnasium points to v1
        v0 = gymnasium.make("TradingEnv-btc1h-v0", split="val", disable_env_checker=True)
    v1 = gymnasium.make("TradingEnv-btc1h-v1", split="val", disable_env_checker=True)
    assert v0.unwrapped.params == v1.unwrapped.params  # decision_interval 1
    a, _ = v0.reset(seed=3)
    b, _ = v1.reset(seed=3)
    np.testing.assert_array_equal(a, b)
    for action in [2, 2, 0, 1, 0, 2] * 5:
        x, y = v0.step(action), v1.step(action)
        np.testing.assert_array_equal(x[0], y[0])
        assert x[1:] == y[1:]
    with pytest.raises(ValueError, match="decision_interval=4 is not a v0 option.*-v1"):
        envs.registry.make_env_v0("btc1h", split="val", decision_interval=4)


def test_make_batched_env_matches_make_env():
    venv = envs.make_batched_env("btc1h", n_envs=2, split="val", seed=5)
    single = envs.make_env("btc1h", split="val")
    obs = venv.reset()
    np.testing.assert_array_equal(obs[1], single.reset(seed=6)[0])


def test_unknown_preset_and_option_are_clear_errors():
    with pytest.raises(KeyError, match="valid presets"):
        envs.make_env("doge1m")
    with pytest.raises(TypeError, match="unknown env option"):
        envs.make_env("btc1h", split="val", fee=3)


def test_envs_never_imports_torch_or_sb3():
    import subprocess
    import sys

    code = (
        "import sys, envs; envs.make_env('btc1h', split='val'); "
        "bad = [m for m in ('torch', 'stable_baselines3') if m in sys.modules]; "
        "assert not bad, bad"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-500:]
