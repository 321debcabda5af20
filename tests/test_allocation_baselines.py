"""Allocation baselines (backtest.allocation_baselines) through the portfolio env's full pass."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtest.allocation import run_allocation
from backtest.allocation_baselines import (
    ALLOCATION_BASELINES,
    BaselineAllocator,
    DailyView,
    trend_vol_target,
    xs_momentum,
)
from backtest.allocation_oracles import OracleAllocator, planted_members
from envs.market import MarketData
from envs.portfolio import load_universe, split_rows
from envs.portfolio.env import PortfolioAccounts
from envs.portfolio.universe import Universe
from evaluate.portfolio import main, render_seeds, seed_summary
from lab.config import ConfigError


def _trend_market(drift: float, seed: int, days: int = 60) -> MarketData:
    n = 24 * days
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(drift + rng.normal(0, 0.002, n)))
    idx = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC")
    candles = pd.DataFrame(
        {"open": close, "high": close * 1.001, "low": close * 0.999, "close": close}, index=idx
    )
    feats = pd.DataFrame({"r": np.log(candles["close"]).diff()}, index=idx)
    return MarketData.build(candles, feats, None, window=2, freq="1h")


def _universe() -> Universe:
    return Universe.align(
        [_trend_market(0.001, 1), _trend_market(-0.001, 2), _trend_market(0.0, 3)],
        ["up", "down", "flat"],
    )


def test_daily_view_days_and_weeks():
    view = DailyView.of(_universe())
    assert view.day_end.sum() == 60 and view.close.shape == (3, 60)
    # 2024-01-01 is a Monday: the first week ends at the bar closing Monday 2024-01-08 00:00
    first_week = np.flatnonzero(view.week_end)[0]
    assert pd.Timestamp(_universe().timestamps[first_week] + 3_600 * 10**9, tz="UTC") == (
        pd.Timestamp("2024-01-08", tz="UTC")
    )
    assert view.day_of_bar[22] == -1 and view.day_of_bar[23] == 0


def test_signals_pick_the_trending_member():
    view = DailyView.of(_universe())
    ok = np.ones(3, dtype=bool)
    np.testing.assert_array_equal(xs_momentum(view, 45, ok), [0.5, 0.0, 0.5])
    w = trend_vol_target(view, 45, ok)
    assert w[0] > 0 and w[1] == 0.0 and np.abs(w).sum() <= 1.0 + 1e-12
    assert xs_momentum(view, 10, ok).sum() == 0.0  # under 30 days of history: cash


def test_equal_weight_daily_trades_only_after_daily_closes_and_rebalances_to_equal():
    uni = _universe()
    acc = PortfolioAccounts(uni, 1, episode_length=None, max_drawdown=None)
    res = run_allocation(acc, BaselineAllocator("equal_weight_daily", uni).decide, "ew")
    view = DailyView.of(uni)
    decided_at = res.timestamps  # bar t+1's open = the decision bar t's close
    traded = res.turnover > 0
    # the first step buys; after it every trade follows a daily close
    day_close_ns = uni.timestamps[view.day_end] + uni.freq_ns
    assert np.isin(decided_at[traded][1:], day_close_ns).all()
    first = np.flatnonzero(uni.tradable.all(axis=0))[0]  # the first bar every member trades
    assert decided_at[traded][0] == uni.timestamps[first + 1]  # bought there, not a day later
    assert traded.sum() == 1 + view.day_end[first + 1 :][acc.step_ok[first + 1 :]].sum()
    np.testing.assert_array_equal(res.weights[traded][1:], np.full((traded.sum() - 1, 3), 1 / 3))


@pytest.mark.parametrize("name", sorted(ALLOCATION_BASELINES))
def test_every_baseline_on_real_btc_eth_val_adds_up(name):
    uni = load_universe(["btc1h", "eth1h"], "core17", 32)
    acc = PortfolioAccounts(uni, 1, split_rows(uni, "btc1h", "val"), episode_length=None)
    res = run_allocation(acc, BaselineAllocator(name, uni).decide, name)
    s = res.summary(8760)
    assert np.isfinite(s["sharpe"]) and len(res.returns) > 8000
    costs = res.asset_costs.sum(axis=2)
    np.testing.assert_allclose(
        res.asset_pnl.sum(1) - costs.sum(1), res.returns, rtol=0, atol=1e-12
    )  # attribution: members' P&L minus their costs is the bar's return
    if name == "universe_buy_and_hold":
        # bought once per run (a run after a data gap starts in cash), never rebalanced
        assert (res.turnover > 0).sum() == len(acc.run_starts)
    if name == "equal_weight_daily":
        assert 300 <= (res.turnover > 0).sum() <= 366


def test_cli_reports_every_baseline_with_attribution(capsys):
    results = main(["--env", "btc1h,eth1h", "--split", "val"])
    out = capsys.readouterr().out
    assert set(results) == set(ALLOCATION_BASELINES)
    for name, r in results.items():
        assert name in out and set(r["attribution"]) == {"btc1h", "eth1h"}
        assert r["fees_pct_per_year"] >= 0 and 0 <= r["max_drawdown"] <= 1


def test_planted_cross_sectional_market_oracle_allocates_only_to_the_planted_members():
    uni = load_universe(["synth-regime", "synth-rw", "synth-meanrev"], "core17", 32)
    assert planted_members(uni) == [0, 2]
    long_short = OracleAllocator(uni, "filter", "long_short").targets
    assert set(np.unique(long_short[:, [0, 2]])) <= {-0.5, 0.0, 0.5}
    assert (long_short[:, 1] == 0).all() and (long_short[:, [0, 2]] != 0).any()
    long_only = OracleAllocator(uni, "filter", "long_only").targets
    np.testing.assert_array_equal(long_only, np.maximum(long_short, 0.0))
    acc = PortfolioAccounts(uni, 1, split_rows(uni, "synth-regime", "test"), episode_length=None)
    bt = run_allocation(acc, OracleAllocator(uni, "hidden", "long_only").decide, "oracle")
    ew = run_allocation(
        PortfolioAccounts(uni, 1, split_rows(uni, "synth-regime", "test"), episode_length=None),
        BaselineAllocator("equal_weight_daily", uni).decide,
        "ew",
    )
    assert bt.summary(8760)["sharpe"] > 3 * max(ew.summary(8760)["sharpe"], 1.0)
    with pytest.raises(ValueError, match="needs a planted-signal member"):
        OracleAllocator(load_universe(["btc1h"], "core17", 32), "filter", "long_only")


def test_seeds_are_reduced_and_a_one_allocation_seed_is_named() -> None:
    sharpes = {"ppo:s0": 1.0, "ppo:s1": 2.0, "ppo:s2": 0.5, "ppo:s3": 1.5, "ppo:s4": 0.0}
    results = {
        name: {"sharpe": v, "gross_exposure": 0.0 if name == "ppo:s4" else 0.6,
               "one_allocation": name == "ppo:s1"}
        for name, v in sharpes.items()
    }  # fmt: skip
    results.update({b: {"sharpe": 1.2} for b in ALLOCATION_BASELINES})
    agents = list(sharpes)
    summary = seed_summary(results, agents)
    # IQM of [0 (flat), 0.5, 1, 1.5, 2]: scipy's trim_mean cuts one value at each end
    assert summary.iqm == pytest.approx(1.0)
    assert summary.p_improve["equal_weight_weekly"] == pytest.approx(2 / 5)  # 1.5, 2.0 > 1.2
    text = render_seeds(summary, results, agents)
    assert "s1 held one allocation throughout" in text
    assert "s4 never held a member (Sharpe 0)" in text
    assert seed_summary(results, agents[:1]) is None  # one run: no seed reduction


def test_the_same_run_twice_is_refused_not_counted_as_two_seeds(tmp_path) -> None:
    with pytest.raises(ConfigError, match="is given twice; give each seed's run once"):
        main(["--run", str(tmp_path), "--run", str(tmp_path), "--split", "test"])
