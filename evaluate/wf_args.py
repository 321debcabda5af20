"""The ``python -m evaluate.walkforward`` argument parser (flags, defaults and help)."""

from __future__ import annotations

import argparse
from pathlib import Path

from envs.marketspec import add_market_flags
from evaluate.wf_train import MOMENTUM_GRID, TRAINERS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m evaluate.walkforward",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--env", default="btc1h", help="market: preset (default btc1h), file, entry")
    add_market_flags(p)  # --funding --catalog --bar (envs.marketspec)
    p.add_argument(
        "--algo",
        required=True,
        choices=sorted(TRAINERS),
        help="ppo | supervised | trees | momentum (momentum = smoke path: lookback chosen on val "
        f"among {MOMENTUM_GRID}, no learning)",
    )
    p.add_argument("--folds", type=int, required=True, help="number of folds K (test blocks)")
    p.add_argument(
        "--timesteps", type=int, default=None, help="PPO env steps per fold (default: config)"
    )
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="PPO config YAML (sections env/policy/ppo/train); trees: its trees section",
    )
    p.add_argument(
        "--epochs", type=int, default=None, help="supervised epochs per fold (default: its own)"
    )
    p.add_argument(
        "--max-train-samples",
        type=int,
        default=None,
        help="supervised: keep only the last N training samples per fold (quick runs)",
    )
    p.add_argument(
        "--purge-bars",
        type=int,
        default=24,
        help="bars dropped between training and val, and between val and test (>= the "
        "label horizon; default 24)",
    )
    p.add_argument(
        "--embargo-bars",
        type=int,
        default=24,
        help="bars after each earlier test block removed from training (default 24)",
    )
    p.add_argument(
        "--val-bars",
        type=int,
        default=2160,
        help="selection block per fold (default 2160 = 90 days)",
    )
    p.add_argument(
        "--test-bars",
        type=int,
        default=None,
        help="bars per test block (default: the span after the first fold's training, split evenly)",
    )
    p.add_argument(
        "--min-train-bars",
        type=int,
        default=17520,
        help="minimum rows of the first fold's information set (default 17520 = 2 years)",
    )
    p.add_argument(
        "--start", default=None, help="span start (UTC date; default the preset's train start)"
    )
    p.add_argument(
        "--end", default=None, help="span end, exclusive (UTC date; default the test end)"
    )
    p.add_argument("--feature-set", default="core17", help="feature set (default core17)")
    p.add_argument("--window", type=int, default=32, help="observation window in bars (default 32)")
    p.add_argument("--seed", type=int, default=0, help="seed of every fold's training (default 0)")
    p.add_argument("--workers", type=int, default=1, help="folds trained at once (lab.engine)")
    p.add_argument("--address", help="run the folds on this Ray cluster (ray start --head)")
    p.add_argument(
        "--n-configs",
        type=int,
        default=1,
        help="configurations tried to arrive at this one (a hyperparameter search), for "
        "the deflated Sharpe: n_trials = folds x n_configs (momentum: 4)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default runs/<env>/walkforward/<UTC time>_<algo>_s<seed>/)",
    )
    p.add_argument("--fee-bps", type=float, default=None, help="fee per unit notional traded, bps")
    p.add_argument(
        "--slippage-bps", type=float, default=None, help="slippage per unit notional, bps"
    )
    p.add_argument("--no-funding", action="store_true", help="do not charge perpetual funding")
    p.add_argument("--fill", choices=["next_open", "close"], default=None, help="fill convention")
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument(
        "--bootstrap-seed", type=int, default=0, help="seed of the bootstrap (default 0)"
    )
    p.add_argument("--no-plots", action="store_true", help="skip the PNGs")
    return p
