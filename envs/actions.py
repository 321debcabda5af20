"""Action rules: how an agent's action becomes the position the account trades to.

One place for every path that turns a model's output into a position: the accounting kernel
(``envs.kernel``: the single and the batched env), its plain-Python reference
(``envs.accounting``: the backtest runner's env, ``agents`` paper trading) and the serving
path (``agents`` predict) all call ``decide_target`` with the same inputs, so a policy is
trained, backtested and served under the same rules.

At a decision (the first bar of an agent step), with ``w`` the action's target in [-1, 1]
(``long_only``: [0, 1]), ``pos`` the current target position and ``since`` the bars since
the account last traded:

1. volatility target (``vol_target`` set): ``w = w * vol_target / sigma_t`` with ``sigma_t``
   the annualised realised volatility at decision bar t (``realised_vol``: bars <= t only),
   0 (flat) while no estimate exists (fewer than 2 returns since the segment start, or
   sigma 0);
2. leverage cap: ``w`` clipped to ``[-max_leverage, max_leverage]``;
3. no-trade band: if ``|w - pos| <= no_trade_band`` the target stays ``pos`` (no trade, no
   cost);
4. minimum hold: if ``since < min_hold`` bars the target stays ``pos``.

The defaults (no volatility target, cap 1, band 0, hold 0) return ``w`` itself, bit for bit.
Durations (``decision_interval``, ``min_hold``, ``vol_window``) are bars (an int) or time
(``"1d"``, ``"3d"``, ``"12h"``, ``"90m"``, ``"2w"``), converted with the market's bar size by
``duration_bars``; a duration that is not a whole number of bars is refused.
"""

from __future__ import annotations

import math
import re

import numpy as np

from envs.barsize import MINUTE_NS, YEAR_NS, label
from envs.market import trailing_vol

# the env options that belong to a policy (how its output becomes a position): every env that
# trains, backtests, walks forward or serves the policy applies the same ones
RULE_OPTIONS = ("no_trade_band", "min_hold", "vol_target", "vol_window", "max_leverage")
NEVER_TRADED = float(1 << 62)  # bars since the last trade of a fresh account (exact in float64)
_UNITS = {"m": MINUTE_NS, "min": MINUTE_NS, "h": 60 * MINUTE_NS, "d": 1440 * MINUTE_NS}
_UNITS["w"] = 7 * _UNITS["d"]
_DURATION = re.compile(r"^\s*(\d+)\s*(m|min|h|d|w)\s*$")
DURATION_TEXT = "or a duration such as '1d', '3d', '12h', '90m', '2w' (a whole number of bars)"


def duration_ns(value: object) -> int | None:
    """Nanoseconds of a duration string (``"1d"``, ``"12h"``, ``"90m"``, ``"2w"``), else None."""
    m = _DURATION.match(value) if isinstance(value, str) else None
    return int(m.group(1)) * _UNITS[m.group(2)] if m else None


def duration_bars(name: str, value: int | str, bar_ns: int) -> int:
    """Bars of ``value``: an int is bars already; a duration is converted with the bar size.

    A duration that is not a whole number of bars is refused with one line naming the option,
    the value, the bar size and the fix.
    """
    ns = duration_ns(value)
    if ns is None:
        return int(value)  # type: ignore[arg-type]  # validated by EnvParams: an int
    if ns % bar_ns:
        raise ValueError(
            f"{name}={value!r} is not a whole number of {label(bar_ns)} bars "
            f"({ns / bar_ns:g}); give a multiple of {label(bar_ns)} or a number of bars"
        )
    return ns // bar_ns


def realised_vol(
    close: np.ndarray, segment: np.ndarray, window_bars: int, bar_ns: int
) -> np.ndarray:
    """Annualised realised volatility per bar t: the std (ddof 0) of the last <= ``window_bars``
    in-segment log close returns ending at bar t (bars <= t only: causal), times
    ``sqrt(365 days / bar)``; 0 when fewer than 2 returns exist since the segment start."""
    return trailing_vol(close, segment, int(window_bars)) * math.sqrt(YEAR_NS / bar_ns)


def decide_target(
    w: float,
    pos: float,
    since: float,
    sigma: float,
    vol_target: float,
    max_leverage: float,
    band: float,
    min_hold: float,
) -> float:
    """The position traded to at a decision (module docstring): volatility target, leverage
    cap, no-trade band, minimum hold, in that order. ``vol_target`` 0 means none.

    Plain Python floats; ``envs.kernel`` compiles this very function (numba, inlined).
    """
    if vol_target > 0.0:
        w = w * vol_target / sigma if sigma > 0.0 else 0.0
    if w > max_leverage:
        w = max_leverage
    elif w < -max_leverage:
        w = -max_leverage
    if band > 0.0 and abs(w - pos) <= band:
        w = pos
    if since < min_hold:
        w = pos
    return w
