"""One search trial as an engine task: train k seeds of one configuration, report val evals.

``run_trial`` runs on a Ray worker (or inline). It writes the trial's config layer
(``trial_config.yml``, the form ``--config`` accepts), trains each seed into
``work_dir/s<seed>/`` through the ordinary pipeline and returns each seed's val metrics.

Pruning without a database on the worker: the driver sends the intermediate values of the
study's finished trials (``history``); the worker rebuilds them in an in-memory Optuna study
with the study's pruner and asks it, after every val evaluation of the first seed, whether this
trial should stop (Optuna's own pruner logic, on the snapshot taken at submission). The
intermediate value is the val evaluation's mean episode reward, the number the run selects
``best_model.zip`` on; the objective stays the full-val backtest's Sharpe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import yaml
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, EvalCallback

from agents.algorithms import ALGOS
from agents.experiments.seed_group import read_rl_metrics
from agents.training.cli import parse
from agents.training.pipeline import (
    learn,
    load_run_market,
    open_run,
    prepare_training,
    run_validation,
)
from lab.runtime import seed_everything, set_torch_threads
from supervised import train
from supervised.seed_group import read_supervised_metrics


def nested(params: dict[str, Any]) -> dict[str, Any]:
    """``{"ppo.gamma": 0.99}`` -> ``{"ppo": {"gamma": 0.99}}`` (a --config layer)."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        node = out
        *parents, leaf = name.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def merge_layers(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``, section by section (a new dict; neither input changes)."""
    out = dict(base)
    for key, value in top.items():
        below = out.get(key)
        both = isinstance(below, dict) and isinstance(value, dict)
        out[key] = merge_layers(below, value) if both else value  # type: ignore[arg-type]
    return out


def make_pruner(kind: str) -> Any:
    """The Optuna pruner named ``kind`` (``median`` or ``none``)."""
    if kind == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)


class _PruneCallback(BaseCallback):
    """After each val evaluation (EvalCallback's callback_after_eval): report, maybe stop."""

    def __init__(self, trial: Any, reports: dict[int, float]) -> None:
        super().__init__(verbose=0)
        self.trial, self.reports, self.pruned = trial, reports, False

    def _on_step(self) -> bool:
        value = float(self.parent.last_mean_reward)
        self.reports[int(self.num_timesteps)] = value
        if self.trial is None:
            return True
        self.trial.report(value, int(self.num_timesteps))
        self.pruned = bool(self.trial.should_prune())
        return not self.pruned


def attach_after_eval(eval_cb: EvalCallback, cb: BaseCallback) -> None:
    """Run ``cb`` after each val evaluation, AFTER the run's own after-eval callbacks.

    The slot (``callback_after_eval``) already holds what publishes ``eval/`` and saves
    ``best_model.zip`` (``agents.training.pipeline.make_callbacks``). Replacing it, as this module once
    did, left every RL trial without a best model, hence without ``<algo>_best`` in
    metrics.json: every ppo/sac trial failed ("a seed finished without a complete
    metrics.json"). So ``cb`` is appended, never substituted."""
    slot = eval_cb.callback
    if slot is None:
        eval_cb.callback = CallbackList([cb])
    elif isinstance(slot, CallbackList):
        slot.callbacks.append(cb)
    else:
        eval_cb.callback = CallbackList([slot, cb])
    eval_cb.callback.parent = eval_cb
    cb.parent = eval_cb  # CallbackList passes its parent down again when training starts


def snapshot_trial(history: list[dict[str, Any]], pruner: str) -> Any:
    """A trial of an in-memory study holding ``history`` (the finished trials' intermediate
    values, sent by the driver), asked with the study's pruner: a worker's pruning oracle."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", pruner=make_pruner(pruner))
    for h in history:
        study.add_trial(
            optuna.trial.create_trial(
                value=float(h["value"]),
                intermediate_values={int(k): float(v) for k, v in h["intermediate"].items()},
            )
        )
    return study.ask()


def _rl_seed(
    run_dir: Path, algo: str, argv: list[str], prune: Any, reports: dict[int, float]
) -> bool:
    """Train one RL seed like ``agents.<algo>.main``; returns whether it was pruned."""
    inv = parse(algo, ALGOS[algo].hyper, argv)
    run_dir = open_run(inv, argv)
    seed_everything(inv.cfg.seed)
    set_torch_threads(1)
    market, normaliser, train_rows, val_rows = load_run_market(inv.cfg, run_dir)
    training = prepare_training(inv.cfg, run_dir, market, train_rows, val_rows)
    cb = _PruneCallback(prune, reports)
    attach_after_eval(training.eval_cb, cb)
    model = learn(training, progress=False)
    run_validation(inv.cfg, run_dir, model, normaliser)
    return cb.pruned


def run_trial(
    work_dir: Path,
    algo: str,
    env: str,
    params: dict[str, Any],
    seeds: list[int],
    extra_argv: list[str],
    history: list[dict[str, Any]],
    pruner: str = "median",
    base_layer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Engine task: the trial's k seeds; returns per-seed val metrics, reports, pruned.

    ``base_layer``: an RL study's passed-through ``--config`` file, read on the driver (a
    worker of a cluster does not see the driver's files); the trial's values go over it."""
    reports: dict[int, float] = {}
    out: dict[str, Any] = {"seeds": {}, "intermediate": reports, "pruned": False}
    if algo == "supervised":
        flags = [f"--{k.replace('_', '-')}={v}" for k, v in params.items()]
        for s in seeds:
            run = work_dir / f"s{s}"
            train.main(["--env", env, *flags, *extra_argv, "--seed", str(s), "--run-dir", str(run)])
            out["seeds"][str(s)] = read_supervised_metrics(run)
        return out
    layer = merge_layers(base_layer or {}, nested(params))  # a passed-through --config below
    cfg_file = work_dir / "trial_config.yml"
    cfg_file.write_text(yaml.safe_dump(layer, sort_keys=True), encoding="utf-8")
    for i, s in enumerate(seeds):
        run = work_dir / f"s{s}"
        argv = ["--env", env, "--config", str(cfg_file), *extra_argv, "--seed", str(s)]
        prune = snapshot_trial(history, pruner) if i == 0 else None
        pruned = _rl_seed(
            run, algo, [*argv, "--run-dir", str(run), "--no-progress"], prune, reports
        )
        out["seeds"][str(s)] = read_rl_metrics(run, algo)
        if pruned:
            out["pruned"] = True
            break
    return out
