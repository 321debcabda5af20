"""The reward table: every ``reward=`` option of the env, the one place a reader looks.

A row names the reward, its code in the numba kernel (``envs.kernel._reward`` branches on it),
its formula (the ``reward`` option's doc, hence ``--help`` and the training config's field doc,
``agents.training.config_schema.EnvConfig``), the ``EnvParams`` fields it reads, and its
reference maths in plain Python (``envs.accounting``'s reference step calls it). ``R`` is the
bar's log equity change net of every cost, the equity floored at the ruin level.

To add a reward: one row here plus its branch in ``envs/kernel.py:_reward``;
``tests/test_rewards.py`` fails when a row is incomplete or the kernel disagrees with the row's
reference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DSR_VAR_EPS = 1e-12  # DSR: no reward while the variance estimate B - A^2 is <= this
# the kernel's reward codes (float: they travel in its float64 constants row)
CODE_DRAWDOWN, CODE_LOG_RETURN, CODE_DSR = 0.0, 1.0, 2.0

# (R, DD, DD_prev, A, B, params) -> (reward, A', B'): A and B are the DSR's moments
Reference = Callable[[float, float, float, float, float, Any], tuple[float, float, float]]


def drawdown_reward(r: float, dd: float, dd_prev: float, dd_penalty: float) -> float:
    """``R - dd_penalty * max(0, min(DD, 1) - DD_prev)``: only increases of the drawdown cost;
    DD is capped at 1 (only a negative equity passes it), so a ruin's penalty stays bounded."""
    return r - dd_penalty * max(0.0, min(dd, 1.0) - dd_prev)


def dsr_reward(r: float, a: float, b: float, eta: float) -> tuple[float, float, float]:
    """Differential Sharpe ratio (Moody & Saffell): ``(D, A', B')``.

    ``D = (B dA - A dB / 2) / (B - A^2)^{3/2}`` with ``dA = R - A``, ``dB = R^2 - B``
    (0 while ``B - A^2 <= 1e-12``), then ``A' = A + eta dA``, ``B' = B + eta dB``.
    """
    da, db = r - a, r * r - b
    d = (b * da - a * db / 2) / (b - a * a) ** 1.5 if b - a * a > DSR_VAR_EPS else 0.0
    return d, a + eta * da, b + eta * db


def _drawdown(r: float, dd: float, dd_prev: float, a: float, b: float, p: Any) -> tuple[float, float, float]:  # fmt: skip
    return drawdown_reward(r, dd, dd_prev, p.dd_penalty), a, b


def _log_return(r: float, dd: float, dd_prev: float, a: float, b: float, p: Any) -> tuple[float, float, float]:  # fmt: skip
    return r, a, b


def _dsr(r: float, dd: float, dd_prev: float, a: float, b: float, p: Any) -> tuple[float, float, float]:  # fmt: skip
    return dsr_reward(r, a, b, p.dsr_eta)


@dataclass(frozen=True)
class Reward:
    """One reward: name, kernel code, formula (its doc), the EnvParams fields it reads, maths."""

    name: str
    code: float
    formula: str
    params: tuple[str, ...]
    reference: Reference


REWARD_TABLE: dict[str, Reward] = {
    r.name: r
    for r in (
        Reward(
            "drawdown",
            CODE_DRAWDOWN,
            "R - dd_penalty * drawdown increase",
            ("dd_penalty",),
            _drawdown,
        ),  # fmt: skip
        Reward("log_return", CODE_LOG_RETURN, "R", (), _log_return),
        Reward("dsr", CODE_DSR, "differential Sharpe ratio of R", ("dsr_eta", "dsr_var0"), _dsr),
    )
}
REWARDS = tuple(REWARD_TABLE)  # the ``reward`` option's choices
REWARD_CODES = {name: r.code for name, r in REWARD_TABLE.items()}
REWARD_DOC = "; ".join(f"{name}: {r.formula}" for name, r in REWARD_TABLE.items())


def problems(r: Reward) -> list[str]:
    """What is missing or wrong in one row (empty when complete)."""
    out = []
    if not r.name.isidentifier():
        out.append(f"reward name {r.name!r} is not an option value")
    if not r.formula.strip():
        out.append(f"{r.name}: no formula")
    if not callable(r.reference):
        out.append(f"{r.name}: no reference maths")
    if sum(code == r.code for code in REWARD_CODES.values()) != 1 and r.name in REWARD_TABLE:
        out.append(f"{r.name}: kernel code {r.code} is not unique")
    return out
