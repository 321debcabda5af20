"""The learner table: every kind of model the lab trains, and what each orchestrator may do with it.

One ``Learner`` per kind (each RL algorithm of ``agents.algorithms``, the supervised classifier,
the tree ensemble). The orchestrators (single runs, seed groups, tune, walk-forward, evaluate,
registry, predict, retrain) read it instead of keeping their own lists of kinds; a learner an
orchestrator cannot serve is refused here, with the reason, through ``require`` (one
``ConfigError`` line, exit 2). ``tests/test_learners.py`` fails when an entry is incomplete.

Fields: ``module`` (``python -m MODULE`` trains one run; ``--seeds`` makes a seed group where
supported), ``train(argv) -> run folder`` (in-process), ``config`` (the config dataclass its
flags and YAML fill), ``run_markers`` (files that make a folder a finished run of this kind;
``kind_of_run``), ``val_metrics(run_dir)`` (the finished run's val-split metrics,
``val_sharpe`` first, ``None`` while unfinished: seed groups, tune and the ledger read it),
``algo`` (the ``agents.algorithms`` entry of an RL learner) and ``refused`` (orchestrator ->
why not). Every learner loads as a runner policy through ``agents.acting.loading.load_run``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agents.algorithms import ALGOS
from agents.experiments.seed_group import read_rl_metrics
from agents.training import train_rl
from agents.training.config_schema import RunConfig
from lab.config import ConfigError
from supervised import train as supervised_train
from supervised.fitting import FitConfig
from supervised.seed_group import read_supervised_metrics
from supervised.trees import train as trees_train

ORCHESTRATORS = (
    "single",
    "seed_group",
    "tune",
    "walkforward",
    "evaluate",
    "registry",
    "predict",
    "retrain",
)


@dataclass(frozen=True)
class Learner:
    """One kind of model: how to train it, recognise its runs, read its val metric."""

    name: str
    family: str  # rl | supervised | trees
    module: str
    train: Callable[[list[str]], Path]
    config: type
    run_markers: tuple[str, ...]
    val_metrics: Callable[[Path], dict[str, Any] | None]
    algo: str | None = None
    refused: dict[str, str] = field(default_factory=dict)

    def supports(self, orchestrator: str) -> bool:
        """True when ``orchestrator`` (one of ``ORCHESTRATORS``) can serve this learner."""
        if orchestrator not in ORCHESTRATORS:
            raise KeyError(f"unknown orchestrator {orchestrator!r}; valid: {ORCHESTRATORS}")
        return orchestrator not in self.refused


def read_trees_metrics(run_dir: Path) -> dict[str, Any] | None:
    """Val metrics of a finished tree run (``metrics.json: val_backtest``), else None."""
    path = run_dir / "metrics.json"
    if not path.is_file():
        return None
    m = json.loads(path.read_text(encoding="utf-8"))
    vb = m.get("val_backtest") or {}
    if "sharpe" not in vb:
        return None
    return {
        "val_sharpe": vb.get("sharpe"),
        "turnover": vb.get("turnover"),
        "n_trades": vb.get("n_trades"),
        "collapsed": not vb.get("n_trades"),
    }


def _rl(algo: str, refused: dict[str, str] | None = None) -> Learner:
    """An RL learner from its ``agents.algorithms`` entry."""
    return Learner(
        name=algo,
        family="rl",
        module=ALGOS[algo].entry[0],
        train=lambda argv: train_rl.run(algo, list(argv)),
        config=RunConfig,
        run_markers=("config.yaml", "best_model.zip"),
        val_metrics=lambda run_dir: read_rl_metrics(run_dir, algo),
        algo=algo,
        refused=refused or {},
    )


# what an orchestrator cannot do with an RL algorithm (every other RL algorithm can do everything)
RL_REFUSED: dict[str, dict[str, str]] = {}
LEARNERS: dict[str, Learner] = {
    **{algo: _rl(algo, RL_REFUSED.get(algo)) for algo in ALGOS},  # every algorithm of the table
    "supervised": Learner(
        name="supervised",
        family="supervised",
        module="supervised.train",
        train=supervised_train.main,
        config=FitConfig,
        run_markers=("model.pt",),
        val_metrics=read_supervised_metrics,
        refused={"retrain": "agents.retrain retrains tree and SB3 models only"},
    ),
    "trees": Learner(
        name="trees",
        family="trees",
        module="supervised.trees",
        train=trees_train.train,
        config=trees_train.TreesConfig,
        run_markers=("tree.json", "model.skops"),
        val_metrics=read_trees_metrics,
        refused={
            "seed_group": "python -m supervised.trees trains one seed per run (no --seeds)",
            "tune": "agents.tune searches PPO, SAC and the supervised classifier only",
        },
    ),
}


def learner(name: str) -> Learner:
    """The table's entry ``name``; a ``ConfigError`` naming the valid ones otherwise."""
    if name not in LEARNERS:
        raise ConfigError(f"unknown learner {name!r}; valid: {', '.join(LEARNERS)}")
    return LEARNERS[name]


def require(name: str, orchestrator: str) -> Learner:
    """The learner ``name`` if ``orchestrator`` serves it; else one ``ConfigError`` line saying
    why not (the table's reason)."""
    entry = learner(name)
    if not entry.supports(orchestrator):
        raise ConfigError(f"{orchestrator} does not support {name}: {entry.refused[orchestrator]}")
    return entry


def supporting(orchestrator: str) -> tuple[str, ...]:
    """The learners ``orchestrator`` serves, in table order (for ``--help`` and choices)."""
    return tuple(n for n, e in LEARNERS.items() if e.supports(orchestrator))


def kind_of_run(run_dir: Path) -> Learner | None:
    """The learner whose run markers ``run_dir`` holds (RL: the algo its config.yaml names)."""
    for entry in LEARNERS.values():
        if entry.family != "rl" and all((run_dir / m).is_file() for m in entry.run_markers):
            return entry
    if (run_dir / "config.yaml").is_file() and any(
        (run_dir / n).is_file() for n in ("best_model.zip", "final_model.zip")
    ):
        cfg = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
        return LEARNERS.get(str(cfg.get("algo", "")).lower()) if isinstance(cfg, dict) else None
    return None
