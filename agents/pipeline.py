"""The steps PPO and SAC share, in the order ``main`` calls them.

open_run -> (seed, envs) -> save_normaliser -> make_callbacks / restore_eval_history ->
learn -> finish_training -> run_validation. Each function does one step and says which files
it writes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, EvalCallback
from stable_baselines3.common.vec_env import VecEnv

from agents.backtest import format_table, validation_backtest, write_metrics
from agents.callbacks import (
    CHECKPOINT_DIR,
    AtomicCheckpointCallback,
    ParamCountCallback,
    TradingMetricsCallback,
    append_line,
)
from agents.cli import Invocation
from agents.config import RunConfig
from agents.models import load_model
from agents.rundir import (
    atomic_save,
    atomic_write_json,
    atomic_write_yaml,
    create_run_dir,
    utc_now,
)
from envs.presets import get_preset

EVAL_DIR = "eval"


def data_files(env_name: str) -> list[Path]:
    """The preset's shipped files (candles, funding), hashed into meta.json."""
    p = get_preset(env_name)
    return [f.path for f in (p.candles, p.funding) if f is not None]


def open_run(inv: Invocation, argv: list[str]) -> Path:
    """Create the run folder (command.txt, config.yaml, meta.json) or reopen it for --resume.

    ``argv`` are the flags after ``python -m agents.<algo>``. A resume appends its command to
    ``resumes.txt`` and rewrites config.yaml only if the budget changed.
    """
    cfg = inv.cfg
    command = ["-m", f"agents.{cfg.algo}", *argv]
    if inv.resume:
        assert inv.run_dir is not None
        import shlex

        append_line(inv.run_dir / "resumes.txt",
                    f"{utc_now():%Y-%m-%dT%H:%M:%SZ} {shlex.join([sys.executable, *command])}")
        atomic_write_yaml(inv.run_dir / "config.yaml", cfg.to_dict())
        return inv.run_dir
    return create_run_dir(env=cfg.env_name, algo=cfg.algo, seed=cfg.seed, config=cfg.to_dict(),
                          data_files=data_files(cfg.env_name), run_dir=inv.run_dir, argv=command)


def save_normaliser(run_dir: Path, normaliser: Any) -> Path:
    """``normaliser.json``: the train-fitted feature normaliser, so evaluation reuses it."""
    return atomic_write_json(run_dir / "normaliser.json", normaliser.to_dict())


def saved_normaliser(run_dir: Path, resume: bool) -> Any:
    """A resumed run reuses its normaliser.json; a fresh run (None) fits one on the train split."""
    path = run_dir / "normaliser.json"
    if resume and path.is_file():
        from envs.features import RobustNormaliser

        return RobustNormaliser.load(path)
    return None


class AtomicBestModelCallback(BaseCallback):
    """Run by EvalCallback on a new best mean reward: ``best_model.zip`` atomically, plus
    ``eval/best.json`` (step and mean reward) so a resumed run knows the bar to beat."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(verbose=0)
        self.run_dir = run_dir

    def _on_step(self) -> bool:
        atomic_save(self.run_dir / "best_model.zip", lambda p: self.model.save(p))
        parent = self.parent
        assert isinstance(parent, EvalCallback)
        atomic_write_json(self.run_dir / EVAL_DIR / "best.json",
                          {"num_timesteps": self.num_timesteps,
                           "mean_reward": float(parent.best_mean_reward)})
        return True


def make_callbacks(cfg: RunConfig, run_dir: Path, eval_env: VecEnv) -> tuple[CallbackList, EvalCallback, AtomicCheckpointCallback]:
    """Trading scalars, parameter counts, val evaluation (best_model.zip), checkpoints.

    Frequencies in the config count env steps across all envs; SB3 callbacks count VecEnv
    steps, hence the division by ``n_envs``.
    """
    n = cfg.env.n_envs
    eval_cb = EvalCallback(
        eval_env,
        callback_on_new_best=AtomicBestModelCallback(run_dir),
        n_eval_episodes=cfg.train.n_eval_episodes,
        eval_freq=max(1, cfg.train.eval_freq // n),
        log_path=str(run_dir / EVAL_DIR),
        best_model_save_path=None,  # saved atomically by AtomicBestModelCallback
        deterministic=True,
        verbose=0,
    )
    ckpt_cb = AtomicCheckpointCallback(run_dir / CHECKPOINT_DIR, cfg.train.checkpoint_freq,
                                       keep=cfg.train.keep_checkpoints)
    callbacks = CallbackList([ParamCountCallback(), TradingMetricsCallback(), eval_cb, ckpt_cb])
    return callbacks, eval_cb, ckpt_cb


def restore_eval_history(eval_cb: EvalCallback, run_dir: Path) -> None:
    """On --resume: reload ``eval/evaluations.npz`` so the new run appends to it and a new
    best_model.zip must beat the best mean reward seen before the kill."""
    npz = run_dir / EVAL_DIR / "evaluations.npz"
    if not npz.is_file():
        return
    data = np.load(npz)
    eval_cb.evaluations_timesteps = [int(t) for t in data["timesteps"]]
    eval_cb.evaluations_results = [list(r) for r in data["results"]]
    eval_cb.evaluations_length = [list(r) for r in data["ep_lengths"]]
    if len(data["results"]):
        eval_cb.best_mean_reward = float(np.max(np.mean(data["results"], axis=1)))


def final_evaluation(eval_cb: EvalCallback, model: BaseAlgorithm) -> None:
    """Evaluate the final weights on val unless the last evaluation was at this very step, so
    every run has a best_model.zip and its last eval/ point is the final model."""
    if eval_cb.evaluations_timesteps and eval_cb.evaluations_timesteps[-1] == model.num_timesteps:
        return
    eval_cb.eval_freq = 1
    eval_cb.on_step()


def finish_training(model: BaseAlgorithm, run_dir: Path, ckpt_cb: AtomicCheckpointCallback,
                    eval_cb: EvalCallback) -> None:
    """final_model.zip and a last checkpoint (atomically), a final val evaluation."""
    atomic_save(run_dir / "final_model.zip", lambda p: model.save(p))
    ckpt_cb.save()
    final_evaluation(eval_cb, model)


def run_validation(cfg: RunConfig, run_dir: Path, model: BaseAlgorithm, normaliser: Any) -> dict[str, Any]:
    """Deterministic pass over the whole val split for the final and best models (plus
    buy-and-hold): ``metrics.json`` and a printed table."""
    models: dict[str, Any] = {"final": model}
    best_json = run_dir / EVAL_DIR / "best.json"
    best_is_final = best_json.is_file() and (
        json.loads(best_json.read_text())["num_timesteps"] == model.num_timesteps
    )
    if (run_dir / "best_model.zip").is_file() and not best_is_final:
        models["best"] = load_model(cfg.algo, run_dir / "best_model.zip", device=str(model.device))
    results = validation_backtest(cfg, models, normaliser, split="val")
    if best_is_final:  # the same weights: one backtest, reported under both names
        results = {f"{cfg.algo}_final": results[f"{cfg.algo}_final"],
                   f"{cfg.algo}_best": results[f"{cfg.algo}_final"],
                   "buy_and_hold": results["buy_and_hold"]}
    write_metrics(run_dir / "metrics.json", results,
                  {"split": "val", "env": cfg.env_name, "algo": cfg.algo, "seed": cfg.seed,
                   "num_timesteps": int(model.num_timesteps)})
    print(format_table(results, f"validation backtest ({cfg.env_name}, val split, deterministic)"))
    return results
