"""SB3 callbacks, one job each: trading scalars, atomic checkpoints, parameter counts.

All logging goes through SB3's logger, so it lands in the same TensorBoard run as SB3's own
``rollout/``, ``train/`` and ``eval/`` scalars.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecNormalize

from agents.episode_stats import PERIODS_PER_YEAR, EpisodeStats
from agents.models import lora_parameter_count, parameter_counts
from agents.replay_state import REPLAY_FMT as _REPLAY_FMT
from agents.replay_state import prune as prune_replays
from lab.atomic import atomic_save, atomic_write_json, atomic_write_text

CHECKPOINT_DIR = "checkpoints"
LATEST = "latest.json"
_CKPT_RE = re.compile(r"^model_(\d+)_steps\.zip$")


class TradingMetricsCallback(BaseCallback):
    """Logs ``trading/*`` for finished training episodes (mean over the logging interval).

    Reads the batched env's ``last_info`` arrays after every step (its per-env infos are empty
    until an episode ends).

    Per episode: final equity (relative to the start), annualised Sharpe of per-step returns,
    max drawdown, turnover, fees/slippage/funding paid, shares of short/flat/long steps. At each
    rollout end (on-policy algorithms) also the policy's mean entropy on a sample of the rollout.
    """

    def __init__(
        self, periods_per_year: int = PERIODS_PER_YEAR, entropy_sample: int = 512, verbose: int = 0
    ) -> None:
        super().__init__(verbose)
        self.periods_per_year = periods_per_year
        self.entropy_sample = entropy_sample
        self.stats: EpisodeStats | None = None
        self.episodes = 0
        self.restored_stats: dict[str, np.ndarray] | None = None  # set by agents.resume_logs

    def _on_training_start(self) -> None:
        self.batched = self.training_env.unwrapped  # the BatchedTradingEnv under VecMonitor
        if not hasattr(self.batched, "last_info"):
            raise TypeError(
                f"TradingMetricsCallback needs a BatchedTradingEnv (per-step last_info arrays); "
                f"got {type(self.batched).__name__}"
            )
        self.stats = EpisodeStats(
            self.training_env.num_envs, self.batched.params.initial_equity, self.periods_per_year
        )
        if self.restored_stats is not None:  # a resumed run's unfinished episodes
            self.stats.set_state(self.restored_stats)
            self.restored_stats = None

    def _on_step(self) -> bool:
        assert self.stats is not None
        finished = self.stats.step(self.batched.last_info, self.locals["dones"])
        for summary in finished:
            self.episodes += 1
            for key, value in summary.items():
                if np.isfinite(value):  # a flat episode's Sharpe is nan (undefined): not averaged
                    self.logger.record_mean(f"trading/{key}", value)
        if finished:
            self.logger.record("trading/episodes", self.episodes)
        return True

    def _on_rollout_end(self) -> None:
        entropy = self._policy_entropy()
        if entropy is not None:
            self.logger.record("trading/policy_entropy", entropy)

    def _policy_entropy(self) -> float | None:
        """Mean entropy of the action distribution on up to ``entropy_sample`` rollout obs.

        Only for on-policy models with a categorical/Gaussian distribution that has a closed
        form; SAC's squashed Gaussian has none (SB3 logs ``train/ent_coef`` for it).
        """
        buffer = getattr(self.model, "rollout_buffer", None)
        if buffer is None or not getattr(buffer, "full", False):
            return None
        obs = buffer.observations.reshape(-1, *buffer.obs_shape)
        if len(obs) > self.entropy_sample:
            idx = np.linspace(0, len(obs) - 1, self.entropy_sample).astype(np.int64)
            obs = obs[idx]
        with torch.no_grad():
            dist = self.model.policy.get_distribution(
                torch.as_tensor(obs, device=self.model.device)
            )
            ent = dist.entropy()
        return None if ent is None else float(ent.mean().item())


class ParamCountCallback(BaseCallback):
    """Logs ``model/params_total`` and ``model/params_trainable`` once, at the run's start (a
    resumed run logged them before: not again, so its TensorBoard run has them once)."""

    def _on_training_start(self) -> None:
        if self.num_timesteps > 0:
            return
        total, trainable = parameter_counts(self.model)
        self.logger.record("model/params_total", total)
        self.logger.record("model/params_trainable", trainable)
        lora = lora_parameter_count(self.model)
        self.logger.record("model/params_lora", lora)
        if self.verbose:
            print(f"policy parameters: {total:,} total, {trainable:,} trainable, {lora:,} LoRA")

    def _on_step(self) -> bool:
        return True


class AtomicCheckpointCallback(BaseCallback):
    """Every ``save_freq`` env steps, at the next rollout start:
    ``checkpoints/model_<steps>_steps.zip`` and ``state_<steps>_steps.npz``, atomically.

    Also writes the VecNormalize statistics when the env has them, then ``latest.json``
    (``{"num_timesteps", "model", "vecnormalize"}``) last, so a reader that trusts latest.json
    never sees a half-written checkpoint. Keeps the newest ``keep`` checkpoints; the replay
    buffer of off-policy models (``agents.replay_state``) only with the newest one.
    """

    def __init__(self, save_dir: str | Path, save_freq: int, keep: int = 3, verbose: int = 0):
        super().__init__(verbose)
        self.save_dir = Path(save_dir)
        self.save_freq = int(save_freq)  # env steps (all envs together)
        self.keep = int(keep)
        self._last_saved = 0
        # callbacks whose counters go into the resume state (set by agents.pipeline)
        self.state_callbacks: list[BaseCallback] | None = None

    def _init_callback(self) -> None:
        self.save_dir.mkdir(parents=True, exist_ok=True)
        self._last_saved = self.num_timesteps  # resumed runs count from their step

    def _on_step(self) -> bool:
        return True

    def _on_rollout_start(self) -> None:
        # only at a rollout boundary (after an update, before the next action): the one point
        # a resumed run can continue from exactly (agents.resume_state)
        if self.num_timesteps - self._last_saved >= self.save_freq:
            self.save()

    def save(self) -> Path:
        """Write one checkpoint now and prune old ones; returns the model path."""
        from agents.resume_state import save as save_state

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


def append_line(path: Path, line: str) -> None:
    """Append a line to a small text file, atomically (read, add, replace)."""
    old = path.read_text() if path.is_file() else ""
    atomic_write_text(path, old + line.rstrip("\n") + "\n")
