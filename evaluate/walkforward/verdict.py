"""From finished tasks to the verdict: stitched out-of-sample curves per (method, seed), seed
aggregates against every baseline, the fold-by-fold table, turnover and costs.

* A seed's curve stitches its K test blocks in time order (``evaluate.stitch``); a seed with a
  failed fold has no curve and is listed as failed with the reason, never dropped silently.
* Per method: ``backtest.aggregate.summarize_seeds`` over the seeds' out-of-sample Sharpes (IQM,
  stratified bootstrap CI, ``P(method > baseline)`` for each baseline's stitched Sharpe; a flat
  or undefined Sharpe counts 0 and the seed is flagged collapsed).
* Costs: fees, slippage and funding summed as fractions of the equity at each bar, per year
  (``costs_pct_year``), and turnover (notional traded per year), median over seeds.
* A Sharpe that cannot be computed is never shown bare: ``why_undefined`` names the cause
  ("always flat, Sharpe undefined").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backtest.aggregate import SeedSummary, summarize_seeds
from backtest.collapse import collapse_label, constant_position
from backtest.cpcv import n_paths
from backtest.folds import FoldPlan
from backtest.record import Backtest
from backtest.stats import deflated_sharpe_ratio
from evaluate.stitch import stitch
from evaluate.walkforward.baselines import BASELINES
from evaluate.walkforward.context import MethodSettings
from evaluate.walkforward.cpcv import path_curves, path_sharpe, share_beating
from evaluate.walkforward.folds import TaskOutcome, trial_variance
from evaluate.walkforward.grid import GridResult, Key
from evaluate.walkforward.learners import MOMENTUM_GRID

COSTS = ("fees", "slippage", "funding")


def why_undefined(bt: Backtest) -> str:
    """Why ``bt``'s Sharpe is undefined: "always flat", "always long, no price change", ..."""
    label = collapse_label(constant_position(bt.positions))
    if label == "always flat" or not np.any(bt.positions):
        return "always flat, Sharpe undefined"
    if label is not None:
        return f"{label} with no return variance, Sharpe undefined"
    return "no return variance, Sharpe undefined"


def sharpe_text(bt: Backtest) -> str:
    """``+1.23`` or ``n/a (always flat, Sharpe undefined)``; never a bare nan."""
    s = bt.summary()["sharpe"]
    return f"{s:+.2f}" if math.isfinite(s) else f"n/a ({why_undefined(bt)})"


def cost_rates(bt: Backtest) -> dict[str, float]:
    """Turnover and round trips (turnover / 2) per year, and each cost as % of the equity it
    was paid from, per year."""
    years = max(len(bt) / bt.periods_per_year, 1e-12)
    eq = np.asarray(bt.equity[:-1], dtype=np.float64)
    out = {"turnover_annual": float(bt.summary()["turnover_annual"])}
    # a round trip (flat -> full position -> flat) trades twice the equity
    out["round_trips_annual"] = out["turnover_annual"] / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        for c in COSTS:
            share = np.where(eq > 0, np.asarray(getattr(bt, c)) / eq, 0.0)
            out[f"{c}_pct_year"] = float(100 * share.sum() / years)
    out["costs_pct_year"] = sum(out[f"{c}_pct_year"] for c in COSTS)
    return out


@dataclass
class MethodResult:
    """One method over every fold and seed."""

    method: str
    settings: MethodSettings
    curves: dict[int, Backtest]  # seed -> stitched out-of-sample curve
    failed: dict[int, str]  # seed -> why it has no curve
    summary: SeedSummary | None
    costs: dict[str, float]  # median over seeds
    n_trials: int
    collapse: dict[int, str] = field(default_factory=dict)  # seed -> "always flat", ...
    trials_sharpe_var: float = 0.0  # per bar, over every (fold, seed, configuration) on test
    dsr: float = math.nan  # median over seeds of the stitched curve's deflated Sharpe
    path_sharpes: dict[int, list[float]] = field(default_factory=dict)  # CPCV: seed -> paths
    share_beat_bh: float = math.nan  # CPCV: share of (seed, path) beating buy-and-hold's path


def cpcv_shape(plans: list[FoldPlan]) -> tuple[int, int] | None:
    """(groups, test groups) of a CPCV run, None for a walk-forward."""
    if not plans[0].groups:
        return None
    return max(g for p in plans for g in p.groups) + 1, len(plans[0].groups)


