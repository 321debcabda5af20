"""backtest.metrics and backtest.trades: hand-computed values, empyrical agreement, invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from backtest import metrics as m
from backtest.trades import extract_trades, trade_stats

# equity 100 -> 110 -> 99 -> 108.9 -> 108.9: returns +10%, -10%, +10%, 0%.
EQ = np.array([100.0, 110.0, 99.0, 108.9, 108.9])
R = np.array([0.1, -0.1, 0.1, 0.0])
PPY = 4  # four bars = one year, so CAGR = total return


def test_returns_and_total_return_by_hand():
    np.testing.assert_allclose(m.returns_from_equity(EQ), R, atol=1e-15)
    # 108.9 / 100 - 1
    assert m.total_return(EQ) == pytest.approx(0.089, abs=1e-12)
    assert m.cagr(R, PPY) == pytest.approx(0.089, abs=1e-12)
    # Two years of bars: (1.089) ** (4 / 8) - 1
    assert m.cagr(np.tile(R, 2), PPY) == pytest.approx(1.089 - 1, abs=1e-12)
    assert m.cagr(R, 2) == pytest.approx(1.089**0.5 - 1, abs=1e-12)


def test_sharpe_sortino_volatility_by_hand():
    # mean = 0.1 / 4 = 0.025; deviations .075, -.125, .075, -.025; squares sum to
    # .005625 + .015625 + .005625 + .000625 = .0275; sample var = .0275 / 3.
    std = math.sqrt(0.0275 / 3)
    assert m.annual_volatility(R, PPY) == pytest.approx(std * 2, rel=1e-12)
    assert m.sharpe_ratio(R, PPY) == pytest.approx(0.025 / std * 2, rel=1e-12)
    assert m.sharpe_ratio(R, PPY) == pytest.approx(0.5222329678670935, rel=1e-12)
    # downside deviation over all 4 bars: sqrt(0.1^2 / 4) = 0.05; Sortino = .025*4 / (.05*2) = 1
    assert m.sortino_ratio(R, PPY) == pytest.approx(1.0, rel=1e-12)


def test_drawdown_by_hand():
    # peak 110, trough 99: 11 / 110 = 10%. Marks 99, 108.9, 108.9 are all below 110.
    assert m.max_drawdown(EQ) == pytest.approx(0.1, rel=1e-12)
    np.testing.assert_allclose(m.drawdown_series(EQ), [0, 0, 0.1, 0.01, 0.01], atol=1e-12)
    assert m.max_drawdown_duration(EQ) == 3
    assert m.time_under_water(EQ) == pytest.approx(3 / 4)
    assert m.calmar_ratio(R, EQ, PPY) == pytest.approx(0.089 / 0.1, rel=1e-12)
    # Two separate dips, the second longer and unrecovered at the end.
    eq = np.array([1, 0.9, 1.0, 1.2, 1.1, 1.15, 1.19])
    assert m.max_drawdown_duration(eq) == 3
    assert m.time_under_water(eq) == pytest.approx(4 / 6)


def test_var_cvar_by_hand():
    # sorted: -.1, 0, .1, .1; 5th percentile sits at position (4-1)*.05 = .15 between -.1 and 0
    assert m.value_at_risk(R) == pytest.approx(-0.1 + 0.15 * 0.1, abs=1e-15)
    # tail size k + 1 with k = int(3 * .05) = 0: the single worst return
    assert m.conditional_value_at_risk(R) == pytest.approx(-0.1)
    r = np.arange(-10, 30) / 100.0  # 40 values; k = int(39 * .05) = 1: mean of -.10, -.09
    assert m.conditional_value_at_risk(r) == pytest.approx(-0.095)


def test_beta_correlation_alpha_by_hand():
    b = np.array([0.01, -0.02, 0.03, 0.0])
    r = 2.0 * b + 0.001
    beta, corr = m.beta_correlation(r, b)
    assert beta == pytest.approx(2.0, rel=1e-12)
    assert corr == pytest.approx(1.0, rel=1e-12)
    # r - 2 b = 0.001 every bar: alpha = 1.001 ** ppy - 1
    assert m.alpha_annual(r, b, 10) == pytest.approx(1.001**10 - 1, rel=1e-9)
    assert np.isnan(m.beta_correlation(r, np.zeros(4))[0])


def test_zero_variance_and_empty_edge_cases():
    flat = np.zeros(10)
    assert np.isnan(m.sharpe_ratio(flat, 8760))
    assert np.isnan(m.sortino_ratio(flat, 8760))
    assert np.isnan(m.sharpe_ratio(np.full(10, 0.001), 8760))  # constant: undefined, not huge
    assert np.isnan(m.sharpe_ratio(np.array([0.01]), 8760))
    assert np.isnan(m.cagr(np.zeros(0), 8760))
    eq = np.ones(11)
    assert m.max_drawdown(eq) == 0.0
    assert np.isnan(m.calmar_ratio(flat, eq, 8760))
    with pytest.raises(ValueError, match="periods_per_year"):
        m.sharpe_ratio(R, 0)
    with pytest.raises(ValueError, match="non-finite value at index 1"):
        m.sharpe_ratio(np.array([0.0, np.nan, 0.1]), 8760)
    with pytest.raises(ValueError, match="starting capital"):
        m.returns_from_equity(np.array([0.0, 1.0]))


def test_ruined_account_is_a_minus_100_percent_result() -> None:
    """Equity 100 -> 110 -> -40 (a 5000 bps fee ate more than the capital) -> -40 (frozen).
    By hand: returns +10 %, -100 %, 0; total -100 %; drawdown 1; Sharpe of [0.1, -1, 0]:
    mean -0.3, sd sqrt(((0.4)^2 + (0.7)^2 + (0.3)^2) / 2) = sqrt(0.37)."""
    eq = np.array([100.0, 110.0, -40.0, -40.0])
    pos = np.array([1.0, 1.0, 0.0])
    r = m.returns_from_equity(eq)
    np.testing.assert_allclose(r, [0.1, -1.0, 0.0])
    assert m.total_return(eq) == -1.0 and m.max_drawdown(eq) == 1.0
    s = m.summarize(eq, pos, periods_per_year=8760)
    assert s["ruined"] == 1.0 and s["total_return"] == -1.0 and s["cagr"] == -1.0
    assert s["sharpe"] == pytest.approx(-0.3 / np.sqrt(0.37) * np.sqrt(8760))
    assert s["max_drawdown"] == 1.0 and s["calmar"] == pytest.approx(-1.0)
    assert np.isfinite(s["sortino"]) and s["win_rate"] == 0.0  # the one trade lost everything
    assert (
        m.summarize(np.array([1.0, 1.0001, 0.9999]), np.ones(2), periods_per_year=8760)["ruined"]
        == 0.0
    )


# equity over 6 bars; positions: long, long, flat (exit bar), short, short, long (flip, open)
T_EQ = np.array([100.0, 102.0, 104.0, 103.5, 101.0, 100.0, 99.0])
T_POS = np.array([1.0, 1.0, 0.0, -1.0, -0.5, 1.0])


def test_trades_by_hand():
    tr = extract_trades(T_POS, T_EQ)
    np.testing.assert_array_equal(tr.entry, [0, 3, 5])
    # long ends flat at bar 2 -> owns bar 2 (exit cost): exit mark 3; short flips at 5: exit 5;
    # the last long is open at the end: closed at the last mark 6.
    np.testing.assert_array_equal(tr.exit, [3, 5, 6])
    np.testing.assert_array_equal(tr.side, [1, -1, 1])
    np.testing.assert_array_equal(tr.bars_held, [2, 2, 1])
    expected = [103.5 / 100 - 1, 100 / 103.5 - 1, 99 / 100 - 1]
    np.testing.assert_allclose(tr.returns, expected, rtol=1e-12)
    s = trade_stats(tr)
    assert s["n_trades"] == 3
    assert s["win_rate"] == pytest.approx(1 / 3)
    loss = (1 - 100 / 103.5) + 0.01
    assert s["profit_factor"] == pytest.approx(0.035 / loss, rel=1e-12)
    assert s["expectancy"] == pytest.approx(sum(expected) / 3, rel=1e-12)
    assert s["avg_win"] == pytest.approx(0.035)
    assert s["avg_loss"] == pytest.approx(-loss / 2, rel=1e-12)
    assert s["risk_reward"] == pytest.approx(0.035 / (loss / 2), rel=1e-12)
    assert s["max_consecutive_losses"] == 2
    # |0->1| + 0 + 1 + 1 + .5 + 1.5 = 5 over 6 bars, ppy 6 -> 5 per year
    assert m.turnover_annual(T_POS, 6) == pytest.approx(5.0)


def test_no_trades_gives_nan_per_trade_stats():
    s = trade_stats(extract_trades(np.zeros(5), np.ones(6)))
    assert s["n_trades"] == 0 and s["max_consecutive_losses"] == 0
    for k in ("win_rate", "profit_factor", "expectancy", "avg_win", "avg_loss", "risk_reward"):
        assert np.isnan(s[k]), k


def test_summarize_costs_and_shape_checks():
    fees = np.array([0.1, 0.0, 0.1, 0.1, 0.0, 0.2])
    slip = fees / 2
    funding = np.array([0.01, 0.01, 0.0, -0.01, -0.01, 0.0])
    d = m.summarize(
        T_EQ,
        T_POS,
        periods_per_year=6,
        fees=fees,
        slippage=slip,
        funding=funding,
        benchmark_returns=m.returns_from_equity(T_EQ),
    )
    assert d["fees_paid"] == pytest.approx(0.5 / 100)
    assert d["slippage_paid"] == pytest.approx(0.25 / 100)
    assert d["funding_paid"] == pytest.approx(0.0, abs=1e-15)
    assert d["costs_paid"] == pytest.approx(0.75 / 100)
    assert d["exposure"] == pytest.approx(4.5 / 6)
    assert d["time_in_market"] == pytest.approx(5 / 6)
    assert d["n_trades"] == 3 and d["beta"] == pytest.approx(1.0)
    # recovery factor: total return / max drawdown = -.01 / (1 - 99/104)
    assert d["recovery_factor"] == pytest.approx(-0.01 / (1 - 99 / 104), rel=1e-12)
    assert d["positive_periods"] == pytest.approx(2 / 6)
    assert np.isnan(m.summarize(T_EQ, T_POS, periods_per_year=6)["costs_paid"])
    with pytest.raises(ValueError, match="one more mark"):
        m.summarize(T_EQ[:-1], T_POS, periods_per_year=6)
    with pytest.raises(ValueError, match="fees must have one value per bar"):
        m.summarize(T_EQ, T_POS, periods_per_year=6, fees=fees[:-1])


def test_rolling_sharpe_matches_brute_force():
    rng = np.random.default_rng(3)
    r = 0.001 + 0.01 * rng.standard_normal(200)
    r[50:80] = 0.0  # a constant stretch: windows inside it are nan
    w = 24
    out = m.rolling_sharpe(r, w, 8760)
    assert np.isnan(out[: w - 1]).all()
    for t in (w - 1, 49, 120, 199):
        assert out[t] == pytest.approx(m.sharpe_ratio(r[t - w + 1 : t + 1], 8760), rel=1e-9)
    assert np.isnan(out[79])  # window 56..79 is all zeros


# --- agreement with empyrical-reloaded (annualization=8760, simple returns) -------------------


@pytest.fixture
def series():
    rng = np.random.default_rng(7)
    r = 0.0001 + 0.008 * rng.standard_t(4, size=3000)
    b = 0.6 * r + 0.005 * rng.standard_normal(3000)
    return r, b


def test_matches_empyrical(series):
    ep = pytest.importorskip("empyrical")
    r, b = series
    eq = np.concatenate([[1.0], np.cumprod(1 + r)])
    a = 8760
    # Same conventions (ddof=1, simple returns, downside over all bars): equal to rounding.
    assert m.sharpe_ratio(r, a) == pytest.approx(ep.sharpe_ratio(r, annualization=a), rel=1e-10)
    assert m.sortino_ratio(r, a) == pytest.approx(ep.sortino_ratio(r, annualization=a), rel=1e-10)
    assert m.annual_volatility(r, a) == pytest.approx(
        ep.annual_volatility(r, annualization=a), rel=1e-10
    )
    assert m.cagr(r, a) == pytest.approx(ep.annual_return(r, annualization=a), rel=1e-9)
    # Sign convention differs: empyrical's drawdown is negative.
    assert m.max_drawdown(eq) == pytest.approx(-ep.max_drawdown(r), rel=1e-10)
    assert m.calmar_ratio(r, eq, a) == pytest.approx(ep.calmar_ratio(r, annualization=a), rel=1e-9)
    assert m.value_at_risk(r) == pytest.approx(ep.value_at_risk(r, cutoff=0.05), rel=1e-12)
    assert m.conditional_value_at_risk(r) == pytest.approx(
        ep.conditional_value_at_risk(r, cutoff=0.05), rel=1e-12
    )
    beta, _ = m.beta_correlation(r, b)
    assert beta == pytest.approx(ep.beta(r, b), rel=1e-10)
    assert m.alpha_annual(r, b, a) == pytest.approx(ep.alpha(r, b, annualization=a), rel=1e-8)


# --- invariants ---------------------------------------------------------------------------------

returns_st = arrays(
    np.float64, st.integers(3, 80), elements=st.floats(-0.5, 0.5, allow_nan=False, width=64)
)


@settings(max_examples=40, deadline=None)
@given(returns_st)
def test_invariants(r):
    eq = np.concatenate([[1.0], np.cumprod(1 + r)])
    mdd = m.max_drawdown(eq)
    assert 0.0 <= mdd <= 1.0
    assert m.conditional_value_at_risk(r) <= m.value_at_risk(r) + 1e-15
    assert 0.0 <= m.time_under_water(eq) <= 1.0
    assert m.max_drawdown_duration(eq) <= r.size
    s = m.sharpe_ratio(r, 8760)
    if not np.isnan(s) and np.std(r) > 1e-9:
        assert m.sharpe_ratio(3.7 * r, 8760) == pytest.approx(s, rel=1e-9)
        assert m.sortino_ratio(r * 0.5, 8760) == pytest.approx(
            m.sortino_ratio(r, 8760), rel=1e-9, nan_ok=True
        )


@settings(max_examples=40, deadline=None)
@given(returns_st, st.data())
def test_trades_partition_the_bars(r, data):
    """Trades own disjoint bar ranges; their growth times the unowned bars' growth is the total."""
    pos = np.array(
        data.draw(
            st.lists(st.sampled_from([-1.0, -0.5, 0.0, 0.5, 1.0]), min_size=r.size, max_size=r.size)
        )
    )
    eq = np.concatenate([[1.0], np.cumprod(1 + r)])
    tr = extract_trades(pos, eq)
    owned = np.zeros(r.size, dtype=int)
    for lo, hi in zip(tr.entry, tr.exit, strict=False):
        owned[lo:hi] += 1
    assert owned.max(initial=0) <= 1
    growth = np.prod(1 + tr.returns) * np.prod(1 + r[owned == 0])
    assert growth == pytest.approx(eq[-1], rel=1e-9)
    # every trade starts where the sign changes to non-zero
    sign = np.sign(pos)
    prev = np.concatenate([[0.0], sign[:-1]])
    assert len(tr) == int(np.sum((sign != 0) & (sign != prev)))


def test_cagr_of_a_short_fast_growing_series_is_inf_not_overflow():
    """10 hourly bars of +500% each annualise past the float range: +inf, never OverflowError."""
    assert m.cagr(np.full(10, 5.0), 8760) == float("inf")
    assert m.cagr(np.array([0.01, 0.02]), 8760) == pytest.approx(1.0302**4380 - 1, rel=1e-9)
    assert m.cagr(np.array([-1.0, 0.5]), 8760) == -1.0  # ruined: all lost
