"""A resume that fails (damaged checkpoint state, replay buffer or history, changed market file)
exits 2 with one line and leaves the run folder byte for byte as it was: nothing is appended
to resumes.txt, config.yaml and normaliser.json are not rewritten, no stale temp is removed.

One real tiny SAC run (daily bars, 128 steps, a checkpoint every 64) is trained in-process;
each case damages a copy of it and runs the CLI entry point as ``python -m agents.sac`` does.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
import yaml

from agents import sac
from envs.data import DataValidationError
from lab.cli import run_cli

TINY = {
    "env": {"n_envs": 2, "episode_length": 32},
    "sac": {"buffer_size": 100, "learning_starts": 32, "batch_size": 16},
    "train": {"eval_freq": 64, "n_eval_episodes": 1, "checkpoint_freq": 64, "torch_threads": 1},
}


@pytest.fixture(scope="module")
def sac_run(tmp_path_factory) -> Path:
    """A finished tiny SAC run folder with checkpoints at 64 and 128 steps."""
    root = tmp_path_factory.mktemp("refused")
    cfg = root / "tiny.yml"
    cfg.write_text(yaml.safe_dump(TINY))
    run = root / "run"
    before = torch.get_num_threads()
    try:
        sac.main(
            ["--env", "btc1d", "--seed", "2", "--timesteps", "128", "--no-progress"]
            + ["--config", str(cfg), "--run-dir", str(run)]
        )
    finally:
        torch.set_num_threads(before)
    assert (run / "checkpoints" / "replay_128_steps.npz").is_file()
    return run


def _snapshot(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in run.rglob("*") if p.is_file()}


def _resume_fails(run: Path, capsys, monkeypatch) -> str:
    """Resume ``run`` (to 256 steps) as the CLI does; exit 2, one line, nothing changed."""
    stale = run / "checkpoints" / ".model_192_steps.tmp4242.zip"  # a temp a SIGKILL left
    stale.write_bytes(b"")
    before = _snapshot(run)
    capsys.readouterr()
    argv = ["--resume", str(run), "--timesteps", "256", "--no-progress"]
    monkeypatch.setattr(sys, "argv", ["agents.sac", *argv])
    try:
        code = run_cli(sac.main, (DataValidationError,))
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    errors = [line for line in err.splitlines() if "error:" in line]
    assert "Traceback" not in err and len(errors) == 1, err  # (argparse adds its usage)
    assert _snapshot(run) == before  # resumes.txt absent, config.yaml (budget 128) untouched
    assert not (run / "resumes.txt").exists()
    return errors[0]


@pytest.fixture
def run(sac_run, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(sac_run, copy)
    (copy / "metrics.json").unlink()  # a run that was killed before its end
    return copy


def test_truncated_resume_state_is_refused(run, capsys, monkeypatch):
    state = run / "checkpoints" / "state_128_steps.npz"
    state.write_bytes(state.read_bytes()[:200])
    err = _resume_fails(run, capsys, monkeypatch)
    assert "state_128_steps.npz: unusable resume state" in err


def test_damaged_replay_buffer_is_refused(run, capsys, monkeypatch):
    replay = run / "checkpoints" / "replay_128_steps.npz"
    replay.write_bytes(b"PK\x03\x04 not a zip at all")
    err = _resume_fails(run, capsys, monkeypatch)
    assert "unusable resume state" in err


def test_missing_replay_buffer_is_refused(run, capsys, monkeypatch):
    (run / "checkpoints" / "replay_128_steps.npz").unlink()
    err = _resume_fails(run, capsys, monkeypatch)
    assert "replay_128_steps.npz is missing" in err


def test_changed_market_file_is_refused(run, capsys, monkeypatch):
    meta = json.loads((run / "meta.json").read_text())
    files = meta["market"]["files"]
    name = sorted(files)[0]
    files[name] = "0" * 64  # as if the data file had changed since the run started
    (run / "meta.json").write_text(json.dumps(meta))
    err = _resume_fails(run, capsys, monkeypatch)
    assert "changed since the run started" in err and name in err


def test_corrupt_model_checkpoint_is_refused(run, capsys, monkeypatch):
    ckpt = run / "checkpoints" / "model_128_steps.zip"
    ckpt.write_bytes(ckpt.read_bytes()[:-300])
    err = _resume_fails(run, capsys, monkeypatch)
    assert "model_128_steps.zip" in err
