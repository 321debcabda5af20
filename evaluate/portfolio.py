"""``python -m evaluate.portfolio``: portfolio agents and the allocation baselines head to head.

    .venv/bin/python -m evaluate.portfolio --env btc1h,eth1h --split test [--json]
    .venv/bin/python -m evaluate.portfolio --run runs/btc1h_eth1h/ppo/RUN --split test

Every baseline of ``backtest.allocation_baselines``, and each ``--run`` (a portfolio run of
``python -m agents.ppo --env A,B``: its selected ``best_policy.pt``, deterministic), runs through
the portfolio env (``envs.portfolio``) on the same split with the same costs (fees and slippage
per member on the notional traded, funding per member from its own history) and is reported
with its Sharpe, total return, maximum drawdown, turnover and costs a year, and the per-member
attribution of return and costs. Without ``--env`` the universe is the first run's; a policy
trained on N members runs on any other universe of the same feature set and window (the asset
policy is permutation-equivariant). Several runs (the seeds of one configuration) are reduced
as ``evaluate`` reduces seeds (``backtest.aggregate``): the IQM of their Sharpes with a
stratified-bootstrap CI and the probability that a seed beats each baseline; a seed whose
targets never move (every member's weight sd below 0.01) held one allocation throughout and is
named as a collapse, its Sharpe kept; one that never held a member counts as Sharpe 0.
A universe holding planted-signal presets
(``--env synth-xs-regime,synth-xs-rw1,synth-xs-rw2``) also lists the oracle allocations
(``backtest.allocation_oracles``). The split's dates are the first member's.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from agents.portfolio import NetAllocator, load_run_policy
from agents.portfolio.policy import PortfolioPolicySpec
from backtest.aggregate import SeedSummary, summarize_seeds
from backtest.allocation import AllocationBacktest, run_allocation
from backtest.allocation_baselines import ALLOCATION_BASELINES, BaselineAllocator
from backtest.allocation_oracles import OracleAllocator, planted_members
from envs.data import DataValidationError
from envs.portfolio import Universe, load_universe, split_rows
from envs.portfolio.env import PortfolioAccounts
from envs.portfolio.members import members_of
from envs.presets import get_preset
from envs.registry import DEFAULT_FEATURE_SET, DEFAULT_WINDOW
from envs.synthetic import ALL_MARKET_NAMES
from evaluate.arg_checks import check_numbers
from lab.cli import run_cli
from lab.config import ConfigError
from lab.runtime import set_torch_threads


def parse(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    ap = argparse.ArgumentParser(prog="python -m evaluate.portfolio", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument(
        "--env",
        help="members, comma-separated (presets or files), or a folder of candle files (default: the run's)",
    )
    ap.add_argument("--catalog", default=None, metavar="FILE",
                    help="data catalog YAML for a universe entry (data/catalog.yml)")  # fmt: skip
    ap.add_argument("--run", action="append", default=[], help="a portfolio run folder (repeat)")
    ap.add_argument("--split", default="test", choices=("train", "val", "test"))
    ap.add_argument("--fee-bps", type=float, default=10.0, help="fee per unit traded, bps")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)
    check_numbers(args)
    if not args.env and not args.run:
        raise ConfigError("give --env A,B (a universe) and/or --run RUN (a portfolio run)")
    return args


def main(argv: list[str] | None = None) -> dict[str, dict]:
    """Run every baseline (and run); print the table (or JSON); return the results."""
    args = parse(sys.argv[1:] if argv is None else argv)
    set_torch_threads(1)  # one decision per bar: batch-1 forwards, thread hand-offs dominate
    twice = [r for r in set(args.run) if args.run.count(r) > 1]
    if twice:
        raise ConfigError(f"--run {twice[0]} is given twice; give each seed's run once")
    agents = [(Path(r), *load_run_policy(r)) for r in args.run]
    specs = members_of(args.env, args.catalog) if args.env else list(agents[0][2].members)
    layout = (agents[0][2].feature_set, agents[0][2].window) if agents else None
    universe = load_universe(specs, *(layout or (DEFAULT_FEATURE_SET, DEFAULT_WINDOW)))
    rows = split_rows(universe, specs[0], args.split)
    ppy = get_preset(specs[0]).periods_per_year
    results = {}
    policies = _policies(universe, agents)
    for name, decide, options in policies:
        acc = PortfolioAccounts(
            universe,
            1,
            rows,
            fee_bps=args.fee_bps,
            episode_length=None,
            max_drawdown=None,
            **options,
        )
        bt = run_allocation(acc, decide(acc), name)
        results[name] = {**bt.summary(ppy), "attribution": bt.attribution(), **_extra(bt)}
    agent_names = [name for name, *_ in policies[: len(agents)]]
    seeds = seed_summary(results, agent_names)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(render(results, specs, args.split))
        if seeds is not None:
            print(render_seeds(seeds, results, agent_names))
    return results


Factory = Callable[[PortfolioAccounts], Callable]


def _policies(
    universe: Universe, agents: Sequence[tuple[Path, object, PortfolioPolicySpec]]
) -> list[tuple[str, Factory, dict]]:
    """(name, decide factory on the accounts, env options) of every row, agents first."""
    rows: list[tuple[str, Factory, dict]] = []
    for path, net, spec in agents:
        if spec.feature_set != agents[0][2].feature_set or spec.window != agents[0][2].window:
            raise ConfigError(
                f"--run {path}: feature set {spec.feature_set!r} window {spec.window} differ "
                "from the first run's; evaluate runs of one observation layout together"
            )
        opts = {"mode": spec.mode, "gross_cap": spec.gross_cap, "action_map": spec.action_map}
        name = f"ppo:{path.name}" if len(agents) > 1 else "ppo_agent"
        if any(n == name for n, *_ in rows):  # two folders of one name: keep both rows
            name = f"ppo:{path}"

        def factory(acc: PortfolioAccounts, net=net, spec=spec) -> Callable:  # noqa: ANN001
            return NetAllocator(net, acc, spec).decide  # type: ignore[arg-type]

        rows.append((name, factory, opts))
    for name in ALLOCATION_BASELINES:
        rows.append((name, _baseline_factory(name), {}))
    if planted_members(universe):  # a planted cross-sectional market: its known allocations
        kinds = ["hidden", "filter"]
        if all(n in ALL_MARKET_NAMES for n in universe.names):
            kinds.append("blind")  # the order-blind filter: the bar for an equivariant policy
        for kind in kinds:
            rows.append((f"oracle_{kind}", _oracle_factory(kind), {}))
    return rows


def _baseline_factory(name: str) -> Factory:
    def factory(acc: PortfolioAccounts) -> Callable:
        return BaselineAllocator(name, acc.universe).decide

    return factory


def _oracle_factory(kind: str) -> Factory:
    def factory(acc: PortfolioAccounts) -> Callable:
        return OracleAllocator(acc.universe, kind, "long_only").decide

    return factory


ONE_ALLOCATION_SD = 0.01  # every member's target weight moves less than this: one allocation


def _extra(bt: AllocationBacktest) -> dict[str, object]:
    """Mean and sd of each member's weight, the mean gross exposure, and whether the targets
    never moved (one allocation throughout: a one-action policy)."""
    w = bt.weights
    sd: np.ndarray = w.std(axis=0) if len(w) else np.zeros(len(bt.names))
    return {
        "weights_mean": dict(zip(bt.names, np.round(w.mean(0), 4).tolist(), strict=True)),
        "weights_sd": dict(zip(bt.names, np.round(sd, 4).tolist(), strict=True)),
        "gross_exposure": float(np.abs(w).sum(1).mean()) if len(w) else 0.0,
        "one_allocation": bool((sd < ONE_ALLOCATION_SD).all()),
    }


def seed_summary(results: dict[str, dict], agents: list[str]) -> SeedSummary | None:
    """The agent rows reduced as seeds (two or more runs), against every baseline's Sharpe."""
    if len(agents) < 2:
        return None
    versus = {b: np.array([results[b]["sharpe"]]) for b in ALLOCATION_BASELINES}
    rows = [results[a] for a in agents]
    return summarize_seeds(
        "ppo",
        [None] * len(rows),
        np.array([r["sharpe"] for r in rows]),
        np.array([r["gross_exposure"] for r in rows]),
        versus,
    )


