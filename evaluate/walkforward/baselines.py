"""The baselines of every walk-forward fold, on the fold's test rows with the same costs.

* simple: ``buy_and_hold``, ``flat`` (a Sharpe of "never trades") and ``momentum`` (the
  one-week sign rule; ``random`` is no bar to clear and is left out);
* the known edges (``backtest.baseline_table``: daily time-series momentum long/flat and
  long/short, the trend ensemble, volatility-targeted buy-and-hold): each fold re-chooses their
  parameters from the table's small fixed grid on the fold's own val rows
  (``backtest.baseline_select.choose``), exactly as a learned method selects; every grid point
  of every fold is a trial, appended to the market's ledger by ``record_fold_choices``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backtest.baseline_select import Choice, choose, record_choice
from backtest.baseline_table import TREND_BASELINES, named_spec
from backtest.fold_backtest import backtest_rows
from backtest.folds import FoldPlan, WFData, mask_rows
from backtest.record import Backtest

SIMPLE = ("buy_and_hold", "flat", "momentum")
BASELINES = (*SIMPLE, *TREND_BASELINES)
COST_KEYS = ("fee_bps", "slippage_bps", "slippage_model", "funding", "fill")


@dataclass
class FoldBaselines:
    """One fold's baseline test backtests and the known edges' val choices."""

    backtests: dict[str, Backtest]
    choices: list[Choice] = field(default_factory=list)
    group_tests: dict[str, dict[int, Backtest]] = field(default_factory=dict)  # CPCV


def fold_baselines(
    data: WFData, plan: FoldPlan, options: dict[str, Any], trend: bool = True
) -> FoldBaselines:
    """Every baseline over ``plan.test``; the known edges chosen on ``plan.val`` first."""
    market = data.market(data.fit_normaliser(plan.train), 1)
    val_market = mask_rows(market, plan.holes)
    ppy = data.periods_per_year
    specs = {b: named_spec(b) for b in SIMPLE}
    choices = []
    for name in TREND_BASELINES if trend else ():
        c = choose(name, lambda spec: backtest_rows(spec, val_market, plan.val, options, ppy))
        specs[name] = c.spec()
        choices.append(c)
    out = {b: backtest_rows(s, market, plan.test, options, ppy) for b, s in specs.items()}
    groups = {
        b: {
            g: out[b] if rows == plan.test else backtest_rows(s, market, rows, options, ppy)
            for g, rows in plan.test_blocks.items()
        }
        for b, s in specs.items()
        if plan.groups
    }
    return FoldBaselines(out, choices, groups)


def record_fold_choices(
    env: str, plan: FoldPlan, fb: FoldBaselines, options: dict[str, Any], index: Any
) -> int:
    """Every grid point each known edge tried on this fold's val rows, into the ledger."""
    d = plan.describe(index)
    split = f"walkforward val {d['val'][0][:10]}..{d['val'][1][:10]}"
    costs = {k: options[k] for k in COST_KEYS if k in options}
    return sum(record_choice(c, env, costs, split=split) for c in fb.choices)
