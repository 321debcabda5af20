"""``evaluate.walkforward``'s inputs, checked before any folder or data: one line each (exit 2).

* numbers and dates (``check_walkforward``; the cost/bootstrap flags shared with ``evaluate``
  via ``evaluate.arg_checks.check_numbers``);
* ``--window`` at most 4096 bars (a 100000-bar window failed in the middle of the first fold);
* a flag none of the chosen ``--methods`` reads is refused, not silently ignored
  (``--timesteps`` with momentum, ``--epochs`` with trees, ...; ``learners.LEARNERS``);
* ``--address`` checked before Ray sees it;
* ``--min-train DURATION`` (``730d``, ``104w``, ``2y``): the first fold's minimum information set
  as a span of time, converted to bars of the market's bar size (``--min-train-bars`` counts
  bars, so 17520 is 2 years of 1h bars but 8 years of 4h bars).
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from envs.barsize import bar_ns
from envs.features import FEATURE_SETS
from evaluate.arg_checks import check_numbers
from evaluate.walkforward.learners import LEARNERS
from lab.config import ConfigError
from lab.engine import check_address

MAX_WINDOW = 4096
DURATION_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([dwy])")
DAYS = {"d": 1.0, "w": 7.0, "y": 365.0}
DAY_NS = 86_400 * 10**9


def _fail(flag: str, value: object, rule: str) -> None:
    raise ConfigError(f"{flag} {value}: must be {rule}")


def _utc(flag: str, text: str) -> pd.Timestamp:
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
    if start is not None and end is not None and not start < end:
        raise ConfigError(f"--start {args.start} is not before --end {args.end}; swap them")
    if args.feature_set is not None and args.feature_set not in FEATURE_SETS:
        raise ConfigError(
            f"--feature-set {args.feature_set!r}: unknown; valid: {', '.join(sorted(FEATURE_SETS))}"
        )
    if args.config is not None and not args.config.is_file():
        raise ConfigError(f"--config {args.config}: no such file; give a PPO config YAML")
    check_walkforward_extras(args)


def check_walkforward_extras(args: Any) -> None:
    """Raise one ``ConfigError`` for the first problem above (before any data is read)."""
    if args.window is not None and not 1 <= args.window <= MAX_WINDOW:
        raise ConfigError(f"--window {args.window}: must be from 1 to {MAX_WINDOW} bars")
    for name in ("timesteps", "epochs", "max_train_samples", "config"):
        readers = [m for m, lr in LEARNERS.items() if name in lr.flags]
        if getattr(args, name, None) is not None and not set(readers) & set(args.methods):
            flag = "--" + name.replace("_", "-")
            raise ConfigError(
                f"{flag} is not read by --algo {' '.join(args.methods)} (only by "
                f"{', '.join(readers)}); drop it"
            )
    check_address(getattr(args, "address", None))
    if getattr(args, "min_train", None) is not None:
        duration_days(args.min_train)
    if getattr(args, "train_span", None) is not None:
        duration_days(args.train_span, "--train-span")
    if args.out is not None and args.run_dir is not None:
        raise ConfigError("--out and --run-dir both given; --run-dir starts or resumes, drop --out")


def duration_days(text: str, flag: str = "--min-train") -> float:
    """``730d`` / ``104w`` / ``2y`` -> days; anything else one line naming ``flag``."""
    m = DURATION_RE.fullmatch(str(text).strip().lower())
    if m is None or float(m.group(1)) <= 0:
        raise ConfigError(
            f"{flag} {text!r}: not a duration; write a positive number of days, weeks or "
            f"years, e.g. {flag} 730d (or 104w, 2y)"
        )
    return float(m.group(1)) * DAYS[m.group(2)]


def min_train_bars(text: str, bar: str, flag: str = "--min-train") -> int:
    """A duration flag as a bar count of the market's bar size ``bar`` (e.g. ``4h``)."""
    return max(1, round(duration_days(text, flag) * DAY_NS / bar_ns(bar)))
