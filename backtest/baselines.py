"""The baseline policies (the protocol they follow and ``PolicySpec``: ``backtest.policy``).

Baselines decide a target position in ``{-1, 0, +1}``, mapped onto the action space:
``buy_and_hold`` always long, ``flat`` always out, ``random`` a seeded uniform draw of
SELL/HOLD/BUY each bar, ``momentum`` the sign of the trailing ``lookback``-bar (168 = one week) return
``close[t] / close[t - lookback] - 1`` (known at t's close; flat until ``lookback`` bars of the
current segment exist, so it never looks across a data gap).

The known edges (daily time-series momentum, a trend ensemble, volatility-targeted holding) live
in ``backtest.trend``; ``backtest.baseline_table`` is the one table of every baseline, their
grids and defaults.

Model policies (SB3 run folders, supervised checkpoints) live above this layer, in
``agents.acting.loading``; this module is numpy + envs only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backtest.oracles import oracle_baseline
from backtest.policy import ORACLES, Policy, PolicySpec, position_to_action
from envs.segments import bars_since_segment_start

__all__ = [
    "BASELINES",
    "ORACLES",
    "TREND_BASELINES",
    "ConstantPolicy",
    "MomentumPolicy",
    "Policy",
    "PolicySpec",
    "RandomPolicy",
    "baseline",
    "is_reference",
    "position_to_action",
]

BASELINES = ("buy_and_hold", "flat", "random", "momentum")
# the known edges (backtest.trend), built from the table in backtest.baseline_table
TREND_BASELINES = ("tsmom_long_flat", "tsmom_long_short", "trend_ensemble", "vol_target")


def is_reference(method: str) -> bool:
    """A built-in baseline or oracle: a reference to compare against, never a seeded method."""
    return method in BASELINES or method in TREND_BASELINES or method in ORACLES


@dataclass
class ConstantPolicy:
    """Always the same target position (buy-and-hold: +1, flat: 0)."""

    position: float
    space: Any = None

    def bind(self, market: Any, action_space: Any) -> None:
        """Remember the action space (the position is fixed)."""
        self.space = action_space

    def act(self, obs_batch: np.ndarray, bars: np.ndarray) -> np.ndarray:
        """The fixed position at every bar."""
        return position_to_action(np.full(len(bars), self.position), self.space)


@dataclass
class RandomPolicy:
    """Uniform SELL/HOLD/BUY each bar from a seeded Generator (re-seeded at every ``bind``)."""

    seed: int
    space: Any = None
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))

    def bind(self, market: Any, action_space: Any) -> None:
        """Remember the action space and reseed the generator (same seed, same pass)."""
        self.space = action_space
        self.rng = np.random.default_rng(self.seed)

    def act(self, obs_batch: np.ndarray, bars: np.ndarray) -> np.ndarray:
        """A uniformly random short/flat/long position per bar."""
        return position_to_action(
            self.rng.integers(-1, 2, size=len(bars)).astype(np.float64), self.space
        )


@dataclass
class MomentumPolicy:
    """Long when the trailing ``lookback``-bar return is positive, short when negative."""

    lookback: int = (
        168  # one week of hourly bars: shorter lookbacks flip so often that fees dominate
    )
    space: Any = None
    signal: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def bind(self, market: Any, action_space: Any) -> None:
        """Precompute the momentum signal of every bar of ``market``."""
        self.space = action_space
        close = np.asarray(market.close, dtype=np.float64)
        seg = np.asarray(market.segment, dtype=np.int64)  # envs.segments.segment_ids
        since = bars_since_segment_start(seg)
        past = np.concatenate([np.full(self.lookback, np.nan), close[: -self.lookback]])
        with np.errstate(invalid="ignore"):
            sig = np.sign(close / past - 1.0)
        self.signal = np.where(since >= self.lookback, np.nan_to_num(sig), 0.0)

    def act(self, obs_batch: np.ndarray, bars: np.ndarray) -> np.ndarray:
        """The precomputed signal at each decision bar."""
        return position_to_action(self.signal[np.asarray(bars)], self.space)


def baseline(name: str, seed: int = 0, env: str | None = None) -> Policy:
    """A built-in baseline by name (see the module docstring); oracles need their ``env``."""
    if name.startswith("oracle_"):  # synthetic markets only (backtest.oracles)
        return oracle_baseline(name, env)
    if name == "buy_and_hold":
        return ConstantPolicy(1.0)
    if name == "flat":
        return ConstantPolicy(0.0)
    if name == "random":
        return RandomPolicy(seed)
    if name == "momentum":
        return MomentumPolicy()
    raise ValueError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")
