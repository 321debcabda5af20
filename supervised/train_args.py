"""The command line of ``python -m supervised.train``: its parser and the config it resolves.

Apart from ``supervised.train`` so that the seed-group runner (``supervised.seed_group``), which
the train command hands ``--seeds`` to, can parse the same flags without importing the command.
"""

from __future__ import annotations

import argparse

from envs.marketspec import add_market_flags, market_flags_given, market_from_args
from lab.config import ConfigError, add_fields, check_rules, resolve
from lab.seeds import add_group_flags
from supervised.config_checks import check_options
from supervised.fitting import FitConfig


def build_parser(description: str | None = None) -> argparse.ArgumentParser:
    """One flag per ``FitConfig`` field (help from its doc), ``--config FILE`` and ``--run-dir``."""
    p = argparse.ArgumentParser(
        prog="python -m supervised.train",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_fields(p, FitConfig)
    add_market_flags(p)  # --env FILE|entry, --funding, --catalog, --bar (envs.marketspec)
    p.add_argument(
        "--run-dir", default=None, help="run folder (default: runs/<env>/supervised/...)"
    )
    add_group_flags(p)  # handled by supervised.seed_group before this parser runs
    return p


def config_from_args(a: argparse.Namespace) -> FitConfig:
    """Defaults, then ``--config`` YAML, then the flags given; each field checked (one line)."""
    if getattr(a, "env", None) is None and market_flags_given(a):  # --config's or default
        a.env = resolve(FitConfig, a)[0].env
    try:
        market_from_args(a)  # a.env: the market's key
    except ConfigError as err:  # an unknown name: the env rule below says what --env must be
        if not str(err).startswith("unknown --env"):
            raise
    cfg, sources = resolve(FitConfig, a)
    check_rules(cfg, FitConfig.RULES, sources)
    check_options(cfg)  # label/loss/model options: one line before the run folder exists
    return cfg
