"""Resume state: the batched env's get/set_state, and an in-process save -> load -> restore ->
learn that equals the uninterrupted learn bit for bit (the fast companion of test_resume_kill)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.acting.safe_load import config_from_saved
from agents.resume.checkpoints import AtomicCheckpointCallback, latest_checkpoint
from agents.resume.state import clean_stale_temps, latest_state_path, load, restore, run_is_finished
from agents.training.models import build_model, load_model
from agents.training.vec_env import SB3BatchedTradingEnv
from envs import MarketData
from tests.conftest import synthetic_candles

WINDOW = 8


def _market() -> MarketData:
    candles = synthetic_candles(300, seed=4)
    feats = np.random.default_rng(1).standard_normal((len(candles), 3))
    return MarketData.build(candles, feats, None, window=WINDOW, feature_names=("a", "b", "c"))


def _env(market: MarketData, seed: int) -> SB3BatchedTradingEnv:
    return SB3BatchedTradingEnv(
        market, 2, (0, market.n_bars), seed=seed, funding=False, episode_length=40
    )


def test_batched_env_state_round_trip():
    market = _market()
    a, b = _env(market, 0), _env(market, 99)
    a.reset()
    b.reset()
    actions = np.random.default_rng(0).integers(0, 3, size=(120, 2))
    for act in actions[:50]:
        a.step(act)
    b.set_state(
        json.loads(json.dumps({**a.get_state(), "accounts": a.get_state()["accounts"].tolist()}))
    )
    for act in actions[50:]:  # across episode ends: the start-drawing RNGs are restored too
        oa, ra, da, _ = a.step(act)
        ob, rb, db, _ = b.step(act)
        np.testing.assert_array_equal(oa, ob)
        np.testing.assert_array_equal(ra, rb)
        np.testing.assert_array_equal(da, db)


def test_save_load_restore_learn_equals_uninterrupted(tmp_path):
    saved = {
        "algo": "ppo",
        "env_name": "btc1h",
        "seed": 5,
        "env": {"window": WINDOW, "n_envs": 2},
        "ppo": {"n_steps": 16, "batch_size": 16, "n_epochs": 2},
    }
    cfg = config_from_saved(saved, "test")
    market = _market()

    def fresh(run):
        model = build_model(cfg, _env(market, cfg.seed), 3, tensorboard_log=None)
        cb = AtomicCheckpointCallback(run / "checkpoints", save_freq=32)
        cb.state_callbacks = [cb]
        return model, cb

    whole, cb = fresh(tmp_path / "whole")
    whole.learn(96, callback=cb)

    first, cb = fresh(tmp_path / "killed")
    first.learn(32, callback=cb)
    cb.save()  # the final checkpoint of the first part (as finish_training writes)
    torch.manual_seed(1234)  # a new process: every RNG elsewhere
    np.random.seed(4321)  # noqa: NPY002
    path, steps = latest_checkpoint(tmp_path / "killed")
    assert steps == 32
    model = load_model("ppo", path, env=_env(market, 777), cfg=cfg, n_features=3)
    cb2 = AtomicCheckpointCallback(tmp_path / "killed" / "checkpoints", save_freq=32)
    cb2.state_callbacks = [cb2]
    restore(model, cb2.state_callbacks, load(latest_state_path(tmp_path / "killed")))
    model.learn(64, callback=cb2, reset_num_timesteps=False)
    assert model.num_timesteps == whole.num_timesteps == 96
    for (ka, va), (kb, vb) in zip(
        whole.policy.state_dict().items(), model.policy.state_dict().items(), strict=True
    ):
        assert ka == kb and torch.equal(va, vb), ka


def test_stale_temps_and_finished_runs(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    stale = tmp_path / "checkpoints" / ".model_64_steps.tmp4242.zip"
    stale.write_bytes(b"")
    keep = tmp_path / "checkpoints" / "model_64_steps.zip"
    keep.write_bytes(b"x")
    assert clean_stale_temps(tmp_path) == [stale]
    assert keep.exists() and not stale.exists()
    assert not run_is_finished(tmp_path, 100)
    (tmp_path / "metrics.json").write_text(json.dumps({"num_timesteps": 100}))
    assert run_is_finished(tmp_path, 100) and not run_is_finished(tmp_path, 101)


def test_state_file_with_a_pickled_object_is_refused(tmp_path):
    class Touch:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "pwned",))

    np.savez(tmp_path / "state.npz", meta=np.array([Touch()], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle=False"):
        load(tmp_path / "state.npz")
    assert not (tmp_path / "pwned").exists()
