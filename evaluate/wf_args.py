"""The ``python -m evaluate.walkforward`` settings: one typed dataclass whose docs make ``--help``.

``--config`` here is the PPO run config YAML (sections env/policy/ppo/train) handed to every
fold's training, as it always was, so this command takes its own settings from the flags only.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from envs.marketspec import add_market_flags, market_flags_given, market_from_args
from evaluate.wf_train import MOMENTUM_GRID, TRAINERS
from lab.config import Rule, add_fields, check_rules, doc, resolve


@dataclass
class WalkForwardConfig:
    """Folds, purge/embargo, training budget, costs and statistics of one walk-forward."""

    env: str = field(default="btc1h", metadata=doc("market: preset (default btc1h), file, entry"))
    algo: str = field(
        default="",
        metadata=doc(
            "ppo | supervised | trees | momentum (momentum = smoke path: lookback chosen on val "
            f"among {MOMENTUM_GRID}, no learning)",
            choices=tuple(sorted(TRAINERS)),
            required=True,
        ),
    )
    folds: int = field(default=0, metadata=doc("number of folds K (test blocks)", required=True))
    timesteps: int | None = field(
        default=None, metadata=doc("PPO env steps per fold (default: config)")
    )
    config: Path | None = field(
        default=None,
        metadata=doc("PPO config YAML (sections env/policy/ppo/train); trees: its trees section"),
    )
    epochs: int | None = field(
        default=None, metadata=doc("supervised epochs per fold (default: its own)")
    )
    max_train_samples: int | None = field(
        default=None,
        metadata=doc("supervised: keep only the last N training samples per fold (quick runs)"),
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
    start: str | None = field(
        default=None, metadata=doc("span start (UTC date; default the preset's train start)")
    )
    end: str | None = field(
        default=None, metadata=doc("span end, exclusive (UTC date; default the test end)")
    )
    feature_set: str = field(default="core17", metadata=doc("feature set"))
    window: int = field(default=32, metadata=doc("observation window in bars"))
    seed: int = field(default=0, metadata=doc("seed of every fold's training"))
    workers: int = field(default=1, metadata=doc("folds trained at once (lab.engine)"))
    address: str | None = field(
        default=None, metadata=doc("run the folds on this Ray cluster (ray start --head)")
    )
    n_configs: int = field(
        default=1,
        metadata=doc(
            "configurations tried to arrive at this one (a hyperparameter search), for the "
            "deflated Sharpe: n_trials = folds x n_configs (momentum: 4)"
        ),
    )
    out: Path | None = field(
        default=None,
        metadata=doc("output folder (default runs/<env>/walkforward/<UTC time>_<algo>_s<seed>/)"),
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
    no_plots: bool = field(default=False, metadata=doc("skip the PNGs"))

    RULES: ClassVar[dict[str, Rule]] = {
        "workers": (lambda v: v >= 1, ">= 1"),
        "n_configs": (lambda v: v >= 1, ">= 1"),
        "n_boot": (lambda v: v >= 1, ">= 1"),
        "fee_bps": (lambda v: v >= 0, ">= 0 bps"),
        "slippage_bps": (lambda v: v >= 0, ">= 0 bps"),
    }


def build_parser() -> argparse.ArgumentParser:
    """One flag per ``WalkForwardConfig`` field; ``--config`` is the field of that name."""
    p = argparse.ArgumentParser(
        prog="python -m evaluate.walkforward",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_fields(p, WalkForwardConfig, config_flag=False)
    add_market_flags(p)  # --funding --catalog --bar (envs.marketspec; --start/--end are ours)
    return p


def config_from_args(args: argparse.Namespace) -> WalkForwardConfig:
    """Defaults, then the flags given; each field checked (one line); ``args.env`` becomes the
    market's key (``--funding/--catalog/--bar``)."""
    if getattr(args, "env", None) is None and market_flags_given(args):  # --config's or default
        args.env = resolve(WalkForwardConfig, args, config_file=False)[0].env
    market_from_args(args)  # args.env: the market's key
    cfg, sources = resolve(WalkForwardConfig, args, config_file=False)
    check_rules(cfg, WalkForwardConfig.RULES, sources)
    return cfg
