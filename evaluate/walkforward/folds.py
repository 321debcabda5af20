"""One (method, fold, seed): train, select on val, backtest on test; the baselines per fold;
and the single-method, in-process walk-forward (``run_walkforward``) built from them.

``fit_fold`` is what every engine task runs (``evaluate.walkforward.tasks``): normaliser fitted
on the fold's train rows, the learner (``evaluate.walkforward.learners``), the selected
policy's Sharpe on the fold's val rows (its ledger value) and its backtest on the fold's test
rows, with one set of costs for everyone. The baselines (``evaluate.walkforward.baselines``)
run on the same test rows with the same costs.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from backtest.baselines import PolicySpec
from backtest.fold_backtest import backtest_rows, eval_options
from backtest.folds import FoldPlan, WFData, mask_rows
from backtest.record import Backtest
from backtest.runner import CostOverrides
from backtest.stats import per_period_sharpe
from evaluate.headtohead import Comparison, compare
from evaluate.stitch import stitch
from evaluate.walkforward.baselines import BASELINES, fold_baselines
from evaluate.walkforward.context import FoldContext
from evaluate.walkforward.learners import LEARNERS, MOMENTUM_GRID, val_backtest


@dataclass
class TaskOutcome:
    """One (method, fold, seed): the selected policy's test backtest and how it was chosen."""

    plan: FoldPlan
    test: Backtest  # the selected policy over the fold's (first) test block
    val_sharpe: float  # annualised, the selected policy over the fold's val rows
    trial_sharpes: dict[str, float]  # per-bar test Sharpe of every configuration tried
    selection: dict[str, Any]
    train_s: float
    eval_s: float
    group_tests: dict[int, Backtest] = field(default_factory=dict)  # CPCV: every tested group
    # per-bar returns on the fold's val rows, per configuration tried (the ledger's returns)
    val_returns: dict[str, np.ndarray] = field(default_factory=dict)
    val_timestamps: np.ndarray | None = None


@dataclass
class FoldResult:
    """One fold of a single-method walk-forward: test backtests (candidate first), trials."""

    plan: FoldPlan
    backtests: dict[str, Backtest]
    trial_sharpes: dict[str, float]
    selection: dict[str, Any]
    train_s: float
    eval_s: float


@dataclass
class WalkForward:
    """Every fold, the stitched out-of-sample backtests and their comparison."""

    algo: str
    candidate: str
    folds: list[FoldResult]
    stitched: list[Backtest]
    comparison: Comparison
    n_trials: int
    trials_sharpe_var: float  # per bar
    settings: dict[str, Any] = field(default_factory=dict)


def fit_fold(
    data: WFData,
    plan: FoldPlan,
    method: str,
    fold_dir: Path,
    *,
    seed: int,
    window: int,
    options: dict[str, Any],
    **train_kwargs: Any,
) -> TaskOutcome:
    """Fit the normaliser, train ``method``, then backtest the selection on val and test."""
    norm = data.fit_normaliser(plan.train)
    market = data.market(norm, window)
    ctx = FoldContext(
        data, plan, norm, market, mask_rows(market, plan.holes), fold_dir, seed, window, options,
        **train_kwargs,
    )  # fmt: skip
    t0 = time.perf_counter()
    trained = LEARNERS[method].train(ctx)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ppy = data.periods_per_year
    test = backtest_rows(trained.spec, market, plan.test, options, ppy)
    trials = {}
    for name, policy in trained.trials.items():
        bt = (
            test
            if policy is trained.spec.policy
            else backtest_rows(
                PolicySpec(name, name, policy, None, {"action": "discrete"}),
                market,
                plan.test,
                options,
                ppy,
            )
        )
        trials[name] = per_period_sharpe(bt.returns)
    val_bts = {
        name: val_backtest(
            trained.spec
            if policy is trained.spec.policy
            else PolicySpec(name, name, policy, None, {"action": "discrete"}),
            ctx,
        )
        for name, policy in trained.trials.items()
    }
    selected = next(
        (val_bts[n] for n, p in trained.trials.items() if p is trained.spec.policy), None
    )
    selected = selected or val_backtest(trained.spec, ctx)
    val = float(selected.summary()["sharpe"])
    groups = {
        g: test if rows == plan.test else backtest_rows(trained.spec, market, rows, options, ppy)
        for g, rows in plan.test_blocks.items()
        if plan.groups
    }
    return TaskOutcome(
        plan, test, val, trials, trained.selection, train_s, time.perf_counter() - t0, groups,
        val_returns={n: np.nan_to_num(bt.returns) for n, bt in val_bts.items()},
        val_timestamps=selected.timestamps,
    )  # fmt: skip


