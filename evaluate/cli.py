"""``python -m evaluate``: head-to-head of baselines and trained policies on one split.

Reads top to bottom: parse -> output folder -> policies -> backtests (same env, same costs) ->
statistics -> table, metrics.json, metrics.csv, PNG charts, report.html.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import math
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from agents.acting.loading import load_run
from agents.acting.safe_load import ModelLoadError, cli_exit
from backtest.baseline_select import add_trend_baselines
from backtest.baselines import PolicySpec, baseline
from backtest.ensemble import build_ensemble
from backtest.oracles import oracle_specs
from backtest.overfit_ledger import ledger_overfitting
from backtest.record import Backtest
from backtest.runner import CostOverrides, run_policy
from envs.marketspec import market_dirname, market_record
from envs.presets import get_preset
from evaluate import eval_config
from evaluate.arg_checks import check_numbers, check_split
from evaluate.eval_config import EvalConfig, config_from_args
from evaluate.groups import GroupError, RunRef, expand_runs
from evaluate.headtohead import compare
from evaluate.ledger_trials import selection_trials
from evaluate.newdata import check_runs_on_market
from evaluate.plots import write_plots
from evaluate.report import SELECTION_NOTE, format_table, write_csv, write_json
from evaluate.report_html import split_close, write_report_html
from evaluate.report_setting import cost_settings, run_settings
from evaluate.seeds import (
    chosen_trials,
    counted_trials,
    format_seed_table,
    seed_summaries,
    summaries_json,
    verdicts,
)
from evaluate.stress import print_stress, run_stress
from lab.config import ConfigError
from lab.outputs import check_output_dir
from lab.rundir import preset_files, track_unfinished, write_provenance

REPO_ROOT = Path(__file__).resolve().parent.parent

DESCRIPTION = f"""Evaluate policies head to head on one split of a preset, over the WHOLE split,
every policy stepping the same env with the same costs. Baselines (buy_and_hold, flat, random,
momentum, and the known edges tsmom_long_flat, tsmom_long_short, trend_ensemble, vol_target, each
deciding once a day with its lookback chosen on val, every grid point a trial in the ledger:
backtest.baseline_table) are always included; on a synthetic preset (synth-*) also oracle_hidden and
oracle_filter (envs.synthetic). {SELECTION_NOTE} --ensemble RULE adds one policy
ensemble_RULE over all the given runs (voting: plurality of the members' positions, a tie is
flat; confidence: argmax of the mean SELL/HOLD/BUY probabilities, discrete PPO and supervised
members only; disagreement: trade only when every member agrees, else flat; a continuous SAC
member votes with the sign of its exposure; see backtest.ensemble). An ensemble counts as one
more trial in the deflated Sharpe; pick its rule on val, like any other choice.
Seeds: LABEL=GROUP (a seed group folder with group.json), LABEL=RUN1,RUN2,... or one LABEL repeated
are seeds of one method, reduced to the IQM of their Sharpes with a stratified bootstrap CI, the
probability of beating buy-and-hold (and the supervised entry), median, worst and collapsed
seeds (one position held throughout, named: always long = identical to buy-and-hold, always
short, always flat = Sharpe 0); seeds that failed to train are listed. Each method's verdict
states its Sharpe against buy-and-hold's and the deflated Sharpe against its 0.95 threshold.
Walk-forward retraining is a separate command: python -m evaluate.walkforward --help.
Outputs: a table on stdout and metrics.json, metrics.csv, equity/drawdown/rolling-Sharpe/position
PNGs and one self-contained report.html (verdicts, interactive charts, every metric)."""


def build_parser() -> argparse.ArgumentParser:
    """The parser: one flag per ``EvalConfig`` field (``evaluate.eval_config``)."""
    return eval_config.build_parser(DESCRIPTION)


def _specs(
    args: EvalConfig | argparse.Namespace, runs: list[RunRef] | None = None
) -> list[PolicySpec]:
    """Baselines, then every run (``runs``: ``args.runs`` with seed groups expanded), then the
    ensembles over them."""
    if isinstance(args, argparse.Namespace):
        args = config_from_args(args)
    runs = expand_runs(args.runs).runs if runs is None else runs
    specs = [
        PolicySpec("buy_and_hold", "buy_and_hold", baseline("buy_and_hold")),
        PolicySpec("flat", "flat", baseline("flat")),
    ]
    for s in args.seeds:
        name = "random" if len(args.seeds) == 1 else f"random_s{s}"
        specs.append(PolicySpec(name, "random", baseline("random", s), seed=s))
    specs.append(PolicySpec("momentum", "momentum", baseline("momentum")))
    specs += oracle_specs(args.env)  # synthetic presets: the two oracle baselines
    members = []
    for ref in runs:
        try:
            spec = load_run(ref.path, ref.label)
        except ModelLoadError as err:  # corrupt, crafted or diverged model file: one line, exit 2
            raise cli_exit("python -m evaluate", err) from None
        if ref.seed is not None:  # a seed group's seed is authoritative
            spec.seed, spec.name = ref.seed, f"{spec.method}_s{ref.seed}"
        members.append(spec)
    specs += members
    for rule in dict.fromkeys(args.ensemble):
        try:
            specs.append(build_ensemble(rule, members))
        except (ValueError, TypeError) as err:
            raise SystemExit(f"python -m evaluate: error: {err}") from None
    names = [s.name for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SystemExit(
            f"duplicate policy names {dup}: give each run a distinct LABEL=PATH "
            "(runs of one method need distinct seeds)"
        )
    return specs


def resolve_costs(args: EvalConfig, specs: list[PolicySpec]) -> CostOverrides:
    """One set of costs for every policy: flags, else what all given runs were trained with,
    else the env's defaults. Runs trained with different costs need an explicit flag."""
    flags = {
        "fee_bps": args.fee_bps,
        "slippage_bps": args.slippage_bps,
        "funding": False if args.no_funding else None,
    }
    chosen: dict[str, Any] = {}
    for key, flag in flags.items():
        if flag is not None:
            chosen[key] = flag
            continue
        seen = {(s.name, s.trained_costs[key]) for s in specs if key in s.trained_costs}
        values = {v for _, v in seen}
        if len(values) > 1:
            raise SystemExit(
                f"the runs were trained with different {key}: {sorted(seen)}; "
                f"pass --{key.replace('_', '-')} so every policy pays the same costs"
            )
        if values:
            chosen[key] = values.pop()
    return CostOverrides(
        fee_bps=chosen.get("fee_bps"),
        slippage_bps=chosen.get("slippage_bps"),
        funding=chosen.get("funding"),
        fill=args.fill,
    )


