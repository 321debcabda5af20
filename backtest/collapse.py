"""Collapse diagnosis: did a policy hold one constant position over a whole backtest?

A trading policy "collapsed" when it ignores the market: always long (= buy-and-hold), always
short or always flat. Its Sharpe may still look fine (always long in a bull year), so every
summary names the collapse instead of letting a table of good numbers hide it: the training
validation table and metrics.json, seed-group summaries and evaluate's tables and verdicts.

Buy-and-hold holds a full long position (+1) from its first fill to the end; a policy whose
constant position is +1 over the same bars therefore has exactly buy-and-hold's positions,
returns and metrics, and is named "identical to buy-and-hold".
"""

from __future__ import annotations

import math

import numpy as np

_LABELS = {1.0: "always long", -1.0: "always short", 0.0: "always flat"}
BUY_AND_HOLD_POSITION = 1.0  # buy-and-hold's position after its first fill (full exposure)
IDENTICAL_TO_BH = "identical to buy-and-hold"


def constant_position(positions: np.ndarray) -> float:
    """The one position held over every bar after the first fill, else NaN (it traded).

    ``positions[0]`` is skipped: it is held before the first decision could fill."""
    held = np.asarray(positions, dtype=np.float64)[1:]
    if held.size == 0 or not np.all(held == held[0]):
        return math.nan
    return float(held[0])


def collapse_label(constant: float | None) -> str | None:
    """``"always long"``/``"always short"``/``"always flat"`` (or ``"constant 0.5"``), None when
    ``constant`` is NaN or None (the policy traded)."""
    if constant is None or not math.isfinite(constant):
        return None
    return _LABELS.get(constant, f"constant position {constant:+.3g}")


def collapse_name(constant: float | None) -> str | None:
    """The collapse as a verdict names it: ``"always long: identical to buy-and-hold"`` for a
    full long position, else ``collapse_label``'s words; None when the policy traded."""
    label = collapse_label(constant)
    if label is not None and constant == BUY_AND_HOLD_POSITION:
        return f"{label}: {IDENTICAL_TO_BH}"
    return label


def is_collapsed(constant: float | None) -> bool:
    """Whether a policy held one position throughout (``constant`` from ``constant_position``)."""
    return constant is not None and math.isfinite(constant)
