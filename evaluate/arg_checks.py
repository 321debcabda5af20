"""Range checks of ``evaluate`` / ``evaluate.walkforward`` numbers, before any folder or backtest:
one line naming the flag, the value and the rule (``ConfigError``: exit 2). The walk-forward's
own checks are ``evaluate.walkforward.checks``."""

from __future__ import annotations

import math
from typing import Any

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
