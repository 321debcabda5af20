"""``python -m evaluate.walkforward``: every method, fold and seed retrained and tested out of
sample, stitched per seed, compared with the baselines on the same blocks.

    python -m evaluate.walkforward --env btc1h --methods ppo sac supervised trees
        --seeds 0 1 2 --folds 6 [--workers N] [--address ADDR] [--train-span 3y] [--run-dir DIR]

Reads top to bottom: parse and check -> run folder (new, or resumed with ``--run-dir``) ->
which configuration each method trains with (``learners.method_settings``: PPO/SAC the main
job's, from ``agents/configs/<algo>.yml``) -> fold plans (anchored, or rolling with
``--train-span``; purge and embargo, ``backtest.folds``) -> every (method, fold,
seed) as one engine task (``grid.run_grid``; finished tasks of a resumed run are skipped) ->
baselines on the same test blocks -> stitch and aggregate (``verdict``) -> the terminal's
verdict, summary.json, methods.csv, folds.csv and report.html.

Span: by default the folds cover the market's whole train+val+test period; ``--start``/``--end``
(UTC dates, ``[start, end)``) choose another. The test blocks tile the end of the span, so later
folds train on the preset's val and test splits: a walk-forward is its own experiment.
``--end 2024-01-01`` keeps the fixed test split out. Inside every fold only the fold's val rows
select anything; its test rows are seen once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from backtest.baseline_table import params_label
from backtest.cpcv import cpcv_plans, n_paths
from backtest.fold_backtest import eval_options
from backtest.folds import FoldPlan, WFData, plan_folds
from backtest.runner import CostOverrides
from envs.data import DataValidationError
from envs.marketspec import market_dirname, market_record
from envs.presets import get_preset
from evaluate.walkforward.args import WalkForwardConfig, build_parser, config_from_args
from evaluate.walkforward.baselines import fold_baselines, record_fold_choices
from evaluate.walkforward.checks import check_walkforward, min_train_bars
from evaluate.walkforward.context import MethodSettings, jsonable
from evaluate.walkforward.grid import GridResult, GridSpec, run_grid
from evaluate.walkforward.html import write_report
from evaluate.walkforward.learn_rl import RL_ALGOS
from evaluate.walkforward.learners import method_settings
from evaluate.walkforward.overfitting import WFOverfitting, walkforward_overfitting
from evaluate.walkforward.tables import (
    baseline_line,
    format_fold_table,
    headline,
    method_rows,
    method_sentence,
    write_csv,
)
from evaluate.walkforward.verdict import Verdict, build_verdict, cost_rates
from lab.cli import run_cli
from lab.config import ConfigError
from lab.outputs import check_output_dir
from lab.rundir import preset_files, track_unfinished, write_provenance

REPO_ROOT = Path(__file__).resolve().parents[2]
# settings that may change between a run and its resumption (how, not what, is computed)
NOT_IDENTITY = ("workers", "address", "out", "run_dir", "n_boot", "bootstrap_seed", "no_plots")
PROG = "python -m evaluate.walkforward"


@dataclass
class Setup:
    """A checked command: settings, run folder, data, span, fold plans, method settings."""

    args: WalkForwardConfig
    out: Path
    data: WFData
    start: str
    end: str
    plans: list[FoldPlan]
    settings: dict[str, MethodSettings]
    resumed: bool


def identity(args: WalkForwardConfig) -> dict[str, str]:
    """What a resumed run must share with the run it continues (as strings)."""
    return {k: str(v) for k, v in dataclasses.asdict(args).items() if k not in NOT_IDENTITY}


def run_folder(args: WalkForwardConfig) -> tuple[Path, bool]:
    """(folder, resumed): ``--run-dir`` holding an earlier run of the same settings is resumed;
    else a new or empty folder (``--out``, ``--run-dir`` or the default) is started."""
    if args.run_dir is not None and (args.run_dir / "config.yaml").is_file():
        saved = (yaml.safe_load((args.run_dir / "config.yaml").read_text()) or {}).get("identity")
        if not isinstance(saved, dict):
            raise ConfigError(f"--run-dir {args.run_dir}: not a walk-forward run folder")
        for k, v in identity(args).items():
            if saved.get(k) != v:
                raise ConfigError(
                    f"--run-dir {args.run_dir} was started with --{k.replace('_', '-')} "
                    f"{saved.get(k)}, this command gives {v}; rerun with the same settings "
                    "or a new --run-dir"
                )
        return args.run_dir, True
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    default = REPO_ROOT / "runs" / market_dirname(args.env) / "walkforward"
    out = args.out or args.run_dir or default / f"{stamp}_{'-'.join(args.methods)}"
    check_output_dir(out, "--run-dir" if args.run_dir else "--out")
    return out, False


def make_plans(args: WalkForwardConfig, data: WFData, freq: str) -> tuple[str, str, list[FoldPlan]]:
    """The span and the fold plans (one line naming the flags when they do not fit)."""
    if args.min_train is not None:  # a span of time, in this market's bars
        args.min_train_bars = min_train_bars(args.min_train, freq)
    info = min_train_bars(args.train_span, freq, "--train-span") if args.train_span else None
    p = get_preset(args.env)
    start = args.start or p.splits["train"][0]
    end = args.end or p.splits["test"][1]
    try:
        if args.cv == "cpcv":
            plans = cpcv_plans(
                data.span(start, end), int(args.groups or 0), int(args.test_groups or 0),
                val_bars=args.val_bars, purge_bars=args.purge_bars,
                embargo_bars=args.embargo_bars,
            )  # fmt: skip
            return start, end, plans
        plans = plan_folds(
            data.span(start, end), int(args.folds or 0), val_bars=args.val_bars,
            purge_bars=args.purge_bars, embargo_bars=args.embargo_bars,
            test_bars=args.test_bars, min_train_bars=args.min_train_bars, info_bars=info,
        )  # fmt: skip
    except ValueError as err:
        raise SystemExit(f"{PROG}: error: {err}") from None
    return start, end, plans


def setup(argv: list[str]) -> Setup:
    """Parse and check every input, then write the provenance (a refused command leaves none)."""
    args = config_from_args(build_parser().parse_args(argv))
    check_walkforward(args)
    out, resumed = run_folder(args)
    preset = get_preset(args.env)
    settings = {
        m: method_settings(
            m,
            args.env,
            config=args.config,
            feature_set=args.feature_set,
            window=args.window,
            timesteps=args.timesteps,
        )  # fmt: skip
        for m in args.methods
    }
    data = WFData.from_preset(args.env, args.feature_set or "core17")  # plans and baselines
    start, end, plans = make_plans(args, data, preset.freq)
    if not resumed:
        track_unfinished(out)  # failed before any task finished: no orphan folder
        write_provenance(
            out,
            seed=args.seeds[0],
            config={
                **dataclasses.asdict(args),
                "identity": identity(args),
                "methods_settings": {m: s.describe() for m, s in settings.items()},
            },
            data_files=preset_files(preset),
            argv=["-m", "evaluate.walkforward", *argv],
            meta={"market": market_record(args.env)},  # spec, bar, splits, sha256 of every file
        )
    return Setup(args, out, data, start, end, plans, settings, resumed)


def grid_spec(st: Setup, options: dict[str, Any], argv: list[str]) -> GridSpec:
    """The task grid of a checked command."""
    a = st.args
    common: dict[str, Any] = {"argv": ["-m", "evaluate.walkforward", *argv]}
    rl = {"timesteps": a.timesteps, "config": a.config}
    per_method: dict[str, dict[str, Any]] = {
        **{m: rl for m in RL_ALGOS},
        "supervised": {"epochs": a.epochs, "max_train_samples": a.max_train_samples},
        "trees": {"max_train_samples": a.max_train_samples, "config": a.config},
    }
    train_kwargs = {m: {**common, **per_method.get(m, {})} for m in a.methods}
    ledger_cfg = {k: v for k, v in identity(a).items() if k not in ("seeds", "methods")}
    return GridSpec(
        a.env, st.settings, st.plans, list(a.seeds), options, train_kwargs, st.out,
        st.data.periods_per_year, ledger_cfg,
    )  # fmt: skip


def context(st: Setup, grid: GridResult, command: str, wall_s: float) -> dict[str, Any]:
    """The report's setting table: span, folds, windows, costs, timing (no raw config dump)."""
    a, p0 = st.args, st.plans[0]
    return {
        "env": a.env,
        "span": f"{st.start} .. {st.end}",
        "folds": len(st.plans),
        "splitter": (
            f"CPCV, {a.groups} groups, {a.test_groups} test groups per split: "
            f"{len(st.plans)} splits, {n_paths(int(a.groups or 0), int(a.test_groups or 0))} paths"
            if a.cv == "cpcv"
            else "walk-forward"
        ),
        "windows": f"rolling, {a.train_span} per fold" if a.train_span else "anchored (expanding)",
        "seeds": " ".join(map(str, a.seeds)),
        "val bars per fold": a.val_bars,
        "test bars per fold": p0.test[1] - p0.test[0],
        "purge / embargo bars": f"{a.purge_bars} / {a.embargo_bars}",
        "tasks": f"{grid.n_run} run now, {grid.n_resumed} resumed, {len(grid.failures)} failed",
        "wall time": f"{wall_s:.0f} s on {a.workers} worker(s)",
        "throughput": grid.throughput(),
        "command": command,
    }