def run_fold(
    data: WFData,
    plan: FoldPlan,
    algo: str,
    fold_dir: Path,
    *,
    seed: int,
    window: int,
    options: dict[str, Any],
    **train_kwargs: Any,
) -> FoldResult:
    """``fit_fold`` plus the baselines on the same test rows (candidate first)."""
    out = fit_fold(
        data, plan, algo, fold_dir, seed=seed, window=window, options=options, **train_kwargs
    )
    bts = {out.test.name: out.test, **fold_baselines(data, plan, options).backtests}
    return FoldResult(plan, bts, out.trial_sharpes, out.selection, out.train_s, out.eval_s)


def trial_variance(trial_sharpes: list[float]) -> float:
    """Variance (ddof 1) of the finite per-bar trial Sharpes; 0 with fewer than two."""
    s = np.asarray(trial_sharpes, dtype=np.float64)
    s = s[np.isfinite(s)]
    return float(np.var(s, ddof=1)) if s.size > 1 else 0.0


# size: train every fold, stitch, compare: the module's pipeline in reading order
def run_walkforward(
    data: WFData,
    plans: list[FoldPlan],
    algo: str,
    out: Path,
    *,
    seed: int = 0,
    window: int = 32,
    costs: CostOverrides | None = None,
    n_configs: int = 1,
    n_boot: int = 2000,
    bootstrap_seed: int = 0,
    **train_kwargs: Any,
) -> WalkForward:
    """One method, one seed, in process, every fold of ``plans`` (run folders ``out/fold_<k>``)."""
    if algo not in LEARNERS:
        raise ValueError(f"unknown algo {algo!r}; choose from {', '.join(LEARNERS)}")
    options = eval_options(costs or CostOverrides())
    folds = [
        run_fold(
            data,
            plan,
            algo,
            out / f"fold_{plan.index:02d}",
            seed=seed,
            window=window,
            options=options,
            **train_kwargs,
        )  # fmt: skip
        for plan in plans
    ]
    names = list(folds[0].backtests)
    stitched = [stitch([f.backtests[n] for f in folds], n) for n in names]
    configs = len(MOMENTUM_GRID) if algo == "momentum" else int(n_configs)
    # a supervised fold also searched its decision rule's grid on val: every point is a trial
    configs *= max(int(f.selection.get("rule_grid_points", 1)) for f in folds)
    n_trials = len(plans) * configs
    sharpes = [s for f in folds for s in f.trial_sharpes.values()]
    var = trial_variance(sharpes)
    cmp = compare(
        stitched,
        n_boot=n_boot,
        seed=bootstrap_seed,
        n_trials=n_trials,
        trials_sharpe_var=var,
        baselines=BASELINES,
    )
    finite = [s for s in sharpes if math.isfinite(s)]
    settings = {
        "n_configs": configs,
        "n_trials": n_trials,
        "trials_sharpe_var_per_bar": var,
        "trial_sharpes_annualised": [s * math.sqrt(data.periods_per_year) for s in finite],
    }
    return WalkForward(algo, names[0], folds, stitched, cmp, n_trials, var, settings)
