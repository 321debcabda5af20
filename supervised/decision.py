"""Cost-aware decision rules: class probabilities + the current position -> the env action.

Why: the classifier's argmax changes class from one bar to the next whenever the top class
flickers, and actions are *target positions* (0 SELL = -1, 1 HOLD = flat, 2 BUY = +1), so every
flicker is a trade that pays fee + slippage. A rule that trades only on a confident signal and
keeps a fresh position a minimum time removes most of that churn.

A ``DecisionRule`` is a pure function of bar t's information: the class probabilities of bar t
(``softmax(logits + correction bias)``, float64) and the account state in bar t's observation,
read at fixed indices of the env's flat observation (``W = window * n_features``):

* ``obs[W + 0]``: the current target position q in {-1, 0, +1};
* ``obs[W + 3]``: bars held, scaled ``log1p(n) / log1p(720)`` (``envs.params.BARS_HELD_SCALE``),
  inverted exactly by ``bars_held_from_scaled`` (``round(expm1(x * log1p(720)))``). ``n`` counts
  the bars marked since the position was opened or flipped; it is 0 when flat and 1 at the first
  decision after an entry (the env's kernel: reset to 0 on an entry/flip, +1 per bar held).

Kinds (``c = argmax p``, the first maximum on ties; "keep" = emit ``q + 1``, the current target):

* ``argmax``: ``c``. The behaviour of every checkpoint written before rules existed.
* ``confidence``: if ``q != 0`` and ``n < min_hold``: keep (hysteresis: a new position is held
  at least ``min_hold`` bars; ``min_hold <= 1`` never binds). Else if ``p[c] > tau`` (strict):
  ``c``. Else keep. ``tau = 0, min_hold = 0`` is exactly ``argmax`` (``p[c] >= 1/3 > 0``).
  Going flat is a decision like any other: HOLD must also clear ``tau``.

Offline, ``rule_path`` replays the same rule over a contiguous bar range while tracking the
position and bars held exactly as the env does (flat and 0 at every bar where no trade is
possible, ``can_trade`` false, because the env starts a new episode flat after a gap), so the
fast backtest and the env agree; ``tests/test_supervised_decision.py`` checks both paths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from envs.params import BARS_HELD_SCALE

RULE_KINDS = ("argmax", "confidence")
_LOG_SCALE = math.log1p(BARS_HELD_SCALE)
POSITION_SLOT, BARS_HELD_SLOT = 0, 3  # offsets after the window in the env's observation


def bars_held_from_scaled(scaled: np.ndarray | float) -> np.ndarray:
    """Invert the env's ``log1p(n) / log1p(720)`` (float32) to the integer bars held ``n``.

    Exact for every n the env can produce (float32 keeps ~7 digits; adjacent n differ by far more
    than that in log space below n ~ 1e6)."""
    x = np.asarray(scaled, dtype=np.float64)
    return np.rint(np.expm1(x * _LOG_SCALE)).astype(np.int64)


def class_probs(logits: np.ndarray) -> np.ndarray:
    """Softmax in float64 of ``(B, 3)`` logits (already corrected: ``logits + bias``)."""
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class DecisionRule:
    """How probabilities and the account state become an action (see the module docstring).

    ``tau``: top-class probability a change of position must exceed (0..1).
    ``min_hold``: bars a non-flat position is kept before it may change (0 = no hysteresis).
    """

    kind: str = "argmax"
    tau: float = 0.0
    min_hold: int = 0

    def __post_init__(self) -> None:
        if self.kind not in RULE_KINDS:
            raise ValueError(f"unknown decision rule kind {self.kind!r}; valid: {RULE_KINDS}")
        if not 0.0 <= float(self.tau) < 1.0:
            raise ValueError(f"tau must be in [0, 1), got {self.tau}")
        if int(self.min_hold) < 0 or int(self.min_hold) != self.min_hold:
            raise ValueError(f"min_hold must be a non-negative integer (bars), got {self.min_hold}")
        object.__setattr__(self, "tau", float(self.tau))
        object.__setattr__(self, "min_hold", int(self.min_hold))

    @property
    def is_argmax(self) -> bool:
        """True when the rule is plain argmax (also ``confidence`` with tau=0, min_hold<=1)."""
        return self.kind == "argmax" or (self.tau == 0.0 and self.min_hold <= 1)

    def label(self) -> str:
        """A short human-readable name of the rule."""
        if self.kind == "argmax":
            return "argmax"
        return f"confidence(tau={self.tau:.3f},min_hold={self.min_hold})"

    def to_dict(self) -> dict[str, Any]:
        """The rule as a plain dict (stored in checkpoints)."""
        return {"kind": self.kind, "tau": self.tau, "min_hold": self.min_hold}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> DecisionRule:
        """``None`` / ``{}`` (a checkpoint older than rules) -> the argmax rule."""
        if not d:
            return cls()
        unknown = set(d) - {"kind", "tau", "min_hold"}
        if unknown:
            raise ValueError(f"decision rule: unknown fields {sorted(unknown)}")
        return cls(
            str(d.get("kind", "argmax")), float(d.get("tau", 0.0)), int(d.get("min_hold", 0))
        )

    def decide(self, probs: np.ndarray, position: np.ndarray, bars_held: np.ndarray) -> np.ndarray:
        """Actions ``(B,)`` int64 from probabilities ``(B, 3)``, positions ``(B,)`` (-1/0/1) and
        bars held ``(B,)`` (int)."""
        p = np.asarray(probs, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != 3:
            raise ValueError(f"probs must be (B, 3), got {p.shape}")
        c = p.argmax(axis=1).astype(np.int64)
        if self.kind == "argmax":
            return c
        keep = np.rint(np.asarray(position, dtype=np.float64)).astype(np.int64) + 1
        held = np.asarray(bars_held, dtype=np.int64)
        locked = (keep != 1) & (held < self.min_hold)
        confident = p[np.arange(len(p)), c] > self.tau
        return np.where(locked | ~confident, keep, c).clip(0, 2)

    def decide_obs(
        self, probs: np.ndarray, obs: np.ndarray, window: int, n_features: int
    ) -> np.ndarray:
        """``decide`` with position and bars held read from flat observations ``(B, W*F + 4)``."""
        o = np.asarray(obs)
        w = int(window) * int(n_features)
        if o.ndim != 2 or o.shape[1] != w + 4:
            raise ValueError(
                f"observations must be (B, window*F + 4) = (B, {w + 4}), got {o.shape}: "
                "a different window or feature set than the rule's classifier"
            )
        return self.decide(
            probs, o[:, w + POSITION_SLOT], bars_held_from_scaled(o[:, w + BARS_HELD_SLOT])
        )


ARGMAX = DecisionRule()


@numba.njit(cache=True)
def _path(probs, can_trade, confidence, tau, min_hold):  # noqa: ANN001, ANN202 (numba)
    n = probs.shape[0]
    out = np.empty(n, dtype=np.int64)
    pos = 0  # current target position (-1, 0, 1), as the env's observation shows it
    held = 0  # bars held, as the env's kernel counts them
    for t in range(n):
        if not can_trade[t]:
            out[t] = 1  # forced flat; the env starts the next run flat with nothing held
            pos = 0
            held = 0
            continue
        c = 0
        for k in range(1, 3):
            if probs[t, k] > probs[t, c]:
                c = k
        a = c
        if confidence:
            if (pos != 0 and held < min_hold) or not probs[t, c] > tau:
                a = pos + 1
        w = a - 1
        if w != pos:  # opened, flipped or closed: the kernel resets the count
            held = 0
        if w != 0:
            held += 1
        pos = w
        out[t] = a
    return out


def rule_path(rule: DecisionRule, probs: np.ndarray, can_trade: np.ndarray) -> np.ndarray:
    """Actions ``(n,)`` int64 of ``rule`` over ``n`` consecutive decision bars, tracking the
    position and bars held as the env does; HOLD where ``can_trade`` is false."""
    p = np.ascontiguousarray(probs, dtype=np.float64)
    ok = np.ascontiguousarray(can_trade, dtype=np.bool_)
    if p.ndim != 2 or p.shape[1] != 3 or len(ok) != len(p):
        raise ValueError(f"need probs (n, 3) and can_trade (n,), got {p.shape} and {ok.shape}")
    return _path(p, ok, rule.kind == "confidence", rule.tau, rule.min_hold)