def run_backtests(
    specs: list[PolicySpec], args: EvalConfig, costs: CostOverrides
) -> list[Backtest]:
    """Every policy over the split with the same costs; one timing line each on stderr."""
    backtests: list[Backtest] = []
    for spec in specs:
        t = time.perf_counter()
        bt = run_policy(spec, args.env, args.split, seed=spec.seed or 0, costs=costs)
        backtests.append(bt)
        print(
            f"  {spec.name:<24} {len(bt):>6} bars  {time.perf_counter() - t:6.1f} s",
            file=sys.stderr,
        )
    return backtests


def report_context(
    args: EvalConfig, first: Backtest, specs: list[PolicySpec], argv: list[str] | None
) -> dict[str, object]:
    """The report's context: split, bars, costs, sources and the command."""
    return {
        "env": args.env,
        "split": args.split,
        "bars": len(first),
        "from": str(first.timestamps[0].astype("datetime64[ns]")) if len(first) else "",
        "to": str(first.timestamps[-1].astype("datetime64[ns]")) if len(first) else "",
        "segments": int(len(first.segment_starts)),
        "costs": cost_settings(first.meta.get("env_settings", {})),
        "runs": run_settings(specs),
        "sources": {s.name: s.source for s in specs if s.source},
        "command": " ".join(["python -m evaluate", *(argv if argv is not None else sys.argv[1:])]),
    }


def period_label(context: dict[str, object]) -> str:
    """``test 2024-01-01 to 2024-12-31``: the split (or window) and its first and last bar's
    dates, for the verdicts."""
    days = [str(context.get(k) or "")[:10] for k in ("from", "to")]
    split = str(context.get("split", ""))
    return f"{split} {days[0]} to {days[1]}" if all(days) else split


def compare_counted(
    backtests: list[Backtest], args: EvalConfig, ledger: Any = None
) -> tuple[Any, Any]:
    """The head-to-head statistics, deflated over the trials chosen (ledger; flags override)."""
    chosen = chosen_trials(args.n_trials, args.trials_sharpe_var, ledger=ledger)
    n_bars = len(backtests[0]) if backtests else 0
    if args.block_length is not None and args.block_length > n_bars:  # one block = no bootstrap
        raise ConfigError(
            f"--block-length {args.block_length:g} is longer than the {n_bars} bars evaluated; "
            f"give at most {n_bars} (or drop it: the length is then chosen from the data)"
        )
    cmp = compare(
        backtests,
        n_boot=args.n_boot,
        seed=args.bootstrap_seed,
        block_length=args.block_length,
        n_trials=chosen.n if chosen and chosen.n > 0 else None,
        trials_sharpe_var=chosen.sharpe_var / backtests[0].periods_per_year
        if chosen and math.isfinite(chosen.sharpe_var)
        else None,
    )
    return cmp, counted_trials(cmp, chosen)


