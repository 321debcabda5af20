"""``python -m evaluate.walkforward``: retrain per fold, test out of sample, stitch, report.

    python -m evaluate.walkforward --env btc1h --algo ppo|supervised|trees|momentum --folds K
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

import dataclasses
import datetime as dt
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backtest.runner import CostOverrides
from envs.data import DataValidationError
from envs.marketspec import market_dirname, record_market
from envs.presets import get_preset
from evaluate.arg_checks import check_walkforward
from evaluate.plots import write_plots
from evaluate.report import format_table, write_csv, write_html, write_json
from evaluate.wf_args import WalkForwardConfig, build_parser, config_from_args
from evaluate.wf_checks import min_train_bars
from evaluate.wf_data import FoldPlan, WFData, plan_folds
from evaluate.wf_engine import fold_runner, record_folds
from evaluate.wf_folds import (  # noqa: F401  (re-exported: the walk-forward API)
    BASELINES,
    FoldResult,
    WalkForward,
    backtest_rows,
    eval_options,
    run_fold,
    run_walkforward,
)
from evaluate.wf_report import fold_rows, format_fold_table, plot_folds, write_folds_csv
from lab.cli import run_cli
from lab.outputs import check_output_dir
from lab.rundir import preset_files, track_unfinished, write_provenance

REPO_ROOT = Path(__file__).resolve().parent.parent


def engine_runner(args: WalkForwardConfig) -> Any:
    """Folds in parallel on the engine (``evaluate.wf_engine``) with --workers/--address."""
    if args.workers > 1 or args.address:
        return fold_runner(args.env, args.feature_set, args.workers, args.address)
    return None


def record_walkforward(args: WalkForwardConfig, wf: WalkForward, ppy: float, out: Path) -> None:
    """The walk-forward configuration into the market's trial ledger (lab.ledger)."""
    skip = ("out", "seed", "workers", "address", "n_boot", "bootstrap_seed")
    cfg = {k: str(v) for k, v in dataclasses.asdict(args).items() if k not in skip}
    record_folds(args.env, args.algo, wf, cfg, args.seed, ppy, out)


@dataclass
class Setup:
    """A checked command: its settings, output folder, data, span and fold plans."""

    args: WalkForwardConfig
    out: Path
    data: WFData
    start: str
    end: str
    plans: list[FoldPlan]


def setup(argv: list[str]) -> Setup:
    """Parse and check every input, then write the provenance (a refused command leaves none)."""
    args = config_from_args(build_parser().parse_args(argv))
    check_walkforward(args)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    out = (
        args.out
        or REPO_ROOT
        / "runs"
        / market_dirname(args.env)
        / "walkforward"
        / f"{stamp}_{args.algo}_s{args.seed}"
    )
    check_output_dir(out, "--out")  # a new or empty folder only: nothing is overwritten

    preset = get_preset(args.env)
    if args.min_train is not None:  # a span of time, in this market's bars
        args.min_train_bars = min_train_bars(args.min_train, preset.freq)
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
        config=dataclasses.asdict(args),
        data_files=preset_files(preset),
        argv=["-m", "evaluate.walkforward", *argv],
    )
    record_market(out, args.env)  # meta.json: spec, bar, splits, sha256 of every file
    return Setup(args, out, data, start, end, plans)


def report_context(
    st: Setup, wf: WalkForward, rows: list[dict[str, Any]], command: str, wall_s: float
) -> dict[str, Any]:
    """The report's context: settings, span, folds, costs and one line per fold."""
    args, first = st.args, wf.stitched[0]
    context: dict[str, Any] = {
        "kind": "walk-forward (out-of-sample folds stitched)",
        "env": args.env,
        "algo": args.algo,
        "span": [st.start, st.end],
        "folds": len(st.plans),
        "purge_bars": args.purge_bars,
        "embargo_bars": args.embargo_bars,
        "val_bars": args.val_bars,
        "test_bars": st.plans[0].test[1] - st.plans[0].test[0],
        "bars": len(first),
        "from": str(first.timestamps[0].astype("datetime64[ns]")),
        "to": str(first.timestamps[-1].astype("datetime64[ns]")),
        "costs": first.meta.get("env_settings", {}),
        **wf.settings,
        "command": command,
        "wall_s": round(wall_s, 1),
    }
    for r in rows:
        context[f"fold {r['fold']}"] = (
            f"train {r['rows']['train'][0][:10]}..{r['rows']['train'][1][:10]} ({r['n_train']} rows), "
            f"val {r['rows']['val'][0][:10]}..{r['rows']['val'][1][:10]}, test {r['test_from']}..{r['test_to']}: "
            f"{wf.candidate} Sharpe {r['sharpe']:.2f}, return {100 * r['total_return']:.1f}%, "
            f"B&H Sharpe {r['bh_sharpe']:.2f}; {r['selected'] or ''} (train {r['train_s']} s)"
        )
    return context


def write_outputs(
    st: Setup, wf: WalkForward, rows: list[dict[str, Any]], context: dict[str, Any]
) -> None:
    """Print the tables; write metrics.json/csv, folds.csv, the PNGs and report.html."""
    out = st.out
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
    if not st.args.no_plots:
        plots = {
            "equity by fold": plot_folds(wf, out / "equity_folds.png"),
            **write_plots(wf.stitched, out),
        }
    write_html(wf.comparison, out / "report.html", plots, context)
    print(
        f"\nwrote {out}/metrics.json, metrics.csv, folds.csv, report.html in "
        f"{context['wall_s']:.1f} s (DSR over n_trials = {wf.n_trials})"
    )


def main(argv: list[str] | None = None) -> int:
    """Check the inputs, train and test every fold, stitch, report; 0 on success."""
    argv = sys.argv[1:] if argv is None else list(argv)
    t_start = time.perf_counter()
    st = setup(argv)
    args = st.args
    costs = CostOverrides(
        fee_bps=args.fee_bps,
        slippage_bps=args.slippage_bps,
        funding=False if args.no_funding else None,
        fill=args.fill,
    )
    print(
        f"walk-forward {args.algo} on {args.env} [{st.start}, {st.end}): {len(st.plans)} folds "
        f"-> {st.out}",
        file=sys.stderr,
    )
    wf = run_walkforward(
        st.data,
        st.plans,
        args.algo,
        st.out,
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
    record_walkforward(args, wf, st.data.periods_per_year, st.out)
    rows = fold_rows(wf, st.data)
    command = " ".join(["python -m evaluate.walkforward", *argv])
    context = report_context(st, wf, rows, command, time.perf_counter() - t_start)
    write_outputs(st, wf, rows, context)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main, (DataValidationError,)))
