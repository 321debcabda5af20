"""SAC's replay buffer in the resume state: plain arrays, exact round trip, and an in-process
save -> load -> restore -> learn that equals the uninterrupted SAC bit for bit (the fast
companion of the SAC case in test_resume_kill)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from agents.acting.safe_load import ModelLoadError, config_from_saved
from agents.resume.checkpoints import AtomicCheckpointCallback, latest_checkpoint
from agents.resume.replay_state import capture_replay, load_replay, restore_replay
from agents.resume.state import restore_run_state
from agents.training.models import build_model, load_model
from agents.training.vec_env import SB3BatchedTradingEnv
from envs import MarketData
from tests.conftest import synthetic_candles

WINDOW = 8
SAVED = {
    "algo": "sac",
    "env_name": "btc1h",
    "seed": 7,
    "env": {"window": WINDOW, "n_envs": 2, "action": "continuous"},
    "policy": {"net_arch": [16, 16], "share_features_extractor": False},
    # 30 rows per env: the buffer wraps before the checkpoint at 80 steps (40 rows)
    "sac": {"buffer_size": 60, "learning_starts": 16, "batch_size": 8},
}


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One thread: on a shared 2-core machine more threads only contend (10x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _market() -> MarketData:
    candles = synthetic_candles(300, seed=4)
    feats = np.random.default_rng(1).standard_normal((len(candles), 3))
    return MarketData.build(candles, feats, None, window=WINDOW, feature_names=("a", "b", "c"))


def _env(market: MarketData, seed: int) -> SB3BatchedTradingEnv:
    return SB3BatchedTradingEnv(
        market,
        2,
        (0, market.n_bars),
        seed=seed,
        funding=False,
        episode_length=12,  # episode ends inside the buffer: next_observations differ there
        action="continuous",
    )


def _fresh(cfg, market, run: Path):
    model = build_model(cfg, _env(market, cfg.seed), 3, tensorboard_log=None)
    cb = AtomicCheckpointCallback(run / "checkpoints", save_freq=40)
    cb.state_callbacks = [cb]
    return model, cb


def _assert_same_buffer(a, b) -> None:
    for name in ("observations", "next_observations", "actions", "rewards", "dones", "timeouts"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert (a.pos, a.full) == (b.pos, b.full)


def test_replay_round_trip_is_exact_and_stores_each_observation_once(tmp_path):
    cfg = config_from_saved(SAVED, "test")
    market = _market()
    model, cb = _fresh(cfg, market, tmp_path)
    model.learn(80, callback=cb)
    buf = model.replay_buffer
    assert buf.full and buf.pos == 10 and buf.dones.any()  # wrapped, with episode ends
    arrays = capture_replay(buf)
    n_ends = int(np.count_nonzero(buf.dones))  # next obs = terminal obs != next row's obs
    assert 1 + n_ends >= len(arrays["next_other"]) >= n_ends  # + the newest row
    assert arrays["observations"].dtype == np.float32

    other, _ = _fresh(cfg, market, tmp_path / "other")
    restore_replay(other.replay_buffer, arrays)
    _assert_same_buffer(buf, other.replay_buffer)


def test_sac_save_load_restore_learn_equals_uninterrupted(tmp_path):
    cfg = config_from_saved(SAVED, "test")
    market = _market()
    whole, cb = _fresh(cfg, market, tmp_path / "whole")
    whole.learn(160, callback=cb)

    run = tmp_path / "killed"
    first, cb = _fresh(cfg, market, run)
    first.learn(80, callback=cb)
    cb.save()  # the checkpoint the uninterrupted run writes at its next rollout start
    torch.manual_seed(1234)  # a new process: every RNG elsewhere
    np.random.seed(4321)  # noqa: NPY002
    path, steps = latest_checkpoint(run)
    assert steps == 80 and (run / "checkpoints" / "replay_80_steps.npz").is_file()
    model = load_model("sac", path, env=_env(market, 777), cfg=cfg, n_features=3)
    cb2 = AtomicCheckpointCallback(run / "checkpoints", save_freq=40)
    cb2.state_callbacks = [cb2]
    assert "replay buffer" in restore_run_state(run, model, cb2)
    _assert_same_buffer(first.replay_buffer, model.replay_buffer)
    model.learn(80, callback=cb2, reset_num_timesteps=False)

    assert model.num_timesteps == whole.num_timesteps == 160
    assert model._n_updates == whole._n_updates
    for (ka, va), (kb, vb) in zip(
        whole.policy.state_dict().items(), model.policy.state_dict().items(), strict=True
    ):
        assert ka == kb and torch.equal(va, vb), ka
    assert torch.equal(whole.log_ent_coef, model.log_ent_coef)
    _assert_same_buffer(whole.replay_buffer, model.replay_buffer)
    # only the newest checkpoint keeps its (large) buffer
    assert sorted(p.name for p in (run / "checkpoints").glob("replay_*")) == [
        "replay_120_steps.npz"
    ]


def test_bad_replay_files_are_refused(tmp_path):
    cfg = config_from_saved(SAVED, "test")
    market = _market()
    run = tmp_path / "run"
    model, cb = _fresh(cfg, market, run)
    model.learn(40, callback=cb)
    cb.save()
    replay = run / "checkpoints" / "replay_40_steps.npz"

    class Touch:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "pwned",))

    np.savez(tmp_path / "evil.npz", observations=np.array([Touch()], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle=False"):
        load_replay(model, tmp_path / "evil.npz")
    assert not (tmp_path / "pwned").exists()

    with np.load(replay) as data:  # a buffer of another size (buffer_size changed)
        arrays = {k: data[k] for k in data.files}
    np.savez(replay, **{**arrays, "buffer_size": np.asarray(99)})
    fresh, cb2 = _fresh(cfg, market, run)
    fresh.num_timesteps = 40
    with pytest.raises(ModelLoadError, match=r"unusable resume state .*replay buffer of 99 rows"):
        restore_run_state(run, fresh, cb)
    replay.unlink()
    with pytest.raises(ModelLoadError, match="replay_40_steps.npz is missing"):
        restore_run_state(run, fresh, cb)
