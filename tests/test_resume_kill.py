"""Kill anywhere, resume, lose nothing: SIGKILLed and resumed runs equal the uninterrupted run.

A tiny SAC and a tiny TQC (sb3-contrib) are each killed once, mid-run after a checkpoint, and
resumed: the replay buffer comes back from the checkpoint, so they too end bit-identical
(weights, metrics.json, every TensorBoard scalar, the newest replay file byte for byte).

A tiny PPO (4 envs x 32 steps per rollout, a checkpoint every rollout, 512 steps) runs once
uninterrupted; the same config runs in a subprocess that is SIGKILLed after its 1st checkpoint,
resumed and killed after its 2nd, resumed and killed during the final validation, then resumed to
the end. metrics.json and the final and best weights must be equal bit for bit.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch
import yaml

from agents.resume.checkpoints import latest_checkpoint

REPO = Path(__file__).resolve().parents[1]
TINY = {
    "env": {"n_envs": 4, "episode_length": 64},
    "ppo": {"n_steps": 32, "batch_size": 64, "n_epochs": 1},
    "train": {"eval_freq": 256, "n_eval_episodes": 2, "checkpoint_freq": 128},
}


TINY_SAC = {
    "env": {"n_envs": 4, "episode_length": 64},
    # 50 rows per env: the buffer has wrapped by the checkpoint the run is killed after
    "sac": {"buffer_size": 200, "learning_starts": 64, "batch_size": 32},
    "train": {"eval_freq": 256, "n_eval_episodes": 2, "checkpoint_freq": 128, "torch_threads": 1},
}


def _metrics(run: Path) -> dict:
    """metrics.json less ``next_command``, which names the run's own folder (killed/whole)."""
    metrics = json.loads((run / "metrics.json").read_text())
    return {k: v for k, v in metrics.items() if k != "next_command"}


def _cmd(*args: str, algo: str = "ppo") -> list[str]:
    """``python -m agents.ppo|sac`` (their own modules), ``python -m agents <algo>`` otherwise."""
    module = [f"agents.{algo}"] if algo in ("ppo", "sac") else ["agents", algo]
    return [sys.executable, "-m", *module, "--no-progress", *args]


def _run(args: list[str], log: Path) -> subprocess.CompletedProcess:
    with open(log, "ab") as fh:
        return subprocess.run(args, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT, timeout=600)


def _checkpoint_steps(run: Path) -> int:
    latest = run / "checkpoints" / "latest.json"
    try:
        return int(json.loads(latest.read_text())["num_timesteps"])
    except (OSError, ValueError, KeyError):
        return -1