def write_outputs(
    st: Setup, v: Verdict, grid: GridResult, ctx: dict[str, Any], ovf: WFOverfitting
) -> None:
    """Print the verdict and the tables; write summary.json, methods.csv, folds.csv, report.html."""
    out, n_folds = st.out, len(st.plans)
    rows = method_rows(v)
    print(headline(v))
    for r in v.methods.values():
        print(method_sentence(r, n_folds, v))
        print(f"  config: {r.settings.describe()}")
    print(baseline_line(v))
    for line in ovf.sentences():
        print(line)
    print()
    print(format_fold_table(v.fold_rows))
    write_csv(rows, out / "methods.csv")
    write_csv(v.fold_rows, out / "folds.csv")
    failures = {"/".join(map(str, k)): e for k, e in grid.failures.items()}
    summary = {"context": ctx, "headline": headline(v), "methods": rows, "folds": v.fold_rows,
               "baseline_sharpes": v.baseline_sharpes,
               "baseline_costs": {b: cost_rates(bt) for b, bt in v.baselines.items()},
               "failures": failures,
               "overfitting": ovf.to_dict()}  # fmt: skip
    (out / "summary.json").write_text(json.dumps(jsonable(summary), indent=2))
    write_report(
        out / "report.html", v, rows, ctx, charts=not st.args.no_plots,
        overfitting=ovf.sentences(),
    )  # fmt: skip
    print(f"\n{ctx['tasks']}; {ctx['throughput']}")
    print(f"wrote {out}/report.html, summary.json, methods.csv, folds.csv")


