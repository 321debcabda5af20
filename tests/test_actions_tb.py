"""Turnover, fees and funding as training-time rates (agents.training.episode_stats.CostRates,
logged by TradingMetricsCallback as trading/*_per_year): hand-computed windows, and the real
batched env's numbers."""

from __future__ import annotations

import numpy as np
import pytest
from test_env_kernel import random_market

from agents.training.episode_stats import CostRates
from envs import BatchedTradingEnv


def test_rates_are_per_year_fractions_of_equity_over_the_window():
    rates = CostRates(bars_per_step=2, periods_per_year=8760)
    info = dict.fromkeys(("turnover", "fee", "slippage", "funding"), np.zeros(2))
    rates.step({**info, "equity": np.array([2.0, 1.0]), "turnover": np.array([2.0, 1.0]),
                "fee": np.array([0.002, 0.001]), "funding": np.array([0.0, -0.0005])})  # fmt: skip
    rates.step({**info, "equity": np.array([2.0, 1.0])})
    # 2 steps x 2 accounts x 2 bars = 8 account-bars; turnover fractions 1 + 1 = 2 -> one round
    # trip per 8 bars; fee fractions 0.001 + 0.001; funding -0.0005
    out = rates.rates()
    assert out == pytest.approx(
        {
            "round_trips_per_year": 1.0 * 8760 / 8,
            "fees_per_year": 0.002 * 8760 / 8,
            "slippage_per_year": 0.0,
            "funding_per_year": -0.0005 * 8760 / 8,
        }
    )
    assert rates.rates() is None  # a new, empty window


def test_rates_of_a_batched_env_count_every_trade_once():
    """Flip BUY/SELL every step on 3 accounts, no fee: turnover per step is 1 (the first
    entry) then 2 (each flip) times the equity at the fill; k=1."""
    venv = BatchedTradingEnv(random_market(1), 3, seed=0, fee_bps=10, slippage_bps=0,
                             funding=False, episode_length=None, max_drawdown=None)  # fmt: skip
    venv.reset()
    rates = CostRates(1, 8760)
    fees = []
    for i in range(6):
        venv.step(np.full(3, 2 if i % 2 == 0 else 0))
        rates.step(venv.last_info)
        fees.append(venv.last_info["fee"] / venv.last_info["equity"])
    out = rates.rates()
    # turnover / equity after the step is ~ 1, 2, 2, ... (equity moves between fill and close)
    assert out["round_trips_per_year"] == pytest.approx((1 + 2 * 5) / 2 / 6 * 8760, rel=0.05)
    assert out["fees_per_year"] == pytest.approx(float(np.sum(fees)) / 18 * 8760, rel=1e-12)
