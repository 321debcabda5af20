"""The logging half of a resume: TensorBoard event files cut back to the checkpoint's step (real
files written by torch's SummaryWriter, as SB3 writes them) and the trading/ episode statistics
carried across a resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
from tensorboard.compat.proto.event_pb2 import Event
from torch.utils.tensorboard import SummaryWriter

from agents.resume.logs import trim_tensorboard
from agents.training.episode_stats import STEP_KEYS, EpisodeStats


def _events(path: Path) -> list[tuple[int, str, float]]:
    out = []
    for raw in RawEventFileLoader(str(path)).Load():
        event = Event.FromString(raw)
        out.extend((event.step, v.tag, v.simple_value) for v in event.summary.value)
    return out


def test_event_files_are_cut_back_to_the_checkpoint_step(tmp_path):
    folder = tmp_path / "ppo_1"
    writer = SummaryWriter(str(folder))
    for step in range(0, 100, 10):
        writer.add_scalar("train/loss", step / 7, step)
        writer.add_scalar("trading/sharpe", -step / 3, step)
    writer.close()
    (path,) = folder.iterdir()
    full = _events(path)
    with open(path, "ab") as fh:  # a record torn by the SIGKILL
        fh.write(b"\x20\x00\x00\x00\x00\x00\x00\x00\x01\x02")

    assert trim_tensorboard(folder, 40) == [path]
    kept = _events(path)
    assert kept == [e for e in full if e[0] <= 40] and len(kept) == 10
    assert Event.FromString(next(iter(RawEventFileLoader(str(path)).Load()))).file_version
    before = path.read_bytes()
    assert trim_tensorboard(folder, 40) == []  # nothing past step 40: not rewritten
    assert path.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == [path.name]  # no temp left
    assert trim_tensorboard(tmp_path / "missing", 40) == []


def _steps(n_steps: int, n_envs: int, seed: int):
    rng = np.random.default_rng(seed)
    for t in range(n_steps):
        arrays = {k: rng.standard_normal(n_envs) for k in STEP_KEYS}
        arrays["equity"] = 1.0 + 0.01 * rng.standard_normal(n_envs)
        yield arrays, rng.random(n_envs) < 0.1 if t else np.zeros(n_envs, bool)


def test_episode_stats_resume_mid_episode_equals_uninterrupted():
    whole, first = EpisodeStats(3), EpisodeStats(3)
    steps = list(_steps(120, 3, seed=5))
    expected = [s for a, d in steps for s in whole.step(a, d)]
    got = [s for a, d in steps[:57] for s in first.step(a, d)]
    state = {k: v.copy() for k, v in first.get_state().items()}
    assert state["rows"].shape[1:] == (len(STEP_KEYS), 3)
    resumed = EpisodeStats(3)
    resumed.set_state(state)
    got += [s for a, d in steps[57:] for s in resumed.step(a, d)]
    assert len(expected) > 20
    np.testing.assert_equal(got, expected)


def test_checkpoint_carries_episode_counters_and_pending_logger_values(tmp_path):
    import torch
    from stable_baselines3.common.callbacks import CallbackList
    from stable_baselines3.common.vec_env import VecMonitor

    from agents.acting.safe_load import config_from_saved
    from agents.resume.checkpoints import AtomicCheckpointCallback
    from agents.resume.logs import resume_tensorboard
    from agents.resume.state import latest_state_path, load, restore_run_state
    from agents.training.callbacks import TradingMetricsCallback
    from agents.training.models import build_model, load_model
    from agents.training.vec_env import SB3BatchedTradingEnv
    from envs import MarketData
    from tests.conftest import synthetic_candles

    candles = synthetic_candles(300, seed=4)
    feats = np.random.default_rng(1).standard_normal((len(candles), 3))
    market = MarketData.build(candles, feats, None, window=8, feature_names=("a", "b", "c"))
    saved = {"algo": "ppo", "env_name": "btc1h", "seed": 5, "env": {"window": 8, "n_envs": 2}}
    saved["ppo"] = {"n_steps": 16, "batch_size": 16, "n_epochs": 1}
    cfg = config_from_saved(saved, "test")

    def parts(seed: int):
        env = VecMonitor(
            SB3BatchedTradingEnv(market, 2, (0, market.n_bars), seed=seed, episode_length=20)
        )
        ckpt = AtomicCheckpointCallback(tmp_path / "checkpoints", save_freq=32)
        trading = TradingMetricsCallback()
        root = CallbackList([trading, ckpt])
        ckpt.state_callbacks = [root, trading, ckpt]
        return env, ckpt, trading, root

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        env, ckpt, trading, root = parts(cfg.seed)
        model = build_model(cfg, env, 3, tensorboard_log=str(tmp_path / "tb"))
        model.learn(64, callback=root, tb_log_name="ppo")
        ckpt.save()  # at 64 steps: mid-episode (20 bars), PPO's train/* values not dumped yet
        pending = dict(model.logger.name_to_value)
        assert any(k.startswith("train/") for k in pending) and len(model.ep_info_buffer) > 0

        env2, ckpt2, trading2, _ = parts(99)
        path = tmp_path / "checkpoints" / "model_64_steps.zip"
        resumed = load_model("ppo", path, env=env2, cfg=cfg, n_features=3)
        restore_run_state(tmp_path, resumed, ckpt2)
        assert list(resumed.ep_info_buffer) == list(model.ep_info_buffer)
        assert [type(e["r"]) for e in resumed.ep_info_buffer][0] is np.float32
        np.testing.assert_array_equal(env2.episode_returns, env.episode_returns)
        assert env2.episode_count == env.episode_count > 0
        want = trading.stats.get_state()
        for key, value in trading2.restored_stats.items():
            np.testing.assert_array_equal(value, want[key])
        assert trading2.episodes == trading.episodes > 0

        resume_tensorboard(resumed, "ppo", load(latest_state_path(tmp_path)))
        assert dict(resumed.logger.name_to_value) == pending
        assert {type(v) for v in resumed.logger.name_to_value.values()} == {
            type(v) for v in pending.values()
        }
    finally:
        torch.set_num_threads(before)
