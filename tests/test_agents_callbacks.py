"""AtomicCheckpointCallback: atomic files, latest.json last, keep the newest K."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.resume.checkpoints import AtomicCheckpointCallback, latest_checkpoint


class _StubModel:
    """Just what the callback touches: save(path) and get_env()."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def save(self, path: Path) -> None:
        Path(path).write_bytes(b"weights")
        if self.fail:
            raise OSError("disk full")

    def get_env(self) -> None:
        return None


def _callback(tmp_path: Path, keep: int, model: _StubModel) -> AtomicCheckpointCallback:
    cb = AtomicCheckpointCallback(tmp_path / "checkpoints", save_freq=100, keep=keep)
    cb.model = model  # type: ignore[assignment]
    (tmp_path / "checkpoints").mkdir()
    return cb


def test_keeps_newest_k_and_points_latest_at_the_last(tmp_path: Path) -> None:
    cb = _callback(tmp_path, keep=2, model=_StubModel())
    for steps in (100, 200, 300):
        cb.num_timesteps = steps
        cb.save()
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["latest.json", "model_200_steps.zip", "model_300_steps.zip"]
    meta = json.loads((tmp_path / "checkpoints" / "latest.json").read_text())
    assert meta == {
        "num_timesteps": 300,
        "model": "model_300_steps.zip",
        "vecnormalize": None,
        "state": None,
    }
    assert latest_checkpoint(tmp_path) == (tmp_path / "checkpoints" / "model_300_steps.zip", 300)


def test_failed_save_leaves_previous_checkpoint_and_latest(tmp_path: Path) -> None:
    cb = _callback(tmp_path, keep=3, model=_StubModel())
    cb.num_timesteps = 100
    cb.save()
    cb.model = _StubModel(fail=True)  # type: ignore[assignment]
    cb.num_timesteps = 200
    with pytest.raises(OSError):
        cb.save()
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["latest.json", "model_100_steps.zip"]  # no temp file, no half checkpoint
    assert latest_checkpoint(tmp_path) == (tmp_path / "checkpoints" / "model_100_steps.zip", 100)


def test_no_checkpoint_yet(tmp_path: Path) -> None:
    assert latest_checkpoint(tmp_path) is None
