"""Ground truth for the overfitting statistics (backtest.overfit, backtest.spa) and CPCV
(backtest.cpcv): noise is not an edge, a planted edge is, and both match the reference
implementations (arch, skfolio) on the same input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest.cpcv import cpcv_splits, n_paths, path_assignment, path_summary, stitch_paths
from backtest.overfit import degradation, pbo
from backtest.spa import spa_test

T, N = 2000, 12


def _noise(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 0.01, (T, N))


def test_pure_noise_pbo_near_half_and_spa_does_not_reject() -> None:
    # one noise family's PBO scatters (sd ~0.22 for N = 12), its expectation is exactly 0.5
    # (N even): the mean over 100 independent families (sd ~0.022) is the ground truth checked
    rng = np.random.default_rng(0)
    values = [pbo(rng.normal(0.0, 0.01, (400, N)), n_blocks=8).pbo for _ in range(100)]
    assert np.mean(values) == pytest.approx(0.5, abs=0.05)
    # SPA under the null: at 5 % it rejects at most ~5 % of noise families (it is conservative)
    pvals = []
    for s in range(20):
        fam = rng.normal(0.0, 0.01, (500, N + 1))  # column 0 the benchmark, the rest strategies
        pvals.append(spa_test(fam[:, 0], fam[:, 1:], reps=200, seed=s).pvalue)
    assert sum(p < 0.05 for p in pvals) <= 2 and np.median(pvals) > 0.2
    res = spa_test(np.random.default_rng(99).normal(0.0, 0.01, T), _noise(0), reps=300, seed=1)
    assert res.pvalue > 0.05 and res.rc_pvalue > 0.05
    assert "does not beat" in res.sentence()


def test_one_planted_edge_pbo_near_zero_and_spa_rejects() -> None:
    m = _noise(3)
    m[:, 5] += 0.003  # per-bar Sharpe 0.3: an edge every half of the sample sees
    res = pbo(m, n_blocks=8)
    assert res.pbo < 0.02 and res.prob_oos_loss == 0.0
    assert "overfit (PBO, CSCV over 12 configurations, 8 blocks): 0.00" in res.sentence()
    r = np.random.default_rng(99).normal(0.0, 0.01, T)
    out = spa_test(r, m, reps=300, seed=1, stepm_size=0.05)
    assert out.pvalue < 0.01 and out.rc_pvalue < 0.01
    assert out.best == "strategy_5" and out.superior == ["strategy_5"]


def test_pbo_by_hand_on_two_blocks() -> None:
    # S = 2: two halvings. Config 0 wins the first half and is worst in the second; config 1
    # wins the second and is worst in the first: both halvings pick the OOS loser
    a = np.array([0.02, 0.01, 0.03, -0.01, -0.02, -0.03])
    b = -a
    c = np.array([0.0, 0.001, -0.001, 0.0, 0.001, -0.001])
    res = pbo(np.column_stack([a, b, c]), n_blocks=2)
    assert res.pbo == 1.0 and np.allclose(res.logits, math.log(0.25 / 0.75))


def test_spa_pvalues_equal_arch_on_the_same_input() -> None:
    from arch.bootstrap import SPA, StepM

    rng = np.random.default_rng(5)
    bench = rng.normal(0.0, 0.01, 500)
    strat = rng.normal(0.0002, 0.01, (500, 4))
    ours = spa_test(bench, strat, reps=200, block_size=10, seed=7, stepm_size=0.1)
    ref = SPA(-bench, -strat, block_size=10, reps=200, seed=7)
    ref.compute()
    assert ours.pvalue == ref.pvalues["consistent"]
    assert ours.pvalue_lower == ref.pvalues["lower"] and ours.pvalue_upper == ref.pvalues["upper"]
    rc = SPA(-bench, -strat, block_size=10, reps=200, seed=7, studentize=False)
    rc.compute()
    assert ours.rc_pvalue == rc.pvalues["upper"]
    sm = StepM(-bench, -strat, size=0.1, block_size=10, reps=200, seed=7)
    sm.compute()
    assert ours.superior == [f"strategy_{int(i)}" for i in sm.superior_models]


@pytest.mark.parametrize(("t", "k", "block"), [(2, 1, 1), (7, 1, 2), (500, 4, 10), (3001, 3, 54)])
def test_fft_variance_equals_arch_lag_loop(t: int, k: int, block: int) -> None:
    from arch.bootstrap import SPA

    from backtest.spa import stationary_bootstrap_variance

    d = np.random.default_rng(t).standard_t(3, (t, k)) * 0.01  # fat tails, as returns have
    ref = SPA(np.zeros(t), -d, block_size=block, reps=10)
    ref._compute_variance()  # arch's own sum, lag by lag
    ours = stationary_bootstrap_variance(ref._loss_diff - ref._loss_diff.mean(axis=0), block)
    np.testing.assert_allclose(ours, ref._loss_diff_var, rtol=1e-12)


def test_degradation_across_configurations() -> None:
    d = degradation(np.array([1.0, 2.0, 3.0, np.nan]), np.array([0.5, 0.0, -0.5, 0.2]))
    assert (d.n, d.mean_val, d.mean_oos) == (4, 1.5, 0.05)
    assert d.share_oos_loss == 0.25 and d.rank_corr < 0
    assert "Sharpe +1.50 -> +0.05" in d.sentence()


@pytest.mark.parametrize(("n", "groups", "k", "purge", "embargo"),
                         [(60, 6, 2, 0, 0), (61, 6, 2, 2, 1), (100, 5, 3, 1, 3), (37, 4, 2, 1, 0)])  # fmt: skip
def test_cpcv_equals_skfolio(n: int, groups: int, k: int, purge: int, embargo: int) -> None:
    skfolio = pytest.importorskip("skfolio.model_selection")
    cv = skfolio.CombinatorialPurgedCV(
        n_folds=groups, n_test_folds=k, purged_size=purge, embargo_size=embargo
    )
    lo = 1000  # absolute rows of a split of the series, not positions
    ours = cpcv_splits(lo, lo + n, groups, k, purge_bars=purge, embargo_bars=embargo)
    theirs = list(cv.split(np.zeros((n, 1))))
    assert len(ours) == len(theirs) == cv.n_splits
    for s, (train, tests) in zip(ours, theirs, strict=True):
        assert np.array_equal(s.train - lo, train)
        assert len(s.tests) == len(tests)
        for (a, b), test in zip(s.tests, tests, strict=True):
            assert np.array_equal(np.arange(a, b) - lo, test)
    assert np.array_equal(np.array([s.paths for s in ours]), cv.get_path_ids())
    assert np.array_equal(path_assignment(groups, k), cv.recombined_paths)
    assert n_paths(groups, k) == cv.n_test_paths


def test_cpcv_paths_cover_every_group_once_out_of_sample() -> None:
    splits = cpcv_splits(0, 60, 6, 2)
    pieces = {(s.index, g): np.full(10, 100.0 * s.index + g) for s in splits for g in s.test_groups}
    paths = stitch_paths(pieces, 6, 2)
    assert len(paths) == 5 and all(len(p) == 60 for p in paths)
    for p in paths:
        split_of_group = (p[::10] // 100).astype(int)
        for g, i in enumerate(split_of_group):
            assert g in splits[i].test_groups  # group g comes from a split that tested it
    with pytest.raises(ValueError, match="--test-groups 6"):
        cpcv_splits(0, 60, 6, 6)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(20, 300),
    groups=st.integers(2, 7),
    data=st.data(),
    purge=st.integers(0, 3),
    embargo=st.integers(0, 3),
)
def test_cpcv_invariants(n: int, groups: int, data, purge: int, embargo: int) -> None:
    k = data.draw(st.integers(1, groups - 1))
    splits = cpcv_splits(7, 7 + n, groups, k, purge_bars=purge, embargo_bars=embargo)
    assert len(splits) == math.comb(groups, k)
    for s in splits:
        test_rows = np.concatenate([np.arange(a, b) for a, b in s.tests])
        train = s.train
        assert not np.intersect1d(train, test_rows).size  # never trains on a test bar
        for a, b in s.tests:  # purge before, purge + embargo after every test group
            assert not ((train >= a - purge) & (train < b + purge + embargo)).any()
    # every path holds every group exactly once, each from a split that tested it
    assign = path_assignment(groups, k)
    assert assign.shape == (groups, n_paths(groups, k))
    for g in range(groups):
        assert all(g in splits[i].test_groups for i in assign[g])
        assert len(set(assign[g])) == assign.shape[1]


def test_path_summary_counts_paths_beating_the_benchmark() -> None:
    rng = np.random.default_rng(2)
    bench = [rng.normal(0.0, 0.01, 60) for _ in range(5)]
    method = [b + (0.002 if i < 3 else -0.002) for i, b in enumerate(bench)]  # 3 of 5 better
    s = path_summary(method, bench, 8760)
    assert s.share_beating == 0.6 and s.sharpes.shape == (5,)
    r = method[0]
    assert s.sharpes[0] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(8760))
    assert "beats buy_and_hold on 60% of paths" in s.sentence("ppo")