def seed_paths(
    tests: dict[int, TaskOutcome], plans: list[FoldPlan], name: str, meta: dict[str, Any]
) -> list[Backtest]:
    """A seed's out-of-sample accounts: the stitched folds (one), or every CPCV path."""
    shape = cpcv_shape(plans)
    if shape is None:
        return [stitch([tests[p.index].test for p in plans], name, meta)]
    blocks = {p.index: tests[p.index].group_tests for p in plans}
    return path_curves(blocks, shape[0], shape[1], name, meta)


@dataclass
class Verdict:
    """Every method's result, the stitched baselines and the per-fold table rows."""

    methods: dict[str, MethodResult]
    baselines: dict[str, Backtest]
    fold_rows: list[dict[str, Any]]
    baseline_sharpes: dict[str, float]
    n_paths: int = 0  # CPCV: paths per seed (0: a walk-forward, one stitched account)


def _n_configs(method: str, outs: list[TaskOutcome], n_configs: int) -> int:
    configs = len(MOMENTUM_GRID) if method == "momentum" else n_configs
    grid = max((int(o.selection.get("rule_grid_points", 1)) for o in outs), default=1)
    return configs * grid


def _zero_nan(x: float) -> float:
    return x if math.isfinite(x) else 0.0


# size: one pass per method: stitch each seed, aggregate, costs
def method_result(
    method: str,
    settings: MethodSettings,
    grid: GridResult,
    plans: list[FoldPlan],
    seeds: list[int],
    versus: dict[str, float],
    *,
    n_configs: int = 1,
    n_boot: int = 2000,
    bootstrap_seed: int = 0,
    bench_paths: list[float] | None = None,
) -> MethodResult:
    """Stitch each seed of ``method``, then aggregate its seeds (see the module docstring).
    CPCV: a seed's Sharpe is the median over its paths; ``bench_paths`` buy-and-hold's."""
    curves, failed, collapse, paths = {}, {}, {}, {}
    for seed in seeds:
        keys: list[Key] = [(method, p.index, seed) for p in plans]
        missing = [k for k in keys if k not in grid.outcomes]
        if missing:
            k = missing[0]
            failed[seed] = f"fold {k[1]}: " + grid.failures.get(k, "not run")
            continue
        # a method named like a baseline (the momentum smoke path) gets its own chart label
        shown = f"{method} (walk-forward)" if method in BASELINES else method
        curves_s = seed_paths(
            {k[1]: grid.outcomes[k] for k in keys},
            plans,
            f"{method} s{seed}",
            {"method": shown, "seed": seed},
        )
        curve = curves[seed] = curves_s[0]  # CPCV: path 0 stands for the seed in the charts
        paths[seed] = [path_sharpe(c) for c in curves_s]
        collapsed = collapse_label(constant_position(curve.positions))
        if collapsed is not None:
            collapse[seed] = collapsed
    outs = [o for (m, _, _), o in grid.outcomes.items() if m == method]
    n_trials = len(plans) * _n_configs(method, outs, n_configs)
    var = trial_variance([s for o in outs for s in o.trial_sharpes.values()])
    summary, dsr = None, math.nan
    if curves:
        sums = [c.summary() for c in curves.values()]
        sharpe = [
            float(np.median(paths[sd])) if len(paths[sd]) > 1 else sm["sharpe"]
            for sd, sm in zip(curves, sums, strict=True)
        ]
        summary = summarize_seeds(
            method,
            list(curves),
            np.array(sharpe),
            np.array([s["exposure"] for s in sums]),
            {b: np.array([_zero_nan(v)]) for b, v in versus.items()},
            n_boot=n_boot,
            seed=bootstrap_seed,
            constant=np.array([constant_position(c.positions) for c in curves.values()]),
        )
        dsrs = [
            _zero_nan(deflated_sharpe_ratio(c.returns, n_trials=n_trials, trials_sharpe_var=var))
            for c in curves.values()
        ]
        dsr = float(np.median(dsrs))
    rates = [cost_rates(c) for c in curves.values()]
    costs = {k: float(np.median([r[k] for r in rates])) for k in (rates[0] if rates else {})}
    share = math.nan
    if bench_paths is not None and paths:
        share = share_beating([x for v in paths.values() for x in v], bench_paths * len(paths))
    return MethodResult(
        method, settings, curves, failed, summary, costs, n_trials, collapse, var, dsr,
        paths if cpcv_shape(plans) else {}, share,
    )  # fmt: skip


