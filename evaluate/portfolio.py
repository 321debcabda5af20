"""``python -m evaluate.portfolio``: the allocation baselines head to head on a universe.

    .venv/bin/python -m evaluate.portfolio --env btc1h,eth1h --split test [--json]

Every baseline of ``backtest.allocation_baselines`` runs through the portfolio env
(``envs.portfolio``) on the same split with the same costs (fees and slippage per member on the
notional traded, funding per member from its own history) and is reported with its Sharpe,
total return, maximum drawdown, turnover and costs a year, and the per-member attribution of
return and costs. A universe holding planted-signal presets (``--env synth-regime,synth-rw``)
also lists the oracle allocations (``backtest.allocation_oracles``). The split's dates are the first member's. Agents that allocate are not yet
trained on the portfolio env (issue 21 goes on): this is the bar they will have to clear.
"""

from __future__ import annotations

import argparse
import json
import sys

from backtest.allocation import run_allocation
from backtest.allocation_baselines import ALLOCATION_BASELINES, BaselineAllocator
from backtest.allocation_oracles import OracleAllocator, planted_members
from envs.data import DataValidationError
from envs.portfolio import load_universe, split_rows
from envs.portfolio.env import PortfolioAccounts
from envs.presets import get_preset
from lab.cli import run_cli
from lab.config import ConfigError


def parse(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    ap = argparse.ArgumentParser(prog="python -m evaluate.portfolio", description=__doc__)
    ap.add_argument("--env", required=True, help="members, comma-separated: presets or files")
    ap.add_argument("--split", default="test", choices=("train", "val", "test"))
    ap.add_argument("--fee-bps", type=float, default=10.0, help="fee per unit traded, bps")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, dict]:
    """Run every baseline; print the table (or JSON); return the results."""
    args = parse(sys.argv[1:] if argv is None else argv)
    specs = [s.strip() for s in args.env.split(",") if s.strip()]
    if len(set(specs)) != len(specs) or not specs:
        raise ConfigError(f"--env {args.env!r}: give each member once, comma-separated")
    universe = load_universe(specs)
    rows = split_rows(universe, specs[0], args.split)
    ppy = get_preset(specs[0]).periods_per_year
    results = {}
    policies = {name: BaselineAllocator(name, universe).decide for name in ALLOCATION_BASELINES}
    if planted_members(universe):  # a planted cross-sectional market: its known allocations
        for kind in ("hidden", "filter"):
            policies[f"oracle_{kind}"] = OracleAllocator(universe, kind, "long_only").decide
    for name, decide in policies.items():
        acc = PortfolioAccounts(universe, 1, rows, fee_bps=args.fee_bps, episode_length=None)
        bt = run_allocation(acc, decide, name)
        results[name] = {**bt.summary(ppy), "attribution": bt.attribution()}
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(render(results, specs, args.split))
    return results


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
