"""Allocation baselines for the portfolio env: the bars an agent that allocates must clear.

Every baseline decides only at a daily close (the bar whose close is 00:00 UTC; every bar on
daily candles), from closes up to that bar (causal), and keeps its targets in between; the
portfolio env fills at the next bar's open and charges the same fees, slippage and funding as
for any policy. Signals use daily closes; lookbacks count days.

==========================  ===================================================================
``universe_buy_and_hold``   equal weight over the members tradable at the first decision, never
                            rebalanced (weights drift with prices)
``equal_weight_daily``      1/n over the tradable members, rebalanced every day
``equal_weight_weekly``     the same, rebalanced at each Monday 00:00 UTC close
``inverse_volatility``      weights proportional to 1 / sigma_30d (daily log returns), weekly
``xs_momentum``             the top half by 30-day return, equal weight, weekly
``trend_vol_target``        per member the average of long/flat moving-average signals over
                            5..360 days (Zarattini, Pagani, Barbon 2025 use such ensembles),
                            scaled to a 40 % annual volatility target per member and divided by
                            N; gross exposure capped at 1; daily
==========================  ===================================================================

A member with too little history for a signal gets weight 0 (cash), never a guess.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from envs.portfolio.universe import Universe

DAY_NS = 86_400 * 10**9
WEEK_ANCHOR_NS = 4 * DAY_NS  # 1970-01-05 (a Monday) 00:00 UTC - 1970-01-01
TREND_LOOKBACKS_DAYS = (5, 10, 20, 40, 80, 160, 360)
VOL_DAYS, MOMENTUM_DAYS = 30, 30
TARGET_VOL_ANNUAL = 0.40


@dataclass(frozen=True)
class DailyView:
    """Daily closes of a universe: ``close[i, d]`` (NaN when member i has no bar closing day d),
    ``day_of_bar[t]`` = the last day completed at or before bar t's close (-1 before any),
    ``day_end[t]`` True on bars closing a day, ``week_end[t]`` on those closing a week."""

    close: np.ndarray
    day_of_bar: np.ndarray
    day_end: np.ndarray
    week_end: np.ndarray

    @classmethod
    def of(cls, universe: Universe) -> DailyView:
        """The daily view of ``universe`` (bars of one day or less)."""
        close_ns: np.ndarray = universe.timestamps + universe.freq_ns
        day_end = close_ns % DAY_NS == 0
        week_end = day_end & ((close_ns - WEEK_ANCHOR_NS) % (7 * DAY_NS) == 0)
        day_of_bar = np.cumsum(day_end) - 1
        close = universe.close[:, day_end]  # NaN where a member lacks that bar
        return cls(close=close, day_of_bar=day_of_bar, day_end=day_end, week_end=week_end)


def _log_returns(close: np.ndarray) -> np.ndarray:
    """Daily log returns (N, D); NaN where either close is missing."""
    r = np.full(close.shape, np.nan)
    r[:, 1:] = np.log(close[:, 1:] / close[:, :-1])
    return r


def _trailing(values: np.ndarray, d: int, days: int) -> np.ndarray | None:
    """``values[:, d - days + 1 : d + 1]`` or None when fewer than ``days`` days exist."""
    return None if d + 1 < days else values[:, d - days + 1 : d + 1]


def equal_weight(view: DailyView, d: int, tradable: np.ndarray) -> np.ndarray:
    """1/n over the tradable members."""
    n = tradable.sum()
    return tradable / n if n else np.zeros(len(tradable))


def inverse_volatility(view: DailyView, d: int, tradable: np.ndarray) -> np.ndarray:
    """Weights proportional to 1 / sigma of the last 30 daily log returns (complete windows)."""
    window = _trailing(_log_returns(view.close), d, VOL_DAYS)
    if window is None:
        return np.zeros(len(tradable))
    ok = tradable & np.isfinite(window).all(axis=1)
    sigma = np.where(ok, np.nanstd(np.where(ok[:, None], window, 0.0), axis=1, ddof=1), 1.0)
    raw = np.where(ok & (sigma > 0), 1.0 / np.where(sigma > 0, sigma, 1.0), 0.0)
    return raw / raw.sum() if raw.sum() > 0 else raw


def xs_momentum(view: DailyView, d: int, tradable: np.ndarray) -> np.ndarray:
    """The top half (rounded up) by 30-day return among members with that history, equal weight."""
    if d < MOMENTUM_DAYS:
        return np.zeros(len(tradable))
    ret = view.close[:, d] / view.close[:, d - MOMENTUM_DAYS] - 1.0
    ok = tradable & np.isfinite(ret)
    k = int(np.ceil(ok.sum() / 2))
    if k == 0:
        return np.zeros(len(tradable))
    order = np.argsort(np.where(ok, -ret, np.inf), kind="stable")[:k]
    w = np.zeros(len(tradable))
    w[order] = 1.0 / k
    return w


def trend_vol_target(view: DailyView, d: int, tradable: np.ndarray) -> np.ndarray:
    """Average long/flat MA signal over TREND_LOOKBACKS_DAYS (those with history) scaled to
    TARGET_VOL_ANNUAL per member, divided by N, gross capped at 1."""
    n = len(tradable)
    sig = np.zeros(n)
    used = np.zeros(n)
    for days in TREND_LOOKBACKS_DAYS:
        window = _trailing(view.close, d, days)
        if window is None:
            continue
        ok = np.isfinite(window).all(axis=1)
        above = window[:, -1] > np.where(ok, window.mean(axis=1), np.inf)
        sig += np.where(ok, above, 0.0)
        used += ok
    vol = _trailing(_log_returns(view.close), d, VOL_DAYS)
    if vol is None:
        return np.zeros(n)
    ok = tradable & (used > 0) & np.isfinite(vol).all(axis=1)
    sigma = np.std(np.where(ok[:, None], vol, 0.0), axis=1, ddof=1) * np.sqrt(365.0)
    scale = np.where(ok & (sigma > 0), TARGET_VOL_ANNUAL / np.where(sigma > 0, sigma, 1.0), 0.0)
    w = np.where(ok, sig / np.maximum(used, 1), 0.0) * scale / n
    gross = np.abs(w).sum()
    return w / gross if gross > 1.0 else w


Rule = Callable[[DailyView, int, np.ndarray], np.ndarray]
# name -> (weights rule, rebalance schedule: "day", "week" or "once")
ALLOCATION_BASELINES: dict[str, tuple[Rule, str]] = {
    "universe_buy_and_hold": (equal_weight, "once"),
    "equal_weight_daily": (equal_weight, "day"),
    "equal_weight_weekly": (equal_weight, "week"),
    "inverse_volatility": (inverse_volatility, "week"),
    "xs_momentum": (xs_momentum, "week"),
    "trend_vol_target": (trend_vol_target, "day"),
}


class BaselineAllocator:
    """A baseline as a decision function ``decide(t, tradable, first) -> (weights, rebalance)``
    for ``backtest.allocation.run_allocation``."""

    def __init__(self, name: str, universe: Universe) -> None:
        if name not in ALLOCATION_BASELINES:
            raise ValueError(
                f"unknown allocation baseline {name!r}; known: {sorted(ALLOCATION_BASELINES)}"
            )
        self.name = name
        self.rule, self.schedule = ALLOCATION_BASELINES[name]
        self.view = DailyView.of(universe)
        self.weights = np.zeros(universe.n_assets)
        self.waiting = True  # no member was tradable at a decision of this run yet

    def decide(self, t: int, tradable: np.ndarray, first: bool) -> tuple[np.ndarray, bool]:
        """Targets on bar t: chosen at the run's first bar with a tradable member and on the
        schedule's closes, kept otherwise (members no longer tradable drop to 0)."""
        if first:
            self.waiting = True
        due = {"once": False, "day": self.view.day_end[t], "week": self.view.week_end[t]}
        if (self.waiting and tradable.any()) or due[self.schedule]:
            self.waiting = False
            d = int(self.view.day_of_bar[t])
            ok: np.ndarray = tradable.astype(bool)
            self.weights = self.rule(self.view, d, ok)  # d = -1: rules without history give 0
            return self.weights * ok, True
        self.weights = self.weights * tradable
        return self.weights, False
