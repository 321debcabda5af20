"""``python -m evaluate``: head-to-head of baselines and trained policies on one split.

Reads top to bottom: parse -> output folder -> policies -> backtests (same env, same costs) ->
statistics -> table, metrics.json, metrics.csv, PNG charts, report.html.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

from agents.safe_load import ModelLoadError, cli_exit
from evaluate.backtest import Backtest
from evaluate.compare import compare
from evaluate.ensemble import RULES, build_ensemble
from evaluate.plots import write_plots
from evaluate.policies import PolicySpec, baseline, load_run
from evaluate.report import SELECTION_NOTE, format_table, write_csv, write_html, write_json
from evaluate.runner import CostOverrides, run_policy

REPO_ROOT = Path(__file__).resolve().parent.parent

DESCRIPTION = f"""Evaluate policies head to head on one split of a preset, over the WHOLE split,
every policy stepping the same env with the same costs. Baselines (buy_and_hold, flat, random,
momentum) are always included. {SELECTION_NOTE} --ensemble RULE adds one policy
ensemble_RULE over all the given runs (voting: plurality of the members' positions, a tie is
flat; confidence: argmax of the mean SELL/HOLD/BUY probabilities, discrete PPO and supervised
members only; disagreement: trade only when every member agrees, else flat; a continuous SAC
member votes with the sign of its exposure; see evaluate.ensemble). An ensemble counts as one
more trial in the deflated Sharpe; pick its rule on val, like any other choice.
Walk-forward retraining is a separate command: python -m evaluate.walkforward --help.
Outputs: a table on stdout and metrics.json, metrics.csv, equity/drawdown/rolling-Sharpe/position
PNGs and one self-contained report.html."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m evaluate", description=DESCRIPTION)
    p.add_argument(
        "runs",
        nargs="*",
        metavar="RUN_OR_CKPT",
        help="SB3 run folder or .zip, or supervised model.pt / folder; LABEL=PATH names "
        "it (the same LABEL on several paths = seeds of one method)",
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


def _specs(args: argparse.Namespace) -> list[PolicySpec]:
    specs = [
        PolicySpec("buy_and_hold", "buy_and_hold", baseline("buy_and_hold")),
        PolicySpec("flat", "flat", baseline("flat")),
    ]
    for s in args.seeds:
        name = "random" if len(args.seeds) == 1 else f"random_s{s}"
        specs.append(PolicySpec(name, "random", baseline("random", s), seed=s))
    specs.append(PolicySpec("momentum", "momentum", baseline("momentum")))
    members = []
    for item in args.runs:
        label, _, path = item.rpartition("=") if "=" in item else (None, "", item)
        try:
            members.append(load_run(path, label or None))
        except ModelLoadError as err:  # corrupt, crafted or diverged model file: one line, exit 2
            raise cli_exit("python -m evaluate", err) from None
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
    t0 = time.perf_counter()
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    out = args.out or REPO_ROOT / "runs" / args.env / "evaluate" / stamp
    out.mkdir(parents=True, exist_ok=True)
    specs = _specs(args)
    costs = resolve_costs(args, specs)
    backtests: list[Backtest] = []
    for spec in specs:
        t = time.perf_counter()
        bt = run_policy(spec, args.env, args.split, seed=spec.seed or 0, costs=costs)
        backtests.append(bt)
        print(
            f"  {spec.name:<24} {len(bt):>6} bars  {time.perf_counter() - t:6.1f} s",
            file=sys.stderr,
        )
    cmp = compare(
        backtests,
        n_boot=args.n_boot,
        seed=args.bootstrap_seed,
        block_length=args.block_length,
        n_trials=args.n_trials,
        trials_sharpe_var=None
        if args.trials_sharpe_var is None
        else args.trials_sharpe_var / backtests[0].periods_per_year,
    )
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
    print(format_table(cmp))
    write_json(cmp, out / "metrics.json", context)
    write_csv(cmp, out / "metrics.csv")
    plots = {} if args.no_plots else write_plots(backtests, out)
    write_html(cmp, out / "report.html", plots, context)
    print(
        f"\nwrote {out}/metrics.json, metrics.csv, report.html"
        f"{', ' + str(len(plots)) + ' PNGs' if plots else ''} in {time.perf_counter() - t0:.1f} s"
    )
    return 0