def _kill_when(args: list[str], log: Path, ready) -> None:
    """Start ``args``; SIGKILL it as soon as ``ready()`` holds (it must not finish first)."""
    with open(log, "ab") as fh:
        proc = subprocess.Popen(args, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 600
        while not ready():
            assert proc.poll() is None, f"finished before the kill point: {log.read_text()[-800:]}"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()


def _weights(model_zip: Path) -> dict[str, torch.Tensor]:
    with zipfile.ZipFile(model_zip) as zf:
        return torch.load(io.BytesIO(zf.read("policy.pth")), weights_only=True)


def _assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


WALL_CLOCK = ("time/fps", "time/time_elapsed")  # the only logged values that may differ


def _tb_scalars(tb_dir: Path) -> dict[str, list[tuple[int, float | str]]]:
    """Every scalar event of the run's TensorBoard folder, file by file: tag -> [(step, value)].
    Read raw (an EventAccumulator would hide a duplicated step)."""
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto.event_pb2 import Event

    (run,) = [p for p in tb_dir.iterdir() if p.is_dir()]
    out: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(run.iterdir()):
        for raw in RawEventFileLoader(str(path)).Load():
            event = Event.FromString(raw)
            for v in event.summary.value:
                value = v.tensor.float_val[0] if v.HasField("tensor") else v.simple_value
                if v.tag not in WALL_CLOCK:  # NaN as a string: a flat eval's Sharpe equals itself
                    out.setdefault(v.tag, []).append(
                        (event.step, "nan" if value != value else value)
                    )
    return out


def _tb_logged_past(run: Path, step: int) -> bool:
    """Whether the run's TensorBoard files hold an event after ``step`` (read while written)."""
    try:
        return any(s > step for s, _ in sum(_tb_scalars(run / "tb").values(), []))
    except (OSError, ValueError):
        return False


@pytest.mark.slow
def test_sigkill_at_three_points_then_resume_is_bit_identical(tmp_path: Path) -> None:
    cfg = tmp_path / "tiny.yml"
    cfg.write_text(yaml.safe_dump(TINY))
    base = ["--env", "btc1h", "--seed", "3", "--timesteps", "512", "--config", str(cfg)]
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    log = tmp_path / "log.txt"

    assert _run(_cmd(*base, "--run-dir", str(whole)), log).returncode == 0

    # 1. killed right after its 1st checkpoint
    _kill_when(_cmd(*base, "--run-dir", str(killed)), log, lambda: _checkpoint_steps(killed) >= 128)
    # 2. resumed, killed after its 2nd checkpoint
    resume = _cmd("--resume", str(killed))
    _kill_when(resume, log, lambda: _checkpoint_steps(killed) >= 256)
    # 3. resumed, killed during the final validation (final checkpoint written, no metrics.json)
    _kill_when(resume, log, lambda: _checkpoint_steps(killed) >= 512)
    assert not (killed / "metrics.json").exists()
    # a SIGKILL inside model.save leaves a temp; the resume removes it
    stale = killed / "checkpoints" / ".model_640_steps.tmp99999.zip"
    stale.write_bytes(b"")
    # 4. resumed: completes the final validation
    assert _run(resume, log).returncode == 0, log.read_text()[-2000:]
    assert not stale.exists()
    assert latest_checkpoint(killed) == (killed / "checkpoints" / "model_512_steps.zip", 512)
    assert len((killed / "resumes.txt").read_text().splitlines()) == 3

    assert _metrics(killed) == _metrics(whole)
    _assert_same_weights(killed / "final_model.zip", whole / "final_model.zip")
    _assert_same_weights(killed / "best_model.zip", whole / "best_model.zip")
    scalars = _tb_scalars(killed / "tb")  # the same TensorBoard points, none logged twice
    assert scalars == _tb_scalars(whole / "tb")
    assert {"train/value_loss", "rollout/ep_rew_mean", "trading/final_equity"} <= scalars.keys()
    with (
        __import__("numpy").load(killed / "eval" / "evaluations.npz") as a,
        __import__("numpy").load(whole / "eval" / "evaluations.npz") as b,
    ):
        assert a["timesteps"].tolist() == b["timesteps"].tolist() == [256, 512]
        assert (a["results"] == b["results"]).all()

    # 5. resuming a finished run says so and exits 0, touching nothing
    out = subprocess.run(resume, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "finished" in out.stdout
    assert len((killed / "resumes.txt").read_text().splitlines()) == 3


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["sac", "tqc"])
def test_off_policy_sigkilled_after_a_checkpoint_resumes_bit_identical(
    tmp_path: Path, algo: str
) -> None:
    tiny = {**TINY_SAC, algo: TINY_SAC["sac"]}  # TQC takes SAC's keywords
    tiny = {k: v for k, v in tiny.items() if k in ("env", "train", algo)}
    cfg = tmp_path / "tiny.yml"
    cfg.write_text(yaml.safe_dump(tiny))
    # daily bars: a 364-row val split keeps the final validations short
    base = ["--env", "btc1d", "--seed", "5", "--timesteps", "384", "--config", str(cfg)]
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    log = tmp_path / "log.txt"
    assert _run(_cmd(*base, "--run-dir", str(whole), algo=algo), log).returncode == 0

    _kill_when(  # after the checkpoint at 256 steps and a TensorBoard point past it
        _cmd(*base, "--run-dir", str(killed), algo=algo),
        log,
        lambda: _checkpoint_steps(killed) >= 256 and _tb_logged_past(killed, 256),
    )
    assert not (killed / "final_model.zip").exists()
    assert (killed / "checkpoints" / "replay_256_steps.npz").is_file()
    resumed = _run(_cmd("--resume", str(killed), algo=algo), log)
    assert resumed.returncode == 0, log.read_text()[-2000:]
    assert len((killed / "resumes.txt").read_text().splitlines()) == 1
    assert f"TensorBoard {algo}_1: 1 event file(s) cut back to step 256" in log.read_text()

    assert _metrics(killed) == _metrics(whole)
    _assert_same_weights(killed / "final_model.zip", whole / "final_model.zip")
    _assert_same_weights(killed / "best_model.zip", whole / "best_model.zip")
    # the TensorBoard run: the same scalars at the same steps, none logged twice
    scalars = _tb_scalars(killed / "tb")
    assert scalars == _tb_scalars(whole / "tb")
    assert {"rollout/ep_rew_mean", "trading/final_equity", "train/ent_coef"} <= scalars.keys()
    assert len(list((killed / "tb").glob("*/*tfevents*"))) == 2  # killed + resumed
    # the whole run's newest buffer file equals the resumed run's, byte for byte
    name = "replay_384_steps.npz"
    assert (killed / "checkpoints" / name).read_bytes() == (
        whole / "checkpoints" / name
    ).read_bytes()
