"""Range checks of ``evaluate`` / ``evaluate.walkforward`` numbers, before any folder or backtest:
one line naming the flag, the value and the rule (``ConfigError``: exit 2)."""

from __future__ import annotations

import math
from typing import Any

from envs.features import FEATURE_SETS
from evaluate.wf_checks import check_walkforward_extras
from lab.config import ConfigError

MAX_BPS = 10_000.0  # 100 % of notional per trade: the env's own bound


def _fail(flag: str, value: object, rule: str) -> None:
    raise ConfigError(f"{flag} {value}: must be {rule}")


def check_numbers(args: Any) -> None:
    """The cost, bootstrap and trial-count flags both CLIs share (absent ones are skipped)."""
    for name in ("fee_bps", "slippage_bps"):
        v = getattr(args, name, None)
        if v is not None and not 0 <= v <= MAX_BPS:
            _fail(f"--{name.replace('_', '-')}", v, f"in [0, {MAX_BPS:g}] bps")
    if getattr(args, "n_boot", 1) < 1:
        _fail("--n-boot", args.n_boot, ">= 1 resample")
    bl = getattr(args, "block_length", None)
    if bl is not None and not (math.isfinite(bl) and bl >= 1):
        _fail("--block-length", bl, ">= 1 bar")
    nt = getattr(args, "n_trials", None)
    if nt is not None and nt < 1:
        _fail("--n-trials", nt, ">= 1 (every selection had at least one trial)")
    var = getattr(args, "trials_sharpe_var", None)
    if var is not None and not (math.isfinite(var) and var >= 0):
        _fail("--trials-sharpe-var", var, "a finite variance >= 0")


def check_split(split: str, splits: object) -> None:
    """``split`` is one of the preset's named splits."""
    names = list(splits)  # type: ignore[call-overload]
    if split not in names:
        raise ConfigError(f"--split {split!r}: no such split; valid: {', '.join(names)}")


def _utc(flag: str, text: str) -> object:
    import pandas as pd

    try:
        return pd.Timestamp(text)
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: not a date; give a UTC date like 2022-01-01") from None


def check_walkforward(args: Any) -> None:
    """``evaluate.walkforward``'s own numbers and dates, before any data is read."""
    check_numbers(args)
    at_least_one = ("folds", "window", "workers", "n_configs", "val_bars", "min_train_bars")
    optional_one = ("timesteps", "epochs", "max_train_samples", "test_bars")
    for name in (*at_least_one, *optional_one):
        v = getattr(args, name, None)
        if v is not None and v < 1:
            _fail(f"--{name.replace('_', '-')}", v, ">= 1")
    for name in ("purge_bars", "embargo_bars"):
        if getattr(args, name) < 0:
            _fail(f"--{name.replace('_', '-')}", getattr(args, name), ">= 0 bars")
    start = _utc("--start", args.start) if args.start else None
    end = _utc("--end", args.end) if args.end else None
    if start is not None and end is not None and not start < end:  # type: ignore[operator]
        raise ConfigError(f"--start {args.start} is not before --end {args.end}; swap them")

    if args.feature_set is not None and args.feature_set not in FEATURE_SETS:
        raise ConfigError(
            f"--feature-set {args.feature_set!r}: unknown; valid: {', '.join(sorted(FEATURE_SETS))}"
        )
    if args.config is not None and not args.config.is_file():
        raise ConfigError(f"--config {args.config}: no such file; give a PPO config YAML")
    check_walkforward_extras(args)