def evaluate_under(
    specs: list[PolicySpec],
    costs: CostOverrides,
    *,
    args: EvalConfig,
    ledger: Any,
    failures: dict[str, dict[int, str]],
) -> tuple[Any, dict[str, str]]:
    """One more comparison of ``specs`` at ``costs`` and its verdict lines (``--stress``)."""
    cmp, trials = compare_counted(run_backtests(specs, args, costs), args, ledger)
    summaries = seed_summaries(cmp, n_boot=args.n_boot, seed=args.bootstrap_seed)
    return cmp, verdicts(cmp, summaries, trials, failures)


def main(argv: list[str] | None = None) -> int:
    """Check every input, backtest every policy, print the tables, write the report; 0 or 2."""
    args = config_from_args(build_parser().parse_args(argv))  # --env: the market's key
    check_numbers(args)
    check_split(args.split, get_preset(args.env).splits)
    t0 = time.perf_counter()
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    out = args.out or REPO_ROOT / "runs" / market_dirname(args.env) / "evaluate" / stamp
    check_output_dir(out, "--out")  # a new or empty folder only: nothing is overwritten
    try:
        expanded = expand_runs(args.runs)
    except GroupError as err:
        print(f"python -m evaluate: error: {err}", file=sys.stderr)
        return 2
    specs = _specs(args, expanded.runs)  # every input checked before the output folder exists
    check_runs_on_market(specs, args.env)  # bar size and feature columns of every run
    costs = resolve_costs(args, specs)
    try:  # the market's trial ledger sets the deflated Sharpe's trials; flags override
        # the known edges, chosen on val: their grid points count now, reach the ledger on success
        specs, pending = add_trend_baselines(specs, args.env, costs, record=False)
        n_ens = len(dict.fromkeys(args.ensemble))
        ledger, ledger_info = selection_trials(args.env, specs, n_ens, pending.records)
    except ValueError as err:
        raise SystemExit(f"python -m evaluate: error: {err}") from None
    track_unfinished(out)  # failed or interrupted: no orphan folder
    write_provenance(  # the same command/config/meta.json as every run folder
        out,
        seed=args.bootstrap_seed,
        config=dataclasses.asdict(args),
        data_files=preset_files(get_preset(args.env)),
        argv=["-m", "evaluate", *(sys.argv[1:] if argv is None else argv)],
        meta={"market": market_record(args.env)},  # spec, bar, splits (window), sha256 of files
    )
    backtests = run_backtests(specs, args, costs)
    cmp, trials = compare_counted(backtests, args, ledger)
    summaries = seed_summaries(cmp, n_boot=args.n_boot, seed=args.bootstrap_seed)
    first = backtests[0]
    context = report_context(args, first, specs, argv)
    verdict_text = verdicts(cmp, summaries, trials, expanded.failures, period_label(context))
    context["seed_groups"] = expanded.groups
    print(format_table(cmp))
    print(format_seed_table(summaries, trials, expanded.failures))
    print("\n".join(verdict_text.values()))
    extra = summaries_json(summaries, verdict_text, trials, expanded.failures)
    extra["ledger"] = ledger_info
    pending.commit()  # the comparison stands: the baselines' val trials join the ledger
    # PBO and SPA over every trial of the ledger that kept its val returns (backtest.overfit_ledger)
    overfit = ledger_overfitting(
        args.env, costs=costs, reps=min(args.n_boot, 500), seed=args.bootstrap_seed
    )
    print("\n".join(overfit.sentences()))
    extra["overfitting"] = overfit.to_dict()
    if args.stress:  # the same policies at double costs and with late fills, side by side
        once = partial(evaluate_under, args=args, ledger=ledger, failures=expanded.failures)
        extra["stress"] = print_stress(cmp, *run_stress(specs, costs, once))
    write_json(cmp, out / "metrics.json", context, extra)
    write_csv(cmp, out / "metrics.csv")
    plots = {} if args.no_plots else write_plots(backtests, out)
    write_report_html(
        out / "report.html",
        cmp,
        backtests,
        summaries,
        verdict_text,
        trials,
        context,
        price=split_close(args.env, first),
        failures=expanded.failures,
    )
    print(
        f"\nwrote {out}/metrics.json, metrics.csv, report.html"
        f"{', ' + str(len(plots)) + ' PNGs' if plots else ''} in {time.perf_counter() - t0:.1f} s"
    )
    return 0
