"""Fit a ``DecisionRule`` on VALIDATION: a small grid over (tau, min_hold), by val Sharpe after costs.

Grid: ``tau`` at quantiles ``TAU_QUANTILES`` of the top-class probability over the val bars where a
trade is possible (so the grid adapts to how peaked the model's probabilities are; quantile 0 is
replaced by tau = 0, which is plain argmax), crossed with ``MIN_HOLDS`` bars. Duplicate points
(a collapsed model has equal quantiles) are tried once; ``n_grid`` counts the distinct points
tried, the number of trials behind the selection, for the deflated Sharpe.

Score: ``backtest.proxy.backtest_actions`` of ``rule_path`` (env timing, fee, slippage,
funding), the fast proxy of the env. The best Sharpe (``score``) wins; ties go to the earlier grid point,
ordered from least to most change to argmax (tau ascending, then min_hold ascending), so plain
argmax wins any tie. A rule that never trades scores Sharpe 0 and can win: that is the honest
answer when nothing beats costs.

Fitting on val makes val figures of the chosen rule optimistic (in-sample). ``half_check`` gives
one out-of-sample hint inside val: fit on the first half of the bars, score on the second half
against argmax there. The test split stays untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backtest.proxy import backtest_actions
from envs.params import EnvParams
from supervised.decision import ARGMAX, DecisionRule, rule_path

TAU_QUANTILES = (0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995)
MIN_HOLDS = (0, 6, 24, 72)
_ENV = EnvParams()


@dataclass
class RuleFit:
    """The chosen rule, every grid point's score, and the in-val half-split check."""

    rule: DecisionRule
    metrics: dict[str, float]  # fast backtest of the chosen rule over all bars
    grid: list[dict[str, Any]] = field(default_factory=list)
    half_check: dict[str, Any] = field(default_factory=dict)

    @property
    def n_grid(self) -> int:
        """Number of (tau, min_hold) points tried."""
        return len(self.grid)

    def summary(self) -> dict[str, Any]:
        """The fitted rule, its grid size and its val figures as plain values."""
        return {
            "rule": self.rule.to_dict(),
            "label": self.rule.label(),
            "n_grid": self.n_grid,
            "metrics": self.metrics,
            "grid": self.grid,
            "half_check": self.half_check,
        }


@dataclass
class Market:
    """The arrays the fast backtest needs over ``n`` decision bars (open/close/funding: n + 1)."""

    open: np.ndarray
    close: np.ndarray
    can_trade: np.ndarray
    funding: np.ndarray
    fee_bps: float = _ENV.fee_bps
    slippage_bps: float = _ENV.slippage_bps
    periods_per_year: int = 8760  # the market's bar size (envs.barsize.periods_per_year)

    def backtest(self, actions: np.ndarray, lo: int = 0, hi: int | None = None) -> dict[str, float]:
        """The fast backtest of per-bar ``actions`` over rows ``[lo, hi)``."""
        hi = len(self.can_trade) if hi is None else hi
        return backtest_actions(
            actions,
            self.open[lo : hi + 1],
            self.close[lo : hi + 1],
            self.can_trade[lo:hi],
            self.funding[lo : hi + 1],
            self.fee_bps,
            self.slippage_bps,
            periods_per_year=self.periods_per_year,
        )


def grid_points(
    probs: np.ndarray,
    can_trade: np.ndarray,
    tau_quantiles: tuple[float, ...] = TAU_QUANTILES,
    min_holds: tuple[int, ...] = MIN_HOLDS,
) -> list[tuple[float, float, int]]:
    """Distinct ``(tau_quantile, tau, min_hold)`` in selection order (least change first)."""
    ok = np.asarray(can_trade, dtype=bool)
    top = np.asarray(probs, dtype=np.float64)[ok].max(axis=1) if ok.any() else np.zeros(1)
    seen: set[tuple[float, int]] = set()
    out = []
    for q in sorted(tau_quantiles):
        tau = 0.0 if q == 0.0 else float(np.quantile(top, q))
        tau = min(tau, np.nextafter(1.0, 0.0))
        for m in sorted(min_holds):
            key = (tau, 0 if tau == 0.0 and m <= 1 else m)  # argmax whatever min_hold <= 1
            if key not in seen:
                seen.add(key)
                out.append((float(q), tau, int(m)))
    return out


def fit_rule(
    probs: np.ndarray,
    market: Market,
    tau_quantiles: tuple[float, ...] = TAU_QUANTILES,
    min_holds: tuple[int, ...] = MIN_HOLDS,
    half_check: bool = True,
) -> RuleFit:
    """Grid-search a ``confidence`` rule on ``probs (n, 3)`` over ``market``'s n bars."""
    best: tuple[float, DecisionRule, dict[str, float]] | None = None
    grid = []
    for q, tau, m in grid_points(probs, market.can_trade, tau_quantiles, min_holds):
        rule = DecisionRule("confidence", tau, m)
        met = market.backtest(rule_path(rule, probs, market.can_trade))
        grid.append({"tau_quantile": q, "tau": tau, "min_hold": m, **met})
        if best is None or met["score"] > best[0]:
            best = (met["score"], rule, met)
    assert best is not None
    rule = ARGMAX if best[1].is_argmax else best[1]
    check = _half_check(probs, market, tau_quantiles, min_holds) if half_check else {}
    return RuleFit(rule, best[2], grid, check)


def _half_check(
    probs: np.ndarray, market: Market, tau_quantiles: tuple[float, ...], min_holds: tuple[int, ...]
) -> dict[str, Any]:
    n = len(market.can_trade)
    h = n // 2
    if h < 50:
        return {}
    first = Market(
        market.open[: h + 1],
        market.close[: h + 1],
        market.can_trade[:h],
        market.funding[: h + 1],
        market.fee_bps,
        market.slippage_bps,
        market.periods_per_year,
    )
    fit = fit_rule(probs[:h], first, tau_quantiles, min_holds, half_check=False)
    p2, ok2 = probs[h:], market.can_trade[h:]
    rule_m = market.backtest(rule_path(fit.rule, p2, ok2), h, n)
    arg_m = market.backtest(rule_path(ARGMAX, p2, ok2), h, n)
    return {
        "fit_on_bars": [0, h],
        "scored_on_bars": [h, n],
        "rule": fit.rule.to_dict(),
        "first_half_sharpe": fit.metrics["sharpe"],
        "second_half_sharpe_rule": rule_m["sharpe"],
        "second_half_turnover_rule": rule_m["turnover"],
        "second_half_sharpe_argmax": arg_m["sharpe"],
        "second_half_turnover_argmax": arg_m["turnover"],
    }
