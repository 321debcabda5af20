"""backtest.aggregate / evaluate.seeds / evaluate.groups: hand-computed seed aggregates."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from backtest.aggregate import (
    TrialCount,
    _resample,
    iqm,
    iqm_ci,
    probability_of_improvement,
    probability_of_improvement_ci,
    seed_sharpes,
    summarize_seeds,
)
from evaluate.groups import GroupError, expand_runs, read_group
from evaluate.headtohead import compare
from evaluate.report import format_table
from evaluate.seeds import chosen_trials, counted_trials, seed_summaries, verdict, verdicts
from tests.test_evaluate_report import N, _bt


def test_iqm_of_known_vectors():
    # 5 values: one trimmed per side -> mean(2, 3, 4); 8 values: two per side -> mean(2..5)
    assert iqm(np.array([1.0, 2.0, 3.0, 4.0, 10.0])) == pytest.approx(3.0)
    assert iqm(np.array([100.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0])) == pytest.approx(3.5)
    # 3 seeds: nothing trimmed, the plain mean (the flat seed's 0 pulls it down)
    assert iqm(np.array([1.44, 1.70, 0.0])) == pytest.approx(3.14 / 3)


def test_probability_of_improvement_known_samples():
    # pairs: 1<2, 2=2 (half), 3>2 -> (0 + 0.5 + 1) / 3
    assert probability_of_improvement(np.array([1.0, 2.0, 3.0]), np.array([2.0])) == 0.5
    # 0.5>0.3, 0.5<0.6, 0.2<both, 0.9>both -> 3 of 6
    x, y = np.array([0.5, 0.2, 0.9]), np.array([0.3, 0.6])
    assert probability_of_improvement(x, y) == 0.5
    assert probability_of_improvement(y, x) == 0.5
    assert probability_of_improvement(np.array([2.0, 3.0]), np.array([1.0])) == 1.0
    # two tasks: the per-task probabilities (3/6 and 4/6... ) averaged
    a = np.array([[0.5, 1.0], [0.2, 0.4], [0.9, 0.1]])
    b = np.array([[0.3, 0.4], [0.6, 0.0]])
    # task 2: 1.0>0.4,1.0>0, 0.4=0.4 (half), 0.4>0, 0.1<0.4, 0.1>0 -> 4.5/6
    assert probability_of_improvement(a, b) == pytest.approx((3 / 6 + 4.5 / 6) / 2)


def test_matches_independent_scipy_estimators():
    """rliable (whose estimators backtest.aggregate follows) cannot be installed beside pandas 3
    (it pins arch<8), so the cross-check is against independent scipy computations instead:
    the IQM against a hand-sorted middle half, P(X > Y) against the Mann-Whitney U statistic
    (scipy.stats.mannwhitneyu, U / (m n) counts ties as one half) averaged over tasks."""
    rng = np.random.default_rng(1)
    for runs_x, runs_y, tasks in ((5, 3, 1), (4, 4, 3), (10, 1, 2), (8, 6, 2)):
        x = rng.standard_normal((runs_x, tasks)).round(1)  # rounding makes ties
        y = rng.standard_normal((runs_y, tasks)).round(1)
        flat = np.sort(x.ravel())
        cut = int(np.floor(0.25 * flat.size))
        assert iqm(x) == pytest.approx(flat[cut : flat.size - cut].mean())
        per_task = [
            sps.mannwhitneyu(x[:, t], y[:, t], alternative="two-sided").statistic
            / (runs_x * runs_y)
            for t in range(tasks)
        ]
        assert probability_of_improvement(x, y) == pytest.approx(np.mean(per_task))


def test_iqm_ci_agrees_with_scipy_bootstrap():
    """One task: the stratified bootstrap is the ordinary one, so the percentile interval of the
    IQM must agree with scipy.stats.bootstrap's (an independent resampler) up to Monte Carlo
    error (about 0.05 here at 20,000 resamples; the values span 0..2.6)."""
    v = np.array([0.1, 0.4, 0.5, 0.9, 1.3, 1.4, 2.0, 2.6])
    lo, hi = iqm_ci(v, n_boot=20_000, seed=3)
    ref = sps.bootstrap(
        (v,),
        lambda s, axis: sps.trim_mean(s, 0.25, axis=axis),
        n_resamples=20_000,
        method="percentile",
        confidence_level=0.95,
        random_state=np.random.default_rng(4),
    ).confidence_interval
    assert lo == pytest.approx(ref.low, abs=0.05)
    assert hi == pytest.approx(ref.high, abs=0.05)
    assert lo < iqm(v) < hi


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=2, max_size=8))
def test_iqm_ci_brackets_within_range(values):
    v = np.array(values)
    lo, hi = iqm_ci(v, n_boot=200, seed=0)
    assert v.min() - 1e-12 <= lo <= hi <= v.max() + 1e-12
    plo, phi = probability_of_improvement_ci(v, np.array([0.0]), n_boot=200)
    assert 0.0 <= plo <= phi <= 1.0


def test_stratified_resampling_stays_within_each_task():
    scores = np.array([[0.0, 100.0], [1.0, 101.0], [2.0, 102.0]])
    boots = _resample(scores, 500, np.random.default_rng(0))
    assert boots.shape == (500, 3, 2)
    assert set(np.unique(boots[:, :, 0])) <= {0.0, 1.0, 2.0}
    assert set(np.unique(boots[:, :, 1])) <= {100.0, 101.0, 102.0}
    assert math.isnan(iqm_ci(np.array([1.0]))[0])  # one seed: no interval
    assert iqm_ci(np.array([2.0, 2.0, 2.0])) == (2.0, 2.0)


def test_flat_seed_counts_as_zero_and_is_flagged():
    values, collapsed = seed_sharpes(np.array([1.2, np.nan, 0.5]), np.array([0.8, 0.0, 0.3]))
    np.testing.assert_array_equal(values, [1.2, 0.0, 0.5])
    np.testing.assert_array_equal(collapsed, [False, True, False])
    s = summarize_seeds(
        "ppo",
        [0, 1, 2],
        np.array([1.2, np.nan, 0.5]),
        np.array([0.8, 0.0, 0.3]),
        {"buy_and_hold": np.array([0.9])},
        n_boot=300,
    )
    assert s.n_seeds == 3 and s.n_collapsed == 1
    assert s.iqm == pytest.approx(1.7 / 3)
    assert (s.median, s.worst, s.worst_seed) == (0.5, 0.0, 1)
    assert s.p_improve["buy_and_hold"] == pytest.approx(1 / 3)  # only 1.2 > 0.9
    assert s.iqm_low <= s.iqm <= s.iqm_high


def test_compare_seed_mean_keeps_flat_seed(backtests_with_flat_seed):
    cmp = compare(backtests_with_flat_seed, n_boot=100)
    agg = cmp.aggregates["ppo"]["sharpe"]
    s0, s1 = cmp.row("ppo_s0").metrics["sharpe"], cmp.row("ppo_s1").metrics["sharpe"]
    assert math.isnan(cmp.row("ppo_s2").metrics["sharpe"])
    assert agg.n == 3 and agg.mean == pytest.approx((s0 + s1 + 0.0) / 3)
    assert "ppo (mean of 3)" in format_table(cmp)
    summ = seed_summaries(cmp, n_boot=100)["ppo"]
    assert summ.n_collapsed == 1 and summ.collapsed == [False, False, True]
    assert summ.iqm == pytest.approx((s0 + s1) / 3)


@pytest.fixture
def backtests_with_flat_seed():
    rng = np.random.default_rng(0)
    market = 0.0002 + 0.01 * rng.standard_normal(N)
    bts = [_bt("buy_and_hold", market, np.ones(N)), _bt("flat", np.zeros(N), np.zeros(N))]
    for s in range(2):
        pos = rng.choice([-1.0, 0.0, 1.0], size=N)
        bts.append(_bt(f"ppo_s{s}", pos * market, pos, method="ppo", seed=s))
    bts.append(_bt("ppo_s2", np.zeros(N), np.zeros(N), method="ppo", seed=2))
    return bts


def test_verdict_sentence():
    s = summarize_seeds(
        "ppo", [0, 1, 2], np.array([1.0, 2.0, np.nan]), np.array([1.0, 1.0, 0.0]),
        {"buy_and_hold": np.array([1.5])}, n_boot=200,
    )  # fmt: skip
    text = verdict(s, TrialCount(48, 2.4, "runs/btc1h/ledger.jsonl"), dsr=0.41)
    assert text.startswith(f"PPO (3 seeds): IQM Sharpe 1.00 [{s.iqm_low:.2f}, {s.iqm_high:.2f}]")
    assert "P(a seed's Sharpe > buy-and-hold's) = 0.33" in text
    assert "COLLAPSED: 1 of 3 seeds (s2 always flat) (counted as Sharpe 0)" in text
    assert text.endswith("DSR 0.410 < 0.95 after 48 trials: not significant (median over seeds).")
    assert "DSR 0.970 > 0.95 after 48 trials: significant" in verdict(
        s, TrialCount(48, 2.4, "x"), dsr=0.97
    )
    assert "2 failed to train" in verdict(s, TrialCount(1, 0.0, "x"), 0.5, failed=2)


def test_all_seeds_failed_still_gets_a_verdict(backtests_with_flat_seed):
    cmp = compare(backtests_with_flat_seed, n_boot=50)
    summ = seed_summaries(cmp, n_boot=50)
    text = verdicts(cmp, summ, TrialCount(3, 0.0, "x"), {"sac": {0: "a", 1: "b"}})
    assert text["sac"] == "SAC: all 2 seeds failed to train; nothing to evaluate."
    assert text["ppo"].startswith("PPO (3 seeds): IQM Sharpe")


def test_trial_count_sources(backtests_with_flat_seed):
    assert chosen_trials(None, None) is None
    ledger = TrialCount(120, 3.0, "ledger runs/btc1h/trials.jsonl")
    assert chosen_trials(None, None, ledger) == ledger
    flag = chosen_trials(48, 2.4, ledger)
    assert (flag.n, flag.sharpe_var) == (48, 2.4)
    assert "--n-trials and --trials-sharpe-var flags" in flag.source and "ledger" in flag.source
    cmp = compare(backtests_with_flat_seed, n_boot=50, n_trials=48, trials_sharpe_var=2.4 / 8760)
    t = counted_trials(cmp, flag)
    assert t.n == 48 and t.sharpe_var == pytest.approx(2.4)
    default = counted_trials(compare(backtests_with_flat_seed, n_boot=50), None)
    assert default.n == 3 and "policies given here" in default.source


def _group(root, seeds=(0, 1, 2), runs=None, **extra):
    root.mkdir(parents=True, exist_ok=True)
    runs = runs if runs is not None else {str(s): f"s{s}" for s in seeds}
    for rel in runs.values():
        (root / rel).mkdir(exist_ok=True)
    meta = {"kind": "seed_group", "algo": "ppo", "env": "btc1h", "seeds": list(seeds),
            "runs": runs, "command": [], "config": {}, "created": "2026-01-01", **extra}  # fmt: skip
    (root / "group.json").write_text(json.dumps(meta))
    return root


def test_read_group_and_failures(tmp_path):
    g = _group(tmp_path / "g", seeds=(0, 1, 2, 3), runs={"0": "s0", "1": "s1", "3": "s3"})
    (g / "summary.json").write_text(json.dumps({"failures": {"3": "CUDA out of memory\nTrace"}}))
    algo, refs, failed = read_group(g)
    assert algo == "ppo"
    assert [(r.seed, r.path) for r in refs] == [(0, str(g / "s0")), (1, str(g / "s1"))]
    assert failed == {3: "CUDA out of memory", 2: "no run folder (not in runs)"}
    (g / "summary.json").write_text(json.dumps({"failures": [{"seed": 1, "error": "nan loss"}]}))
    assert read_group(g)[2] == {1: "nan loss", 2: "no run folder (not in runs)"}
    ex = expand_runs([f"mine={g}", "a,b", "lab=c"])
    assert [(r.label, r.path, r.seed) for r in ex.runs] == [
        ("mine", str(g / "s0"), 0),
        ("mine", str(g / "s3"), 3),
        (None, "a", None),
        (None, "b", None),
        ("lab", "c", None),
    ]
    assert ex.failures == {"mine": {1: "nan loss", 2: "no run folder (not in runs)"}}
    bad = _group(tmp_path / "bad", kind="run")
    with pytest.raises(GroupError, match="kind is 'run', expected 'seed_group'"):
        read_group(bad)
    (bad / "group.json").write_text("{not json")
    with pytest.raises(GroupError, match="group.json: not readable JSON"):
        read_group(bad)
