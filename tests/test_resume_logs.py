"""The logging half of a resume: TensorBoard event files cut back to the checkpoint's step (real
files written by torch's SummaryWriter, as SB3 writes them) and the trading/ episode statistics
carried across a resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
from tensorboard.compat.proto.event_pb2 import Event
from torch.utils.tensorboard import SummaryWriter

from agents.episode_stats import STEP_KEYS, EpisodeStats
from agents.resume_logs import trim_tensorboard


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
