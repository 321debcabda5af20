"""The ``python -m agents.tune`` settings: one typed dataclass whose field docs make ``--help``.

No ``--config`` here: a flag tune does not know goes to every trial's training command, and
``--config FILE`` is one of those (e.g. a ``best.yml`` of an earlier study).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from agents.learners import supporting
from envs.marketspec import add_market_flags, market_from_args
from lab.config import ConfigError, Rule, add_fields, check_rules, doc, resolve

ALGOS = supporting("tune")  # the learner table's (agents.learners): trees refused there


@dataclass
class TuneConfig:
    """The study: market, algorithm, budget, where it runs and where it is stored."""

    env: str = field(
        default="", metadata=doc("market: a preset, a candle file, an entry", required=True)
    )
    algo: str = field(default="", metadata=doc("algorithm searched", ALGOS, required=True))
    trials: int = field(default=0, metadata=doc("finished trials wanted in all", required=True))
    workers: int = field(default=1, metadata=doc("trials run at once (Ray CPUs)"))
    address: str | None = field(
        default=None, metadata=doc("join this Ray cluster (ray start --head ...)")
    )
    storage: str | None = field(
        default=None, metadata=doc("Optuna storage URL (default SQLite in the study folder)")
    )
    study: str | None = field(default=None, metadata=doc("study name (default <algo>)"))
    seeds_per_trial: int = field(default=1, metadata=doc("objective = mean over k seeds"))
    timesteps: int | None = field(
        default=None, metadata=doc("RL: env steps per trial (train.total_timesteps)")
    )
    evals_per_trial: int = field(default=4, metadata=doc("RL: val evaluations (pruning)"))
    epochs: int | None = field(default=None, metadata=doc("supervised: epochs per trial"))
    n_envs: int | None = field(default=None, metadata=doc("RL: parallel envs (env.n_envs)"))
    device: str = field(default="cpu", metadata=doc("torch device", ("auto", "cpu", "cuda")))
    space: Path | None = field(
        default=None, metadata=doc("search space YAML (default configs/search/)")
    )
    pruner: str = field(default="median", metadata=doc("trial pruner", ("median", "none")))
    objective: str = field(
        default="val",
        metadata=doc(
            "RL: what scores a trial: val (the val split's backtest Sharpe) or walkforward (the "
            "val blocks of the walk-forward's folds over the train+val splits; never a test "
            "block: agents.experiments.tune_folds)",
            ("val", "walkforward"),
        ),
    )
    folds: int | None = field(default=None, metadata=doc("--objective walkforward: folds K"))
    cv: str = field(
        default="walkforward",
        metadata=doc("--objective walkforward: the folds' splitter", ("walkforward", "cpcv")),
    )
    groups: int | None = field(default=None, metadata=doc("--cv cpcv: groups N"))
    test_groups: int | None = field(default=None, metadata=doc("--cv cpcv: test groups k"))
    objective_stat: str = field(
        default="mean",
        metadata=doc(
            "--objective walkforward: over the folds' val Sharpes (each the mean over seeds)",
            ("mean", "lower-quartile"),
        ),
    )
    val_bars: int = field(
        default=2160, metadata=doc("--objective walkforward: val bars per fold (2160 = 90 days)")
    )
    min_train_bars: int = field(
        default=17520,
        metadata=doc("--objective walkforward: the first fold's minimum rows (17520 = 2y of 1h)"),
    )
    sampler_seed: int = field(default=0, metadata=doc("seed of the TPE sampler"))
    out: Path | None = field(
        default=None, metadata=doc("study folder (default runs/<env>/tune/<study>/)")
    )
    passthrough: list[str] = field(
        default_factory=list,
        metadata=doc(
            "any other flag is passed to every trial's training command (e.g. "
            "--max-train-samples 2000)",
            rest=True,
        ),
    )

    RULES: ClassVar[dict[str, Rule]] = {
        # upper bounds: a typo's extra zeros would queue years of CPU (or a Ray of 10^5 CPUs)
        "trials": (lambda v: 1 <= v <= 10_000, "from 1 to 10000"),
        "workers": (lambda v: 1 <= v <= 4096, "from 1 to 4096"),
        "seeds_per_trial": (lambda v: 1 <= v <= 100, "from 1 to 100"),
        "evals_per_trial": (lambda v: 1 <= v <= 1000, "from 1 to 1000"),
        "timesteps": (lambda v: 1 <= v <= 10**12, "from 1 to 1e12 (or unset)"),
        "epochs": (lambda v: 1 <= v <= 100_000, "from 1 to 100000 (or unset)"),
        "n_envs": (lambda v: 1 <= v <= 1024, "from 1 to 1024 (or unset)"),
        "folds": (lambda v: 1 <= v <= 100, "from 1 to 100 (or unset)"),
        "groups": (lambda v: 2 <= v <= 64, "from 2 to 64 (or unset)"),
        "test_groups": (lambda v: 1 <= v <= 63, "from 1 to 63 (or unset)"),
        "val_bars": (lambda v: v >= 1, ">= 1"),
        "min_train_bars": (lambda v: v >= 1, ">= 1"),
    }


def build_parser() -> argparse.ArgumentParser:
    """One flag per ``TuneConfig`` field (help from its doc)."""
    p = argparse.ArgumentParser(
        prog="python -m agents.tune",
        description="Optuna search (TPE + median pruner) on the val Sharpe, trials on Ray.",
        # no prefixes: the trials' --seed must not silently become tune's --seeds-per-trial
        allow_abbrev=False,
    )
    add_fields(p, TuneConfig, config_flag=False)
    add_market_flags(p)  # --funding --catalog --bar (envs.marketspec)
    return p


def config_from_args(argv: list[str]) -> TuneConfig:
    """The flags tune knows into a checked ``TuneConfig``; the others into ``passthrough``."""
    args, rest = build_parser().parse_known_args(argv)
    market_from_args(args)  # args.env: the market's key, passed to every trial
    cfg, sources = resolve(TuneConfig, args, config_file=False)
    check_rules(cfg, TuneConfig.RULES, sources)
    _check_fold_layout(cfg, sources)
    cfg.passthrough = list(rest)
    cfg.study = cfg.study or cfg.algo
    return cfg


def _check_fold_layout(cfg: TuneConfig, sources: dict[str, str]) -> None:
    """``--val-bars`` / ``--min-train-bars`` are read by the walk-forward objective only, and
    ``--min-train-bars`` not by ``--cv cpcv`` (equal groups): given where unread, one line."""
    for name in ("val_bars", "min_train_bars"):
        if sources.get(name, "the default") == "the default":
            continue
        flag = "--" + name.replace("_", "-")
        if cfg.objective != "walkforward":
            raise ConfigError(
                f"{flag} is read by --objective walkforward only; add --objective walkforward "
                f"or drop {flag}"
            )
        if name == "min_train_bars" and cfg.cv == "cpcv":
            raise ConfigError(f"{flag} is read by --cv walkforward only; drop it for --cv cpcv")
