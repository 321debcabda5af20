"""``python -m evaluate.walkforward``: retrain per fold, test out of sample, stitch, report.

    python -m evaluate.walkforward --env btc1h --algo ppo|supervised|momentum --folds K
        [--timesteps N] [--epochs N] [--purge-bars 24] [--embargo-bars 24] [--val-bars 2160]
        [--start DATE] [--end DATE] [--seed S] [--out DIR]

Reads top to bottom: parse -> output folder -> data (real preset files) -> fold plans -> per
fold: normaliser fitted on the fold's train rows -> train (``evaluate.wf_train``) -> backtest the
selected policy and the baselines on the fold's test rows (``backtest.runner.run_env``, one set
of costs for everyone) -> stitch the test segments (``evaluate.stitch``) -> statistics
(``evaluate.headtohead``) -> per-fold table, folds.csv, metrics.json, metrics.csv, PNGs (stitched
equity with fold boundaries, drawdown, rolling Sharpe, positions) and report.html.

Span: by default the folds cover the preset's whole train+val+test period (btc1h: 2018-2024);
``--start``/``--end`` (UTC dates, ``[start, end)``) choose another span. The K test blocks tile
the end of the span (``envs.splits.walk_forward_folds``, expanding windows), so with the default
span the later folds train on data from the val and test splits. A walk-forward is therefore its
own experiment: do not tune on its results and then report the fixed test split as untouched;
``--end 2024-01-01`` keeps the test split out entirely. Inside every fold only the fold's val rows
select anything; the fold's test rows are never seen before its evaluation. Fold layout, purge
and embargo: ``evaluate.wf_data``.

Deflated Sharpe: every configuration tried counts. ``n_trials = folds x configurations``
(configurations: the momentum smoke path's 4 lookbacks, else ``--n-configs``, the size of the
search that produced the config, default 1), and the trials' Sharpe variance is the variance of
the out-of-sample per-bar Sharpes of every (fold, configuration) evaluated here (ddof 1; 0 with a
single trial, which makes DSR = PSR against the expected best of n_trials zero-skill trials).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
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
from envs.data import DataValidationError
from envs.presets import PRESETS
from evaluate.arg_checks import check_walkforward
from evaluate.headtohead import Comparison, compare
from evaluate.report import format_table, write_csv, write_html, write_json
from evaluate.stitch import stitch
from evaluate.wf_args import build_parser
from evaluate.wf_data import FoldPlan, WFData, env_split, mask_rows, plan_folds
from evaluate.wf_report import fold_rows, format_fold_table, plot_folds, write_folds_csv
from evaluate.wf_train import MOMENTUM_GRID, TRAINERS, FoldContext, TrainedFold
from lab.cli import run_cli
from lab.config import check_choice
from lab.outputs import check_output_dir
from lab.rundir import preset_files, track_unfinished, write_provenance

REPO_ROOT = Path(__file__).resolve().parent.parent
BASELINES = ("buy_and_hold", "flat", "momentum")


@dataclass
class FoldResult:
    plan: FoldPlan
    backtests: dict[str, Backtest]  # candidate first, then the baselines
    trial_sharpes: dict[str, float]  # per-bar Sharpe of every configuration on the test rows
    selection: dict[str, Any]
    train_s: float
    eval_s: float


@dataclass
class WalkForward:
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
    meta = {
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


def engine_runner(args: argparse.Namespace) -> Any:
    """Folds in parallel on the engine (``evaluate.wf_engine``) with --workers/--address."""
    from evaluate.wf_engine import fold_runner

    if args.workers > 1 or args.address:
        return fold_runner(args.env, args.feature_set, args.workers, args.address)
    return None


def record_walkforward(args: argparse.Namespace, wf: WalkForward, ppy: float, out: Path) -> None:
    """The walk-forward configuration into the market's trial ledger (lab.ledger)."""
    from evaluate.wf_engine import record_folds

    skip = ("out", "seed", "workers", "address", "n_boot", "bootstrap_seed")
    cfg = {k: str(v) for k, v in vars(args).items() if k not in skip}
    record_folds(args.env, args.algo, wf, cfg, args.seed, ppy, out)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    check_choice("--env", args.env, PRESETS)
    check_walkforward(args)
    t_start = time.perf_counter()
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    out = (
        args.out
        or REPO_ROOT / "runs" / args.env / "walkforward" / f"{stamp}_{args.algo}_s{args.seed}"
    )
    check_output_dir(out, "--out")  # a new or empty folder only: nothing is overwritten
    from envs.presets import get_preset

    preset = get_preset(args.env)
    data = WFData.from_preset(args.env, args.feature_set)
    start = args.start or preset.splits["train"][0]
    end = args.end or preset.splits["test"][1]
    try:
        plans = plan_folds(
            data.span(start, end),
            args.folds,
            val_bars=args.val_bars,
            purge_bars=args.purge_bars,
            embargo_bars=args.embargo_bars,
            test_bars=args.test_bars,
            min_train_bars=args.min_train_bars,
        )
    except ValueError as err:
        raise SystemExit(f"python -m evaluate.walkforward: error: {err}") from None
    track_unfinished(out)  # failed or interrupted: no orphan folder
    write_provenance(  # after every input is checked: a refused command leaves no folder
        out,
        seed=args.seed,
        config=vars(args),
        data_files=preset_files(preset),
        argv=["-m", "evaluate.walkforward", *argv],
    )
    costs = CostOverrides(
        fee_bps=args.fee_bps,
        slippage_bps=args.slippage_bps,
        funding=False if args.no_funding else None,
        fill=args.fill,
    )
    command = " ".join(["python -m evaluate.walkforward", *argv])
    print(
        f"walk-forward {args.algo} on {args.env} [{start}, {end}): {len(plans)} folds -> {out}",
        file=sys.stderr,
    )
    wf = run_walkforward(
        data,
        plans,
        args.algo,
        out,
        seed=args.seed,
        window=args.window,
        costs=costs,
        n_configs=args.n_configs,
        n_boot=args.n_boot,
        bootstrap_seed=args.bootstrap_seed,
        log=lambda s: print(s, file=sys.stderr),
        timesteps=args.timesteps,
        epochs=args.epochs,
        max_train_samples=args.max_train_samples,
        config=args.config,
        argv=["-m", "evaluate.walkforward", *argv],
        fold_runner=engine_runner(args),
    )
    record_walkforward(args, wf, data.periods_per_year, out)
    rows = fold_rows(wf, data)
    first = wf.stitched[0]
    wall = time.perf_counter() - t_start
    context: dict[str, Any] = {
        "kind": "walk-forward (out-of-sample folds stitched)",
        "env": args.env,
        "algo": args.algo,
        "span": [start, end],
        "folds": len(plans),
        "purge_bars": args.purge_bars,
        "embargo_bars": args.embargo_bars,
        "val_bars": args.val_bars,
        "test_bars": plans[0].test[1] - plans[0].test[0],
        "bars": len(first),
        "from": str(first.timestamps[0].astype("datetime64[ns]")),
        "to": str(first.timestamps[-1].astype("datetime64[ns]")),
        "costs": first.meta.get("env_settings", {}),
        **wf.settings,
        "command": command,
        "wall_s": round(wall, 1),
    }
    for r in rows:
        context[f"fold {r['fold']}"] = (
            f"train {r['rows']['train'][0][:10]}..{r['rows']['train'][1][:10]} ({r['n_train']} rows), "
            f"val {r['rows']['val'][0][:10]}..{r['rows']['val'][1][:10]}, test {r['test_from']}..{r['test_to']}: "
            f"{wf.candidate} Sharpe {r['sharpe']:.2f}, return {100 * r['total_return']:.1f}%, "
            f"B&H Sharpe {r['bh_sharpe']:.2f}; {r['selected'] or ''} (train {r['train_s']} s)"
        )
    print(format_fold_table(rows, wf.candidate))
    print()
    print(format_table(wf.comparison))
    write_json(
        wf.comparison,
        out / "metrics.json",
        {**context, "fold_details": [{k: v for k, v in r.items()} for r in rows]},
    )
    write_csv(wf.comparison, out / "metrics.csv")
    write_folds_csv(rows, out / "folds.csv")
    plots: dict[str, Path] = {}
    if not args.no_plots:
        from evaluate.plots import write_plots

        plots = {
            "equity by fold": plot_folds(wf, out / "equity_folds.png"),
            **write_plots(wf.stitched, out),
        }
    write_html(wf.comparison, out / "report.html", plots, context)
    print(
        f"\nwrote {out}/metrics.json, metrics.csv, folds.csv, report.html in {wall:.1f} s "
        f"(DSR over n_trials = {wf.n_trials})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main, (DataValidationError,)))