def main(argv: list[str] | None = None) -> int:
    """Check, run every task (resuming), stitch, aggregate, report; 0 when every task finished."""
    argv = sys.argv[1:] if argv is None else list(argv)
    t0 = time.perf_counter()
    st = setup(argv)
    a = st.args
    options = eval_options(
        CostOverrides(
            fee_bps=a.fee_bps,
            slippage_bps=a.slippage_bps,
            funding=False if a.no_funding else None,
            fill=a.fill,
        )  # fmt: skip
    )
    n_tasks = len(a.methods) * len(st.plans) * len(a.seeds)
    print(
        f"walk-forward {' '.join(a.methods)} on {a.env} [{st.start}, {st.end}): {len(st.plans)} "
        f"folds x {len(a.seeds)} seeds = {n_tasks} tasks -> {st.out}",
        file=sys.stderr,
    )
    for s in st.settings.values():
        print(f"  {s.describe()}", file=sys.stderr)
    grid = run_grid(grid_spec(st, options, argv), a.workers, a.address)
    if not grid.outcomes:
        first = next(iter(grid.failures.items()), None)
        reason = f"{'/'.join(map(str, first[0]))}: {first[1]}" if first else "no task ran"
        raise SystemExit(f"{PROG}: error: every task failed; first: {reason}")
    per_fold = [fold_baselines(st.data, p, options) for p in st.plans]
    for p, fb in zip(st.plans, per_fold, strict=True):
        record_fold_choices(a.env, p, fb, options, st.data.index)
    baselines = [fb.backtests for fb in per_fold]
    v = build_verdict(
        st.settings, grid, st.plans, list(a.seeds), baselines, st.data.index,
        n_configs=a.n_configs, n_boot=a.n_boot, bootstrap_seed=a.bootstrap_seed,
        baseline_groups=[fb.group_tests for fb in per_fold] if a.cv == "cpcv" else None,
    )  # fmt: skip
    command = " ".join([PROG, *argv])
    ctx = context(st, grid, command, time.perf_counter() - t0)
    for p, fb in zip(st.plans, per_fold, strict=True):  # what each fold chose on its val rows
        ctx[f"fold {p.index} baselines chosen on val"] = ", ".join(
            params_label(c.name, c.params) for c in fb.choices
        )
    ovf = walkforward_overfitting(v, grid, reps=a.n_boot, seed=a.bootstrap_seed)
    write_outputs(st, v, grid, ctx, ovf)
    if grid.failures:
        print(f"{len(grid.failures)} task(s) failed; rerun with --run-dir {st.out} to retry them")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main, (DataValidationError,)))
