"""Walk-forward folds: train per fold, backtest the candidate and the baselines on the fold's
test rows with one set of costs, stitch the test segments, compare (``python -m
evaluate.walkforward`` is the command line on top; see its docstring for the method).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from backtest.baselines import PolicySpec, baseline
from backtest.record import Backtest
from backtest.runner import CostOverrides, run_env
from backtest.stats import per_period_sharpe
from envs import TradingEnv
from evaluate.headtohead import Comparison, compare
from evaluate.stitch import stitch
from evaluate.wf_data import FoldPlan, WFData, env_split, mask_rows
from evaluate.wf_train import MOMENTUM_GRID, TRAINERS, FoldContext, TrainedFold

BASELINES = ("buy_and_hold", "flat", "momentum")


@dataclass
class FoldResult:
    """One fold: its plan, test backtests, trial Sharpes, selection and timings."""

    plan: FoldPlan
    backtests: dict[str, Backtest]  # candidate first, then the baselines
    trial_sharpes: dict[str, float]  # per-bar Sharpe of every configuration on the test rows
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


def eval_options(costs: CostOverrides) -> dict[str, Any]:
    """Env options of every evaluation env: the shared costs, no drawdown stop (as the runner)."""
    return {**costs.options(), "max_drawdown": None}


def backtest_rows(
    spec: PolicySpec, market: Any, rows: tuple[int, int], options: dict[str, Any], ppy: float
) -> Backtest:
    """``spec`` over the decision ``rows`` of ``market`` (a fresh env; see ``wf_data.env_split``)."""
    opts = {
        **options,
        **{k: v for k, v in spec.env_settings.items() if k in ("action", "long_only")},
    }
    env = TradingEnv(market, env_split(rows, market.n_bars), **opts)
    meta: dict[str, Any] = {
        "method": spec.method,
        "seed": spec.seed,
        "source": spec.source,
        "env_settings": {
            k: getattr(env.params, k)
            for k in ("fee_bps", "slippage_bps", "slippage_model", "funding", "fill", "action")
        },
    }
    # a policy trained with decision_interval=k acts every k bars (on this k=1 env), as
    # backtest.runner.run_policy backtests it
    k = int(spec.env_settings.get("decision_interval", 1))
    meta["env_settings"]["decision_interval"] = k
    return run_env(
        spec.policy, env, spec.name, periods_per_year=ppy, meta=meta, decision_interval=k
    )


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
    """Fit the normaliser, train, and backtest the candidate, baselines and trials on ``plan.test``."""
    norm = data.fit_normaliser(plan.train)
    market = data.market(norm, window)
    ctx = FoldContext(
        data,
        plan,
        norm,
        market,
        mask_rows(market, plan.holes),
        fold_dir,
        seed,
        window,
        options,
        **train_kwargs,
    )
    t0 = time.perf_counter()
    trained: TrainedFold = TRAINERS[algo](ctx)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ppy = data.periods_per_year
    specs = [trained.spec] + [
        PolicySpec(b, b, baseline(b, seed), None, {"action": "discrete"}) for b in BASELINES
    ]
    bts = {s.name: backtest_rows(s, market, plan.test, options, ppy) for s in specs}
    trial_sharpes = {}
    for name, policy in trained.trials.items():
        bt = (
            bts[name]
            if policy is trained.spec.policy
            else backtest_rows(
                PolicySpec(name, name, policy, None, {"action": "discrete"}),
                market,
                plan.test,
                options,
                ppy,
            )
        )
        trial_sharpes[name] = per_period_sharpe(bt.returns)
    return FoldResult(
        plan, bts, trial_sharpes, trained.selection, train_s, time.perf_counter() - t0
    )


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
    log: Any = None,
    fold_runner: Any = None,
    **train_kwargs: Any,
) -> WalkForward:
    """Every fold of ``plans`` (see module doc); fold run folders are ``out/fold_<k>``."""
    if algo not in TRAINERS:
        raise ValueError(f"unknown algo {algo!r}; choose from {', '.join(TRAINERS)}")
    options = eval_options(costs or CostOverrides())
    folds = []
    ran = fold_runner(plans, algo, out, seed=seed, window=window, options=options, **train_kwargs) if fold_runner else {}  # fmt: skip
    for plan in plans:
        res = ran.get(plan.index) or run_fold(
            data,
            plan,
            algo,
            out / f"fold_{plan.index:02d}",
            seed=seed,
            window=window,
            options=options,
            **train_kwargs,
        )
        folds.append(res)
        if log:
            bt = next(iter(res.backtests.values()))
            log(
                f"fold {plan.index}: train {res.train_s:.1f} s, test {res.eval_s:.1f} s, "
                f"{bt.name} Sharpe {bt.summary()['sharpe']:+.2f} over {len(bt)} bars"
            )
    names = list(folds[0].backtests)
    stitched = [stitch([f.backtests[n] for f in folds], n) for n in names]
    configs = len(MOMENTUM_GRID) if algo == "momentum" else int(n_configs)
    # a supervised fold also searched its decision rule's grid on val: every point is a trial
    configs *= max(int(f.selection.get("rule_grid_points", 1)) for f in folds)
    n_trials = len(plans) * configs
    sharpes = np.array([s for f in folds for s in f.trial_sharpes.values()], dtype=np.float64)
    sharpes = sharpes[np.isfinite(sharpes)]
    var = float(np.var(sharpes, ddof=1)) if sharpes.size > 1 else 0.0
    cmp = compare(
        stitched,
        n_boot=n_boot,
        seed=bootstrap_seed,
        n_trials=n_trials,
        trials_sharpe_var=var,
        baselines=BASELINES,
    )
    settings = {
        "n_configs": configs,
        "n_trials": n_trials,
        "trials_sharpe_var_per_bar": var,
        "trial_sharpes_annualised": (sharpes * math.sqrt(data.periods_per_year)).tolist(),
    }
    return WalkForward(algo, names[0], folds, stitched, cmp, n_trials, var, settings)
