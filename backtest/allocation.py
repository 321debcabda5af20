"""The deterministic full-split pass of an allocation policy through the portfolio env.

``run_allocation(accounts, decide)`` walks every run of decision bars of the split in order
(``PortfolioAccounts.run_starts``; a bar at which no member has a next bar ends a run), starting
each run flat in cash with the equity carried over (flat across the gap, as ``backtest.runner``
stitches single-market segments). ``decide(t, tradable, first) -> (weights, rebalance)``
chooses the targets on bar t. The result keeps per-bar returns, weights and costs and, per
member, the price P&L and the costs paid (attribution; they add up to the equity change).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from backtest import metrics as M
from envs.kernel import NO_STEP_LIMIT
from envs.portfolio import kernel as PK
from envs.portfolio.env import PortfolioAccounts

Decide = Callable[[int, np.ndarray, bool], tuple[np.ndarray, bool]]


@dataclass
class AllocationBacktest:
    """One policy's pass over a universe split (bars are the bars marked, in order)."""

    name: str
    names: tuple[str, ...]
    timestamps: np.ndarray  # int64 (B,) open time of each bar marked
    returns: np.ndarray  # (B,) simple return of the equity over each bar, net of every cost
    weights: np.ndarray  # (B, N) targets held over each bar
    fee: np.ndarray
    slippage: np.ndarray
    funding: np.ndarray
    turnover: np.ndarray  # (B,) notional traded / equity before the bar
    asset_pnl: np.ndarray  # (B, N) each member's price P&L over the bar / equity before it
    asset_costs: np.ndarray  # (B, N, 3) fee, slippage, funding per member / equity before

    def attribution(self) -> dict[str, dict[str, float]]:
        """Per member: summed return contributions and costs (fractions of equity; the
        contributions minus the costs add up to the sum of the bar returns)."""
        pnl, costs = self.asset_pnl.sum(0), self.asset_costs.sum(0)
        return {
            name: {"pnl": float(pnl[i]), "fee": float(costs[i, 0]),
                   "slippage": float(costs[i, 1]), "funding": float(costs[i, 2])}
            for i, name in enumerate(self.names)
        }  # fmt: skip

    @property
    def equity(self) -> np.ndarray:
        """Equity curve from 1.0, stitched over the runs."""
        return np.concatenate([[1.0], np.cumprod(1.0 + self.returns)])

    def summary(self, periods_per_year: float) -> dict[str, float]:
        """Sharpe, total return, max drawdown, turnover a year and costs as % of equity a year."""
        years = len(self.returns) / periods_per_year
        return {
            "sharpe": M.sharpe_ratio(self.returns, periods_per_year),
            "total_return": M.total_return(self.equity),
            "max_drawdown": M.max_drawdown(self.equity),
            "turnover_per_year": float(self.turnover.sum() / years) if years else float("nan"),
            "fees_pct_per_year": float(100 * (self.fee + self.slippage).sum() / years)
            if years
            else float("nan"),
            "funding_pct_per_year": float(100 * self.funding.sum() / years)
            if years
            else float("nan"),
        }


def run_allocation(accounts: PortfolioAccounts, decide: Decide, name: str) -> AllocationBacktest:
    """Every run of the split in order, one account (``accounts`` must hold exactly one)."""
    if accounts.scal.shape[0] != 1:
        raise ValueError("run_allocation needs a PortfolioAccounts with exactly one account")
    n = accounts.universe.n_assets
    rows: list[tuple[float, ...]] = []
    stamps: list[int] = []
    weights: list[np.ndarray] = []
    pnl: list[np.ndarray] = []
    costs: list[np.ndarray] = []
    for t0 in accounts.run_starts:
        accounts.reset_account(0, int(t0))
        accounts.scal[0, PK.P_MAX_STEPS] = NO_STEP_LIMIT  # a full pass runs each run to its end
        first = True
        while True:
            t = int(accounts.scal[0, PK.P_T])
            eq_before = accounts.scal[0, PK.P_EQ]
            target, rebalance = decide(t, accounts.tradable_now()[0], first)
            _, done, info = accounts.step_weights(target[None], rebalance)
            first = False
            eq = info["equity"][0]
            stamps.append(int(accounts.universe.timestamps[t + 1]))
            rows.append((
                eq / eq_before - 1.0,
                info["fee"][0] / eq_before, info["slippage"][0] / eq_before,
                info["funding"][0] / eq_before, info["turnover"][0] / eq_before,
            ))  # fmt: skip
            weights.append(info["weights"][0])
            pnl.append(info["asset_pnl"][0] / eq_before)
            costs.append(
                np.stack(
                    [info["asset_fee"][0], info["asset_slippage"][0], info["asset_funding"][0]],
                    axis=1,
                )
                / eq_before
            )
            if done[0] != 0.0:
                break
    table = np.array(rows).reshape(-1, 5)
    return AllocationBacktest(
        name=name,
        names=accounts.universe.names,
        timestamps=np.array(stamps, dtype=np.int64),
        returns=table[:, 0],
        weights=np.array(weights).reshape(-1, n),
        fee=table[:, 1],
        slippage=table[:, 2],
        funding=table[:, 3],
        turnover=table[:, 4],
        asset_pnl=np.array(pnl).reshape(-1, n),
        asset_costs=np.array(costs).reshape(-1, n, 3),
    )
