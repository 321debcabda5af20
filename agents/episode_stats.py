"""Per-episode trading statistics accumulated from the env's step infos (pure numpy).

Sharpe and drawdown come from ``evaluate.metrics`` (the same maths as every backtest report).
The training callback feeds every step's info dicts here; when an env's episode ends, the
accumulated arrays become one row of ``trading/`` scalars. Kept apart from the SB3 callback
so the maths is testable with hand-made infos and no model.

Info keys read (the env's contract, see ``envs.trading_env``): ``equity`` (account value after
the step, starting capital 1.0 unless the env says otherwise), ``position`` (held exposure in
[-1, 1]), and the per-step costs ``fee``, ``slippage``, ``funding`` in equity units (funding
may be negative: a short receives it). Missing cost keys count as 0 so an env without funding
still logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evaluate.metrics import max_drawdown, sharpe_ratio

PERIODS_PER_YEAR = 8760  # hourly bars, 24/7 markets
FLAT_EPS = 1e-6  # |position| below this counts as flat (continuous actions rarely hit 0.0 exactly)


def position_shares(positions: np.ndarray, eps: float = FLAT_EPS) -> tuple[float, float, float]:
    """Fractions of steps spent short, flat and long (sum to 1; zeros for no steps)."""
    p = np.asarray(positions, dtype=np.float64)
    if p.size == 0:
        return 0.0, 0.0, 0.0
    short = float(np.mean(p < -eps))
    long = float(np.mean(p > eps))
    return short, 1.0 - short - long, long


@dataclass
class EpisodeTrace:
    """One env's running episode: equity and position after each step, costs per step."""

    start_equity: float = 1.0
    equity: list[float] = field(default_factory=list)
    position: list[float] = field(default_factory=list)
    fees: float = 0.0
    slippage: float = 0.0
    funding: float = 0.0

    def add(self, info: Mapping[str, Any]) -> None:
        """Record one step's info."""
        self.equity.append(float(info["equity"]))
        self.position.append(float(info["position"]))
        self.fees += float(info.get("fee", 0.0))
        self.slippage += float(info.get("slippage", 0.0))
        self.funding += float(info.get("funding", 0.0))

    def summary(self, periods_per_year: int = PERIODS_PER_YEAR) -> dict[str, float]:
        """The episode's ``trading/`` scalars (names without the prefix)."""
        eq = np.concatenate([[self.start_equity], np.asarray(self.equity, dtype=np.float64)])
        pos = np.concatenate([[0.0], np.asarray(self.position, dtype=np.float64)])
        returns = eq[1:] / eq[:-1] - 1.0
        short, flat, long = position_shares(pos[1:])
        return {
            "final_equity": float(eq[-1] / self.start_equity),
            # nan for a constant-return (e.g. always flat) episode; the callback skips nans
            "sharpe": sharpe_ratio(returns, periods_per_year),
            "max_drawdown": max_drawdown(eq),
            # sum of |change in exposure|: 1.0 = one full flip of the account's notional
            "turnover": float(np.sum(np.abs(np.diff(pos)))),
            # costs as fractions of the starting equity, like evaluate.metrics.summarize
            "fees_paid": self.fees / self.start_equity,
            "slippage_paid": self.slippage / self.start_equity,
            "funding_paid": self.funding / self.start_equity,
            "costs_paid": (self.fees + self.slippage + self.funding) / self.start_equity,
            "share_short": short,
            "share_flat": flat,
            "share_long": long,
            "episode_steps": float(len(self.equity)),
        }


class EpisodeStats:
    """Accumulates traces for ``n_envs`` envs; ``step`` returns summaries of finished episodes."""

    def __init__(self, n_envs: int, periods_per_year: int = PERIODS_PER_YEAR) -> None:
        self.periods_per_year = periods_per_year
        self.traces = [EpisodeTrace() for _ in range(n_envs)]

    def step(self, infos: list[Mapping[str, Any]], dones: np.ndarray) -> list[dict[str, float]]:
        """Add one VecEnv step. For a done env, SB3 puts the last step's info in ``infos``
        (the terminal observation aside); that step is counted, then the trace restarts."""
        finished = []
        for i, (info, done) in enumerate(zip(infos, dones, strict=True)):
            if "equity" not in info:
                continue
            self.traces[i].add(info)
            if done:
                finished.append(self.traces[i].summary(self.periods_per_year))
                self.traces[i] = EpisodeTrace()
        return finished
