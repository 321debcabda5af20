"""The ``python -m evaluate.walkforward`` settings: one typed dataclass whose docs make ``--help``.

``--config`` here is the run config YAML handed to every fold's PPO/SAC training (sections
env/policy/ppo|sac/train, layered over the main job's configuration) and the ``trees:`` section
for the tree ensemble, so this command takes its own settings from the flags only.
``--algo X`` is an alias of ``--methods X``, ``--seed S`` of ``--seeds S``.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from agents.learners import LEARNERS as TABLE
from agents.learners import require
from envs.marketspec import add_market_flags, market_flags_given, market_from_args
from evaluate.walkforward.learners import METHODS, MOMENTUM_GRID
from lab.config import ConfigError, Rule, add_fields, check_rules, doc, resolve


@dataclass
class WalkForwardConfig:
    """Methods, seeds, folds, purge/embargo, training budget, costs and statistics."""

    env: str = field(default="btc1h", metadata=doc("market: preset (default btc1h), file, entry"))
    methods: list[str] = field(
        default_factory=list,
        metadata=doc(
            f"methods to walk forward, each retrained per fold and seed: {' | '.join(METHODS)} "
            f"(momentum = smoke path: lookback chosen on val among {MOMENTUM_GRID}, no learning)"
        ),
    )
    seeds: list[int] = field(default_factory=lambda: [0], metadata=doc("training seeds"))
    folds: int | None = field(
        default=None, metadata=doc("number of folds K (test blocks; --cv walkforward)")
    )
    cv: str = field(
        default="walkforward",
        metadata=doc(
            "splitter: walkforward (folds in time order, one stitched account per seed) or cpcv "
            "(combinatorial purged CV: many out-of-sample paths per seed)",
            choices=("walkforward", "cpcv"),
        ),
    )
    groups: int | None = field(default=None, metadata=doc("--cv cpcv: groups N (default 6)"))
    test_groups: int | None = field(
        default=None, metadata=doc("--cv cpcv: test groups k per split (default 2)")
    )
    timesteps: int | None = field(
        default=None, metadata=doc("PPO/SAC env steps per fold (default: the main job's config)")
    )
    config: Path | None = field(
        default=None,
        metadata=doc("PPO/SAC config YAML layered over the main job's; trees: its trees section"),
    )
    epochs: int | None = field(
        default=None, metadata=doc("supervised epochs per fold (default: its own)")
    )
    max_train_samples: int | None = field(
        default=None,
        metadata=doc("supervised/trees: keep only the last N training samples (quick runs)"),
    )
    purge_bars: int = field(
        default=24,
        metadata=doc(
            "bars dropped between training and val, and between val and test (>= the label horizon)"
        ),
    )
    embargo_bars: int = field(
        default=24, metadata=doc("bars after each earlier test block removed from training")
    )
    val_bars: int = field(default=2160, metadata=doc("selection block per fold (2160 = 90 days)"))
    test_bars: int | None = field(
        default=None,
        metadata=doc(
            "bars per test block (default: the span after the first fold's training, split evenly)"
        ),
    )
    min_train_bars: int = field(
        default=17520,
        metadata=doc(
            "minimum rows of the first fold's information set (17520 = 2 years of 1h bars; "
            "a bar count: use --min-train for a span of time)"
        ),
    )
    min_train: str | None = field(
        default=None,
        metadata=doc(
            "minimum information set as a duration (730d, 104w, 2y), converted to bars of the "
            "market's bar size; replaces --min-train-bars"
        ),
    )
    train_span: str | None = field(
        default=None,
        metadata=doc(
            "rolling windows: every fold trains and selects on the last DURATION (3y, 730d) "
            "before its test block (default: anchored, expanding windows from the span start)"
        ),
    )
    start: str | None = field(
        default=None, metadata=doc("span start (UTC date; default the preset's train start)")
    )
    end: str | None = field(
        default=None, metadata=doc("span end, exclusive (UTC date; default the test end)")
    )
    feature_set: str | None = field(
        default=None, metadata=doc("feature set of every method (default: each method's own)")
    )
    window: int | None = field(
        default=None, metadata=doc("observation window of every method (default: its own)")
    )
    workers: int = field(default=1, metadata=doc("tasks run at once (lab.engine, Ray)"))
    address: str | None = field(
        default=None, metadata=doc("run the tasks on this Ray cluster (ray start --head)")
    )
    n_configs: int = field(
        default=1,
        metadata=doc(
            "configurations tried to arrive at each method's (a hyperparameter search), for "
            "the deflated Sharpe: n_trials = folds x n_configs (momentum: 4)"
        ),
    )
    out: Path | None = field(
        default=None,
        metadata=doc("new output folder (default runs/<env>/walkforward/<UTC time>_<methods>/)"),
    )
    run_dir: Path | None = field(
        default=None,
        metadata=doc(
            "run folder to start or to resume: a killed walk-forward rerun with the same "
            "flags and --run-dir skips every finished (method, fold, seed) task"
        ),
    )
    fee_bps: float | None = field(default=None, metadata=doc("fee per unit notional traded, bps"))
    slippage_bps: float | None = field(
        default=None, metadata=doc("slippage per unit notional, bps")
    )
    no_funding: bool = field(default=False, metadata=doc("do not charge perpetual funding"))
    fill: str | None = field(
        default=None, metadata=doc("fill convention", choices=("next_open", "close"))
    )
    n_boot: int = field(default=2000, metadata=doc("bootstrap resamples"))
    bootstrap_seed: int = field(default=0, metadata=doc("seed of the bootstrap"))
    no_plots: bool = field(default=False, metadata=doc("no charts in report.html"))

    RULES: ClassVar[dict[str, Rule]] = {
        "workers": (lambda v: v >= 1, ">= 1"),
        "n_configs": (lambda v: v >= 1, ">= 1"),
        "n_boot": (lambda v: v >= 1, ">= 1"),
        "fee_bps": (lambda v: v >= 0, ">= 0 bps"),
        "slippage_bps": (lambda v: v >= 0, ">= 0 bps"),
    }


def _doc(name: str) -> str:
    f = next(f for f in dataclasses.fields(WalkForwardConfig) if f.name == name)
    return str(f.metadata.get("doc", "")).replace("%", "%%")


def build_parser() -> argparse.ArgumentParser:
    """One flag per ``WalkForwardConfig`` field; ``--algo``/``--seed`` are aliases."""
    p = argparse.ArgumentParser(
        prog="python -m evaluate.walkforward",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_fields(p, WalkForwardConfig, config_flag=False, skip=("methods", "seeds"))
    which = p.add_mutually_exclusive_group(required=True)
    for flag in ("--methods", "--algo"):
        which.add_argument(
            flag,
            dest="methods",
            nargs="+",
            choices=(*TABLE, *(m for m in METHODS if m not in TABLE)),
            metavar="METHOD",
            default=argparse.SUPPRESS,
            help=f"methods: {_doc('methods')}"
            + (" (alias of --methods)" if flag == "--algo" else ""),
        )
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument(
        "--seeds", type=int, nargs="+", default=argparse.SUPPRESS, help=f"seeds: {_doc('seeds')}"
    )
    seeds.add_argument(
        "--seed", dest="seeds", type=int, nargs=1, default=argparse.SUPPRESS, help="one seed"
    )
    add_market_flags(p)  # --funding --catalog --bar (envs.marketspec; --start/--end are ours)
    return p


# the walk-forward fold layout flags, which CPCV (equal groups) does not read
CPCV_IGNORES = ("train_span", "test_bars", "min_train_bars", "min_train")


def _check_cv(cfg: WalkForwardConfig, sources: dict[str, str]) -> None:
    """The splitter's flags: --folds for walkforward, --groups/--test-groups (defaulted)
    for cpcv, and no fold-layout flag that cpcv does not read; one line each."""
    if cfg.cv == "walkforward":
        if cfg.folds is None:
            raise ConfigError("--folds K is required (or --cv cpcv --groups N --test-groups k)")
        for name in ("groups", "test_groups"):
            if getattr(cfg, name) is not None:
                flag = "--" + name.replace("_", "-")
                raise ConfigError(f"{flag} is read by --cv cpcv only; drop it or add --cv cpcv")
    else:
        if cfg.folds is not None:
            raise ConfigError("--folds is not read by --cv cpcv; give --groups N --test-groups k")
        for name in CPCV_IGNORES:  # anchored/rolling fold layout: CPCV cuts equal groups
            if sources.get(name, "the default") != "the default":
                flag = "--" + name.replace("_", "-")
                raise ConfigError(f"{flag} is read by --cv walkforward only; drop it for --cv cpcv")
        cfg.groups = 6 if cfg.groups is None else cfg.groups
        cfg.test_groups = 2 if cfg.test_groups is None else cfg.test_groups


def config_from_args(args: argparse.Namespace) -> WalkForwardConfig:
    """Defaults, then the flags given; each field checked (one line); ``args.env`` becomes the
    market's key (``--funding/--catalog/--bar``)."""
    if getattr(args, "env", None) is None and market_flags_given(args):  # --config's or default
        args.env = resolve(WalkForwardConfig, args, config_file=False)[0].env
    market_from_args(args)  # args.env: the market's key
    cfg, sources = resolve(WalkForwardConfig, args, config_file=False)
    check_rules(cfg, WalkForwardConfig.RULES, sources)
    _check_cv(cfg, sources)
    if not cfg.methods:
        raise ConfigError(
            "no method given; add --methods ppo supervised trees (or --algo ppo), from: "
            + ", ".join(METHODS)
        )
    for m in cfg.methods:
        if m in TABLE:
            require(m, "walkforward")  # a learner the table refuses: its reason, one line
    for name, values in (("--methods", cfg.methods), ("--seeds", cfg.seeds)):
        if len(set(values)) != len(values):
            raise ConfigError(f"{name} {' '.join(map(str, values))}: a value repeats; drop it")
    return cfg
