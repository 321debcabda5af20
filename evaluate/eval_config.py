"""The ``python -m evaluate`` settings: one typed dataclass whose field docs make ``--help``."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from backtest.ensemble import RULES
from envs.marketspec import add_market_flags, market_flags_given, market_from_args
from lab.config import ConfigError, Rule, add_fields, check_rules, doc, resolve

RUNS_HELP = (
    "SB3 run folder or .zip, or supervised model.pt / folder, or a seed group folder "
    "(group.json: every seed); LABEL=PATH names it (the same LABEL on several paths, or "
    "LABEL=PATH1,PATH2,... = seeds of one method)"
)


@dataclass
class EvalConfig:
    """What ``python -m evaluate`` compares, on which split, with which costs and statistics."""

    runs: list[str] = field(default_factory=list, metadata=doc(RUNS_HELP, positional="RUN_OR_CKPT"))
    env: str = field(default="btc1h", metadata=doc("market: preset (default btc1h), file, entry"))
    split: str = field(
        default="test",
        metadata=doc(
            "split to evaluate: train | val | test (--start: the window). Compare and select on "
            "val; run test once, on the final choice"
        ),
    )
    ensemble: list[str] = field(
        default_factory=list,
        metadata=doc(
            f"add ensemble_RULE over every RUN_OR_CKPT given (at least 2); RULE: "
            f"{' | '.join(RULES)}; repeat the flag for several rules",
            choices=tuple(RULES),
            append=True,
        ),
    )
    seeds: list[int] = field(
        default_factory=lambda: [0],
        metadata=doc("seeds of the random baseline (several: mean and t-CI)"),
    )
    out: Path | None = field(
        default=None,
        metadata=doc("output folder (default runs/<env>/evaluate/<UTC timestamp>/)"),
    )
    fee_bps: float | None = field(default=None, metadata=doc("fee per unit notional traded, bps"))
    slippage_bps: float | None = field(
        default=None, metadata=doc("slippage per unit notional, bps")
    )
    no_funding: bool = field(default=False, metadata=doc("do not charge perpetual funding"))
    fill: str | None = field(
        default=None,
        metadata=doc("fill convention (default: the env's, next_open)", ("next_open", "close")),
    )
    n_boot: int = field(default=2000, metadata=doc("bootstrap resamples"))
    bootstrap_seed: int = field(default=0, metadata=doc("seed of the bootstrap"))
    block_length: float | None = field(
        default=None,
        metadata=doc("mean bootstrap block length in bars (default round(N ** (1/3)))"),
    )
    n_trials: int | None = field(
        default=None,
        metadata=doc(
            "trials behind the selection, for the deflated Sharpe (default: the number of "
            "non-baseline policies given)"
        ),
    )
    trials_sharpe_var: float | None = field(
        default=None,
        metadata=doc("variance of the trials' ANNUALISED Sharpes (default: of the given policies)"),
    )
    no_plots: bool = field(
        default=False, metadata=doc("skip the PNGs (the HTML then has no charts)")
    )
    stress: bool = field(
        default=False,
        metadata=doc(
            "also the verdict at double fee and slippage and with every fill one bar later, "
            "side by side (metrics.json 'stress'; backtest.stress)"
        ),
    )

    RULES: ClassVar[dict[str, Rule]] = {
        "n_boot": (lambda v: v >= 1, ">= 1"),
        "fee_bps": (lambda v: v >= 0, ">= 0 bps"),
        "slippage_bps": (lambda v: v >= 0, ">= 0 bps"),
        "block_length": (lambda v: v > 0, "> 0 bars"),
    }


def build_parser(description: str = "") -> argparse.ArgumentParser:
    """One flag per ``EvalConfig`` field (help from its doc) and ``--config FILE``."""
    p = argparse.ArgumentParser(prog="python -m evaluate", description=description)
    add_fields(p, EvalConfig)
    add_market_flags(p, window=True)  # --funding --catalog --bar --start --end
    return p


def config_from_args(args: argparse.Namespace) -> EvalConfig:
    """Defaults, then ``--config`` YAML, then the flags given; each field checked (one line).

    ``args.env`` becomes the market's key first; ``--start`` sets ``args.split`` to the window."""
    if getattr(args, "env", None) is None and market_flags_given(args):  # --config's or default
        args.env = resolve(EvalConfig, args)[0].env
    if getattr(args, "start", None) is not None and "split" in vars(args):  # given (SUPPRESS)
        raise ConfigError(
            f"--split {args.split} and --start exclude each other: --start evaluates the dates "
            "[--start, --end) instead of a split; drop one of them"
        )
    market_from_args(args)
    cfg, sources = resolve(EvalConfig, args)
    check_rules(cfg, EvalConfig.RULES, sources)
    return cfg
