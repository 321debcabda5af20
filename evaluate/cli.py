"""``python -m evaluate``: head-to-head of baselines and trained policies on one split.

Reads top to bottom: parse -> output folder -> policies -> backtests (same env, same costs) ->
statistics -> table, metrics.json, metrics.csv, PNG charts, report.html.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import time
from pathlib import Path

from agents.loading import load_run
from backtest.baselines import PolicySpec, baseline
from backtest.oracles import oracle_specs
from backtest.record import Backtest
from backtest.runner import CostOverrides, run_policy
from envs.presets import PRESETS, get_preset
from evaluate.arg_checks import check_numbers, check_split
from evaluate.ensemble import RULES, build_ensemble
from evaluate.groups import GroupError, RunRef, expand_runs
from evaluate.headtohead import compare
from evaluate.ledger_trials import ledger_trials
from evaluate.plots import write_plots
from evaluate.report import SELECTION_NOTE, format_table, write_csv, write_json
from evaluate.report_html import split_close, write_report_html
from evaluate.seeds import (
    chosen_trials,
    counted_trials,
    format_seed_table,
    seed_summaries,
    summaries_json,
    verdicts,
)
from lab.config import check_choice
from lab.outputs import check_output_dir
from lab.rundir import preset_files, track_unfinished, write_provenance

REPO_ROOT = Path(__file__).resolve().parent.parent

DESCRIPTION = f"""Evaluate policies head to head on one split of a preset, over the WHOLE split,
every policy stepping the same env with the same costs. Baselines (buy_and_hold, flat, random,
momentum) are always included; on a synthetic preset (synth-*) also oracle_hidden and
oracle_filter (envs.synthetic). {SELECTION_NOTE} --ensemble RULE adds one policy
ensemble_RULE over all the given runs (voting: plurality of the members' positions, a tie is
flat; confidence: argmax of the mean SELL/HOLD/BUY probabilities, discrete PPO and supervised
members only; disagreement: trade only when every member agrees, else flat; a continuous SAC
member votes with the sign of its exposure; see evaluate.ensemble). An ensemble counts as one
more trial in the deflated Sharpe; pick its rule on val, like any other choice.
Seeds: LABEL=GROUP (a seed group folder with group.json), LABEL=RUN1,RUN2,... or one LABEL repeated
are seeds of one method, reduced to the IQM of their Sharpes with a stratified bootstrap CI, the
probability of beating buy-and-hold (and the supervised entry), median, worst and collapsed
seeds (a seed that stayed flat counts as Sharpe 0); seeds that failed to train are listed.
Walk-forward retraining is a separate command: python -m evaluate.walkforward --help.
Outputs: a table on stdout and metrics.json, metrics.csv, equity/drawdown/rolling-Sharpe/position
PNGs and one self-contained report.html (verdicts, interactive charts, every metric)."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m evaluate", description=DESCRIPTION)
    p.add_argument(
        "runs",
        nargs="*",
        metavar="RUN_OR_CKPT",
        help="SB3 run folder or .zip, or supervised model.pt / folder, or a seed group folder "
        "(group.json: every seed); LABEL=PATH names it (the same LABEL on several paths, or "
        "LABEL=PATH1,PATH2,... = seeds of one method)",
    )
    p.add_argument("--env", default="btc1h", help="preset name (default btc1h)")
    p.add_argument(
        "--split",
        default="test",
        help="split to evaluate: train | val | test (default test). Compare and select "
        "on val; run test once, on the final choice",
    )
    p.add_argument(
        "--ensemble",
        action="append",
        choices=RULES,
        default=[],
        metavar="RULE",
        help=f"add ensemble_RULE over every RUN_OR_CKPT given (at least 2); RULE: "
        f"{' | '.join(RULES)}; repeat the flag for several rules",
    )
    p.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0],
        help="seeds of the random baseline (several: mean and t-CI)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default runs/<env>/evaluate/<UTC timestamp>/)",
    )
    p.add_argument("--fee-bps", type=float, default=None, help="fee per unit notional traded, bps")
    p.add_argument(
        "--slippage-bps", type=float, default=None, help="slippage per unit notional, bps"
    )
    p.add_argument("--no-funding", action="store_true", help="do not charge perpetual funding")
    p.add_argument(
        "--fill",
        choices=["next_open", "close"],
        default=None,
        help="fill convention (default: the env's, next_open)",
    )
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument(
        "--bootstrap-seed", type=int, default=0, help="seed of the bootstrap (default 0)"
    )
    p.add_argument(
        "--block-length",
        type=float,
        default=None,
        help="mean bootstrap block length in bars (default round(N ** (1/3)))",
    )
    p.add_argument(
        "--n-trials",
        type=int,
        default=None,
        help="trials behind the selection, for the deflated Sharpe (default: the number "
        "of non-baseline policies given)",
    )
    p.add_argument(
        "--trials-sharpe-var",
        type=float,
        default=None,
        help="variance of the trials' ANNUALISED Sharpes (default: of the given policies)",
    )
    p.add_argument(
        "--no-plots", action="store_true", help="skip the PNGs (the HTML then has no charts)"
    )
    return p


