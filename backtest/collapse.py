"""Collapse diagnosis: did a policy hold one constant position over a whole backtest?

A trading policy "collapsed" when it ignores the market: always long (= buy-and-hold), always
short or always flat. Its Sharpe may still look fine (always long in a bull year), so the run's
summary names the collapse instead of letting a table of good numbers hide it.
"""

from __future__ import annotations

import math

import numpy as np

_LABELS = {1.0: "always long", -1.0: "always short", 0.0: "always flat"}


def constant_position(positions: np.ndarray) -> float:
    """The one position held over every bar after the first fill, else NaN (it traded).

    ``positions[0]`` is skipped: it is held before the first decision could fill."""
    held = np.asarray(positions, dtype=np.float64)[1:]
    if held.size == 0 or not np.all(held == held[0]):
        return math.nan
    return float(held[0])


def collapse_label(constant: float) -> str | None:
    """``"always long"``/``"always short"``/``"always flat"`` (or ``"constant 0.5"``), None when
    ``constant`` is NaN (the policy traded)."""
    if not math.isfinite(constant):
        return None
    return _LABELS.get(constant, f"constant position {constant:+.3g}")
