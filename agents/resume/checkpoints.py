"""Atomic checkpoints of a training run and finding the newest complete one.

``AtomicCheckpointCallback`` writes ``checkpoints/model_<steps>_steps.zip`` with the resume state
(``agents.resume.state``) and ``latest.json`` last; ``latest_checkpoint(run_dir)`` reads it back.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecNormalize

from agents.resume.replay_state import REPLAY_FMT as _REPLAY_FMT
from agents.resume.replay_state import prune as prune_replays
from agents.resume.state import save as save_state
from lab.atomic import atomic_save, atomic_write_json

CHECKPOINT_DIR = "checkpoints"
LATEST = "latest.json"
_CKPT_RE = re.compile(r"^model_(\d+)_steps\.zip$")


class AtomicCheckpointCallback(BaseCallback):
    """Every ``save_freq`` env steps, at the next rollout start:
    ``checkpoints/model_<steps>_steps.zip`` and ``state_<steps>_steps.npz``, atomically.

    Also writes the VecNormalize statistics when the env has them, then ``latest.json``
    (``{"num_timesteps", "model", "vecnormalize"}``) last, so a reader that trusts latest.json
    never sees a half-written checkpoint. Keeps the newest ``keep`` checkpoints; the replay
    buffer of off-policy models (``agents.resume.replay_state``) only with the newest one.
    """

    def __init__(self, save_dir: str | Path, save_freq: int, keep: int = 3, verbose: int = 0):
        super().__init__(verbose)
        self.save_dir = Path(save_dir)
        self.save_freq = int(save_freq)  # env steps (all envs together)
        self.keep = int(keep)
        self._last_saved = 0
        # callbacks whose counters go into the resume state (set by agents.training.pipeline)
        self.state_callbacks: list[BaseCallback] | None = None

    def _init_callback(self) -> None:
        self.save_dir.mkdir(parents=True, exist_ok=True)
        self._last_saved = self.num_timesteps  # resumed runs count from their step

    def _on_step(self) -> bool:
        return True

    def _on_rollout_start(self) -> None:
        # only at a rollout boundary (after an update, before the next action): the one point
        # a resumed run can continue from exactly (agents.resume.state)
        if self.num_timesteps - self._last_saved >= self.save_freq:
            self.save()

    def save(self) -> Path:
        """Write one checkpoint now and prune old ones; returns the model path."""
        steps = self.num_timesteps
        model_path = atomic_save(
            self.save_dir / f"model_{steps}_steps.zip", lambda p: self.model.save(p)
        )
        state_name = None
        if self.state_callbacks is not None:
            state_name = save_state(self.save_dir, self.model, self.state_callbacks).name
        vecnorm = _find_vecnormalize(self.model.get_env())
        vn_name = None
        if vecnorm is not None:
            vn_name = f"vecnormalize_{steps}_steps.pkl"
            atomic_save(self.save_dir / vn_name, lambda p: vecnorm.save(str(p)))
        atomic_write_json(
            self.save_dir / LATEST,
            {
                "num_timesteps": steps,
                "model": model_path.name,
                "vecnormalize": vn_name,
                "state": state_name,
            },
        )
        self._last_saved = steps
        self._prune()
        if self.verbose:
            print(f"checkpoint at {steps} steps -> {model_path}")
        return model_path

    def _prune(self) -> None:
        ckpts = sorted(
            (int(m.group(1)), p) for p in self.save_dir.iterdir() if (m := _CKPT_RE.match(p.name))
        )
        for steps, path in ckpts[: max(0, len(ckpts) - self.keep)]:
            path.unlink(missing_ok=True)
            (self.save_dir / f"vecnormalize_{steps}_steps.pkl").unlink(missing_ok=True)
            (self.save_dir / f"state_{steps}_steps.npz").unlink(missing_ok=True)
        prune_replays(self.save_dir, _REPLAY_FMT.format(steps=ckpts[-1][0]) if ckpts else None)


def _find_vecnormalize(env: Any) -> VecNormalize | None:
    """The VecNormalize in a wrapper chain, if any."""
    while env is not None:
        if isinstance(env, VecNormalize):
            return env
        env = getattr(env, "venv", None)
    return None


def latest_checkpoint(run_dir: str | Path) -> tuple[Path, int] | None:
    """``(model path, num_timesteps)`` of a run's newest complete checkpoint, or None."""
    latest = Path(run_dir) / CHECKPOINT_DIR / LATEST
    if not latest.is_file():
        return None
    meta = json.loads(latest.read_text())
    path = latest.parent / meta["model"]
    if not path.is_file():
        raise FileNotFoundError(f"{latest} names {path.name}, which is missing")
    return path, int(meta["num_timesteps"])