def _specs(args: argparse.Namespace, runs: list[RunRef] | None = None) -> list[PolicySpec]:
    """Baselines, then every run (``runs``: ``args.runs`` with seed groups expanded), then the
    ensembles over them."""
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
        spec = load_run(ref.path, ref.label)
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


def resolve_costs(args: argparse.Namespace, specs: list[PolicySpec]) -> CostOverrides:
    """One set of costs for every policy: flags, else what all given runs were trained with,
    else the env's defaults. Runs trained with different costs need an explicit flag."""
    flags = {
        "fee_bps": args.fee_bps,
        "slippage_bps": args.slippage_bps,
        "funding": False if args.no_funding else None,
    }
    chosen: dict[str, object] = {}
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_choice("--env", args.env, PRESETS)
    check_numbers(args)
    check_split(args.split, get_preset(args.env).splits)
    t0 = time.perf_counter()
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    out = args.out or REPO_ROOT / "runs" / args.env / "evaluate" / stamp
    check_output_dir(out, "--out")  # a new or empty folder only: nothing is overwritten
    try:
        expanded = expand_runs(args.runs)
    except GroupError as err:
        print(f"python -m evaluate: error: {err}", file=sys.stderr)
        return 2
    specs = _specs(args, expanded.runs)  # every input checked before the output folder exists
    costs = resolve_costs(args, specs)
    try:  # the market's trial ledger sets the deflated Sharpe's trials; flags override
        ledger, ledger_info = ledger_trials(args.env, len(dict.fromkeys(args.ensemble)))
    except ValueError as err:
        raise SystemExit(f"python -m evaluate: error: {err}") from None
    track_unfinished(out)  # failed or interrupted: no orphan folder
    write_provenance(  # the same command/config/meta.json as every run folder
        out,
        seed=args.bootstrap_seed,
        config=vars(args),
        data_files=preset_files(get_preset(args.env)),
        argv=["-m", "evaluate", *(sys.argv[1:] if argv is None else argv)],
    )
    backtests: list[Backtest] = []
    for spec in specs:
        t = time.perf_counter()
        bt = run_policy(spec, args.env, args.split, seed=spec.seed or 0, costs=costs)
        backtests.append(bt)
        print(
            f"  {spec.name:<24} {len(bt):>6} bars  {time.perf_counter() - t:6.1f} s",
            file=sys.stderr,
        )
    chosen = chosen_trials(args.n_trials, args.trials_sharpe_var, ledger=ledger)
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
    trials = counted_trials(cmp, chosen)
    summaries = seed_summaries(cmp, n_boot=args.n_boot, seed=args.bootstrap_seed)
    verdict_text = verdicts(cmp, summaries, trials, expanded.failures)
    first = backtests[0]
    context = {
        "env": args.env,
        "split": args.split,
        "bars": len(first),
        "from": str(first.timestamps[0].astype("datetime64[ns]")) if len(first) else "",
        "to": str(first.timestamps[-1].astype("datetime64[ns]")) if len(first) else "",
        "segments": int(len(first.segment_starts)),
        "costs": first.meta.get("env_settings", {}),
        "sources": {s.name: s.source for s in specs if s.source},
        "command": " ".join(["python -m evaluate", *(argv if argv is not None else sys.argv[1:])]),
    }
    context["seed_groups"] = expanded.groups
    print(format_table(cmp))
    print(format_seed_table(summaries, trials, expanded.failures))
    print("\n".join(verdict_text.values()))
    extra = summaries_json(summaries, verdict_text, trials, expanded.failures)
    extra["ledger"] = ledger_info
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