def render_seeds(summary: SeedSummary, results: dict[str, dict], agents: list[str]) -> str:
    """Two lines: the seeds' IQM with its CI and P(> each baseline); the collapses."""
    per_seed = " ".join(f"{v:+.2f}" for v in summary.sharpes)
    beats = ", ".join(f"{b} {p:.2f}" for b, p in summary.p_improve.items())
    one = [a.removeprefix("ppo:") for a in agents if results[a]["one_allocation"]]
    flat = [a.removeprefix("ppo:") for a, c in zip(agents, summary.collapsed, strict=True) if c]
    collapses = [f"{', '.join(one)} held one allocation throughout"] if one else []
    collapses += [f"{', '.join(flat)} never held a member (Sharpe 0)"] if flat else []
    return (
        f"ppo, {summary.n_seeds} seeds: IQM Sharpe {summary.iqm:+.2f} "
        f"[{summary.iqm_low:+.2f}, {summary.iqm_high:+.2f}] (per seed {per_seed}); "
        f"P(seed > baseline): {beats}\n"
        f"collapsed: {'; '.join(collapses) if collapses else 'none'}"
    )


def render(results: dict[str, dict], specs: list[str], split: str) -> str:
    """A table of the baselines, then each one's per-member attribution (% of equity)."""
    lines = [
        f"universe {', '.join(specs)}, split {split} (same costs for every baseline)",
        f"{'baseline':<24}{'Sharpe':>8}{'return':>9}{'max DD':>8}{'turn/yr':>9}"
        f"{'fees%/yr':>9}{'fund%/yr':>9}",
    ]
    for name, r in results.items():
        lines.append(
            f"{name:<24}{r['sharpe']:>8.2f}{100 * r['total_return']:>8.1f}%"
            f"{100 * r['max_drawdown']:>7.1f}%{r['turnover_per_year']:>9.1f}"
            f"{r['fees_pct_per_year']:>9.2f}{r['funding_pct_per_year']:>9.2f}"
        )
    lines.append("attribution (sum of bar contributions, % of equity): pnl / fee+slip / funding")
    for name, r in results.items():
        parts = [
            f"{m} {100 * a['pnl']:+.1f} / {100 * (a['fee'] + a['slippage']):.1f} / "
            f"{100 * a['funding']:+.1f}"
            for m, a in r["attribution"].items()
        ]
        lines.append(f"  {name:<22} " + "; ".join(parts))
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(run_cli(main, (DataValidationError,)))