def fold_rows(
    results: dict[str, MethodResult],
    grid: GridResult,
    plans: list[FoldPlan],
    seeds: list[int],
    baselines: list[dict[str, Backtest]],
    index: Any,
) -> list[dict[str, Any]]:
    """One row per (fold, method): dates, median/min/max test Sharpe over seeds, buy-and-hold's,
    and a note saying why any seed's Sharpe is undefined."""
    rows = []
    for plan, base in zip(plans, baselines, strict=True):
        d = plan.describe(index)
        bh = base["buy_and_hold"]
        for method in results:
            ran = [s for s in seeds if (method, plan.index, s) in grid.outcomes]
            tests = [grid.outcomes[(method, plan.index, s)] for s in ran]
            sharpes = [o.test.summary()["sharpe"] for o in tests]
            finite = [s for s in sharpes if math.isfinite(s)]
            notes = [
                f"seed {seed}: {why_undefined(o.test)}"
                for seed, o, s in zip(ran, tests, sharpes, strict=True)
                if not math.isfinite(s)
            ]
            if len(tests) < len(seeds):
                notes.append(f"{len(seeds) - len(tests)} seed(s) failed")
            if plan.groups:  # CPCV: the row's dates are the split's first test group
                notes.insert(0, f"split tests groups {', '.join(map(str, plan.groups))}")
            rows.append(
                {
                    "fold": plan.index,
                    "method": method,
                    "train_from": d["train"][0][:10],
                    "test_from": d["test"][0][:10],
                    "test_to": d["test"][1][:10],
                    "n_train": d["n_train"],
                    "seeds": len(tests),
                    "sharpe_median": float(np.median(finite)) if finite else math.nan,
                    "sharpe_min": min(finite) if finite else math.nan,
                    "sharpe_max": max(finite) if finite else math.nan,
                    "val_sharpe_median": float(np.median([o.val_sharpe for o in tests]))
                    if tests
                    else math.nan,
                    "bh_sharpe": bh.summary()["sharpe"],
                    "bh_note": "" if math.isfinite(bh.summary()["sharpe"]) else why_undefined(bh),
                    "trades_median": float(np.median([o.test.summary()["n_trades"] for o in tests]))
                    if tests
                    else math.nan,
                    "note": "; ".join(notes),
                }
            )
    return rows


def build_verdict(
    settings: dict[str, MethodSettings],
    grid: GridResult,
    plans: list[FoldPlan],
    seeds: list[int],
    baselines: list[dict[str, Backtest]],
    index: Any,
    *,
    n_configs: int = 1,
    n_boot: int = 2000,
    bootstrap_seed: int = 0,
    baseline_groups: list[dict[str, dict[int, Backtest]]] | None = None,
) -> Verdict:
    """Stitch the baselines' fold blocks, aggregate every method against them, the fold rows.
    CPCV (``baseline_groups``: per split, baseline -> group -> backtest): each baseline's
    Sharpe is its median over the paths; buy-and-hold's paths score the share of paths."""
    shape, bench = cpcv_shape(plans), None
    if shape is None or baseline_groups is None:
        stitched = {b: stitch([f[b] for f in baselines], b) for b in baselines[0]}
        sharpes = {b: float(bt.summary()["sharpe"]) for b, bt in stitched.items()}
    else:
        stitched, sharpes = {}, {}
        for b in baselines[0]:
            blocks = {p.index: g[b] for p, g in zip(plans, baseline_groups, strict=True)}
            curves = path_curves(blocks, shape[0], shape[1], b, {"method": b})
            stitched[b] = curves[0]
            sharpes[b] = float(np.median([path_sharpe(c) for c in curves]))
            if b == "buy_and_hold":
                bench = [path_sharpe(c) for c in curves]
    results = {
        m: method_result(
            m,
            ms,
            grid,
            plans,
            seeds,
            sharpes,
            n_configs=n_configs,
            n_boot=n_boot,
            bootstrap_seed=bootstrap_seed,
            bench_paths=bench,
        )  # fmt: skip
        for m, ms in settings.items()
    }
    rows = fold_rows(results, grid, plans, seeds, baselines, index)
    paths = n_paths(*shape) if shape is not None else 0
    return Verdict(results, stitched, rows, sharpes, paths)
