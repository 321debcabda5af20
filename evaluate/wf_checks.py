"""``evaluate.walkforward`` inputs that ``arg_checks`` does not cover (issue 12): one line each.

* ``--window`` at most 4096 bars (a 100000-bar window failed in the middle of the first fold);
* a flag the chosen ``--algo`` never reads is refused, not silently ignored (``--timesteps``
  with momentum, ``--epochs`` with trees, ...);
* ``--address`` checked before Ray sees it;
* ``--min-train DURATION`` (``730d``, ``104w``, ``2y``): the first fold's minimum information set
  as a span of time, converted to bars of the market's bar size (``--min-train-bars`` counts
  bars, so 17520 is 2 years of 1h bars but 8 years of 4h bars).
"""

from __future__ import annotations

import re
from typing import Any

from envs.barsize import bar_ns
from lab.config import ConfigError
from lab.engine import check_address

MAX_WINDOW = 4096
# flag -> the algorithms that read it (evaluate.wf_train)
ALGO_FLAGS = {
    "timesteps": ("ppo",),
    "epochs": ("supervised",),
    "max_train_samples": ("supervised", "trees"),
    "config": ("ppo", "trees"),
}
DURATION_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([dwy])")
DAYS = {"d": 1.0, "w": 7.0, "y": 365.0}
DAY_NS = 86_400 * 10**9


def check_walkforward_extras(args: Any) -> None:
    """Raise one ``ConfigError`` for the first problem above (before any data is read)."""
    if not 1 <= args.window <= MAX_WINDOW:
        raise ConfigError(f"--window {args.window}: must be from 1 to {MAX_WINDOW} bars")
    for name, algos in ALGO_FLAGS.items():
        if getattr(args, name, None) is not None and args.algo not in algos:
            flag = "--" + name.replace("_", "-")
            raise ConfigError(
                f"{flag} is not read by --algo {args.algo} (only by {', '.join(algos)}); drop it"
            )
    check_address(getattr(args, "address", None))
    if getattr(args, "min_train", None) is not None:
        duration_days(args.min_train)


def duration_days(text: str) -> float:
    """``730d`` / ``104w`` / ``2y`` -> days; anything else one line naming ``--min-train``."""
    m = DURATION_RE.fullmatch(str(text).strip().lower())
    if m is None or float(m.group(1)) <= 0:
        raise ConfigError(
            f"--min-train {text!r}: not a duration; write a positive number of days, weeks or "
            "years, e.g. --min-train 730d (or 104w, 2y)"
        )
    return float(m.group(1)) * DAYS[m.group(2)]


def min_train_bars(text: str, bar: str) -> int:
    """``--min-train`` as a bar count of the market's bar size ``bar`` (e.g. ``4h``)."""
    return max(1, round(duration_days(text) * DAY_NS / bar_ns(bar)))
