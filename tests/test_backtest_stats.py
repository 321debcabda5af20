"""backtest.stats: PSR/DSR from the papers' formulas, block bootstraps, paired test, seed CIs."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import ndtr

from backtest import stats as s

PHI = NormalDist().cdf
PHI_INV = NormalDist().inv_cdf
GAMMA = 0.5772156649015329


def test_psr_from_moments_by_hand():
    # SR = .1 per period, n = 101, skew -.5, kurtosis 4:
    # 1 - (-.5)(.1) + (4 - 1)/4 * .01 = 1.0575; z = .1 * sqrt(100) / sqrt(1.0575)
    z = 0.1 * 10 / math.sqrt(1.0575)
    assert s.psr_from_moments(0.1, 101, -0.5, 4.0) == pytest.approx(PHI(z), rel=1e-12)
    # against a benchmark of .05: numerator halves
    assert s.psr_from_moments(0.1, 101, -0.5, 4.0, 0.05) == pytest.approx(PHI(z / 2), rel=1e-12)
    # normal returns (skew 0, kurtosis 3): variance term 1 + SR^2 / 2
    z = 0.2 * math.sqrt(49) / math.sqrt(1 + 0.02)
    assert s.psr_from_moments(0.2, 50, 0.0, 3.0) == pytest.approx(PHI(z), rel=1e-12)


def test_psr_uses_sample_moments():
    rng = np.random.default_rng(11)
    r = 0.0005 + 0.01 * rng.standard_t(5, size=500)
    mu, sd = r.mean(), r.std(ddof=1)
    d = r - mu
    m2, m3, m4 = np.mean(d**2), np.mean(d**3), np.mean(d**4)
    skew, kurt = m3 / m2**1.5, m4 / m2**2  # biased moment estimators
    sr = mu / sd
    z = sr * math.sqrt(499) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    assert s.probabilistic_sharpe_ratio(r) == pytest.approx(PHI(z), rel=1e-10)
    assert np.isnan(s.probabilistic_sharpe_ratio(np.zeros(20)))


def test_expected_max_sharpe_formula_and_accuracy():
    # SR0 = sqrt(V) ((1 - g) Phi^-1(1 - 1/N) + g Phi^-1(1 - 1/(N e)))
    n, v = 10, 0.04
    want = 0.2 * ((1 - GAMMA) * PHI_INV(0.9) + GAMMA * PHI_INV(1 - 1 / (10 * math.e)))
    assert s.expected_max_sharpe(n, v) == pytest.approx(want, rel=1e-10)
    assert s.expected_max_sharpe(1, v) == 0.0
    # The formula approximates E[max of N standard normals]; exact value by quadrature, N = 100:
    x = np.linspace(-10.0, 10.0, 200_001)
    pdf = np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    exact = float(np.sum(x * 100 * pdf * ndtr(x) ** 99) * (x[1] - x[0]))
    assert exact == pytest.approx(2.5076, abs=1e-3)
    assert s.expected_max_sharpe(100, 1.0) == pytest.approx(exact, rel=0.02)
    with pytest.raises(ValueError, match="n_trials"):
        s.expected_max_sharpe(0, 1.0)


def test_dsr_reproduces_the_papers_example():
    """Bailey & López de Prado (2014), numerical example: 1250 daily observations, annualised
    SR 2.5, skew -3, kurtosis 10, N = 100 trials with annualised Sharpe variance 0.5 -> DSR 0.9004."""
    sr0 = s.expected_max_sharpe(100, 0.5) / math.sqrt(250)  # de-annualise
    assert sr0 == pytest.approx(0.1132, abs=1e-4)
    dsr = s.psr_from_moments(2.5 / math.sqrt(250), 1250, -3.0, 10.0, sr0)
    assert dsr == pytest.approx(0.9004, abs=1e-4)


def test_deflated_sharpe_is_psr_against_sr0():
    rng = np.random.default_rng(2)
    r = 0.001 + 0.01 * rng.standard_normal(1000)
    sr0 = s.expected_max_sharpe(20, 0.002)
    assert s.deflated_sharpe_ratio(r, n_trials=20, trials_sharpe_var=0.002) == pytest.approx(
        s.probabilistic_sharpe_ratio(r, sr0), rel=1e-12
    )
    # more trials, harsher deflation
    assert s.deflated_sharpe_ratio(
        r, n_trials=200, trials_sharpe_var=0.002
    ) < s.deflated_sharpe_ratio(r, n_trials=20, trials_sharpe_var=0.002)
    assert s.deflated_sharpe_ratio(r, n_trials=1, trials_sharpe_var=0.002) == pytest.approx(
        s.probabilistic_sharpe_ratio(r)
    )


def test_bootstrap_indices_structure():
    rng = np.random.default_rng(0)
    idx = s.bootstrap_indices(50, 7, rng, block_length=5, method="circular")
    assert idx.shape == (7, 50) and idx.min() >= 0 and idx.max() < 50
    # fixed blocks of 5: inside a block each index is the previous + 1 (mod n)
    steps = (np.diff(idx, axis=1) % 50).reshape(7, -1)
    within = np.ones(49, dtype=bool)
    within[4::5] = False
    assert np.all(steps[:, within] == 1)
    idx = s.bootstrap_indices(2000, 20, rng, block_length=10, method="stationary")
    cont = (np.diff(idx, axis=1) % 2000) == 1
    # mean block length ~ 10: about 1/10 of the steps start a new block (random jump)
    assert 0.07 < 1 - cont.mean() < 0.13
    with pytest.raises(ValueError, match="unknown bootstrap method"):
        s.bootstrap_indices(10, 2, rng, block_length=2, method="iid")


@pytest.mark.parametrize("method", ["stationary", "circular"])
def test_sharpe_ci_reproducible_and_contains_point(method):
    rng = np.random.default_rng(5)
    r = 0.0003 + 0.01 * rng.standard_normal(2000)
    a = s.sharpe_bootstrap_ci(r, 8760, n_boot=500, seed=42, method=method)
    b = s.sharpe_bootstrap_ci(r, 8760, n_boot=500, seed=42, method=method)
    c = s.sharpe_bootstrap_ci(r, 8760, n_boot=500, seed=43, method=method)
    assert a == b
    assert (a.low, a.high) != (c.low, c.high)
    assert a.low < a.sharpe < a.high
    # iid normal: SE of the per-period SR ~ sqrt((1 + SR^2 / 2) / n), annualised
    sr = r.mean() / r.std(ddof=1)
    se = math.sqrt((1 + sr**2 / 2) / r.size) * math.sqrt(8760)
    assert a.std_error == pytest.approx(se, rel=0.2)


def test_sharpe_ci_of_constant_series_is_nan():
    ci = s.sharpe_bootstrap_ci(np.zeros(100), 8760, n_boot=50)
    assert np.isnan(ci.sharpe) and np.isnan(ci.low) and np.isnan(ci.high)


def test_paired_test():
    rng = np.random.default_rng(9)
    a = 0.0002 + 0.01 * rng.standard_normal(3000)
    same = s.paired_sharpe_test(a, a.copy(), 8760, n_boot=300, seed=1)
    assert same.diff == 0.0 and same.p_value == 1.0 and same.p_value_memmel == 1.0
    better = s.paired_sharpe_test(a + 0.002, a, 8760, n_boot=300, seed=1)
    assert better.diff > 0 and better.p_value < 0.01 and better.p_value_memmel < 0.01
    assert better.low < better.diff < better.high
    again = s.paired_sharpe_test(a + 0.002, a, 8760, n_boot=300, seed=1)
    assert again == better


def test_memmel_p_value_by_hand():
    rng = np.random.default_rng(4)
    a = 0.001 + 0.01 * rng.standard_normal(400)
    b = 0.5 * a + 0.01 * rng.standard_normal(400)
    sa, sb = a.mean() / a.std(ddof=1), b.mean() / b.std(ddof=1)
    rho = np.corrcoef(a, b)[0, 1]
    theta = (2 - 2 * rho + 0.5 * (sa**2 + sb**2 - 2 * sa * sb * rho**2)) / 400
    p = 2 * (1 - PHI(abs(sa - sb) / math.sqrt(theta)))
    res = s.paired_sharpe_test(a, b, 8760, n_boot=50, seed=0)
    assert res.p_value_memmel == pytest.approx(p, rel=1e-9)
    assert res.diff == pytest.approx((sa - sb) * math.sqrt(8760), rel=1e-12)


def test_aggregate_seeds_by_hand():
    agg = s.aggregate_seeds([1.0, 2.0, 3.0])
    # mean 2, sample std 1, t_{.975, 2} = 4.302652729749464
    half = 4.302652729749464 / math.sqrt(3)
    assert (agg.mean, agg.std, agg.n) == (2.0, 1.0, 3)
    assert agg.low == pytest.approx(2 - half, rel=1e-10)
    assert agg.high == pytest.approx(2 + half, rel=1e-10)
    one = s.aggregate_seeds([0.7, float("nan")])
    assert one.mean == 0.7 and one.n == 1 and np.isnan(one.low)
    assert s.aggregate_seeds([]).n == 0


@settings(max_examples=30, deadline=None)
@given(st.floats(0.1, 50.0), st.integers(0, 10_000))
def test_psr_scale_invariant_and_monotone(scale, seed):
    rng = np.random.default_rng(seed)
    r = 0.0005 + 0.01 * rng.standard_normal(200)
    p = s.probabilistic_sharpe_ratio(r)
    assert 0.0 <= p <= 1.0
    assert s.probabilistic_sharpe_ratio(r * scale) == pytest.approx(p, rel=1e-8, abs=1e-12)
    assert s.probabilistic_sharpe_ratio(r, 0.05) <= p


def test_row_sharpe_is_the_one_sharpe_per_row():
    from backtest.metrics import sharpe_ratio
    from backtest.stats import _row_sharpe, per_period_sharpe

    rng = np.random.default_rng(3)
    x = np.vstack([rng.normal(1e-3, 1e-2, 200), np.full(200, 0.5), rng.normal(0, 1, 200)])
    rows = _row_sharpe(x)
    assert np.isnan(rows[1]) and np.isnan(sharpe_ratio(x[1], 1.0))
    for i in (0, 2):
        assert rows[i] == pytest.approx(sharpe_ratio(x[i], 1.0), rel=1e-12)
        assert per_period_sharpe(x[i]) == sharpe_ratio(x[i], 1.0)
