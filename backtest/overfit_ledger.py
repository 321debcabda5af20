"""The overfitting statistics of a market's whole trial ledger, in sentences for a report.

``ledger_overfitting(market, costs=...)`` takes the ledger's trials that kept their per-bar val
returns (``lab.ledger.ledger_trial_returns``: the val block with the most trials, joined by every
block on >= 90 % of its bars, on the bars they all hold: ``lab.ledger_returns.aligned_block``),
and computes

* the probability of backtest overfitting by CSCV over those configurations (``backtest.overfit
  .pbo``; Bailey, Borwein, Lopez de Prado, Zhu 2017), and
* Hansen's SPA and White's Reality Check of the best of them against buy-and-hold and against
  the 50-day momentum baseline on the same val bars (``backtest.spa.spa_test``; Hansen 2005,
  White 2000), the benchmarks run here through the same runner and costs.

``OverfitSummary.sentences()`` says each in one line, or why it could not be computed (fewer
than two trials with returns, a val block that is not the preset's val split).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from backtest.overfit import PBOResult, pbo
from backtest.runner import CostOverrides, run_policy
from backtest.spa import SPAResult, spa_test
from lab.ledger import ledger_trial_returns
from lab.ledger_returns import aligned_block

BENCHMARKS = ("buy_and_hold", "tsmom_long_flat")
MIN_BARS_PER_BLOCK = 8


@dataclass
class OverfitSummary:
    """PBO and SPA of the ledger's largest val block (None: not computable, see ``notes``)."""

    market: str
    n_trials: int = 0
    pbo: PBOResult | None = None
    spa: dict[str, SPAResult] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def sentences(self) -> list[str]:
        """One line per statistic (or per reason it is missing)."""
        out = [self.pbo.sentence()] if self.pbo is not None else []
        out += [r.sentence() for r in self.spa.values()]
        return out + self.notes

    def to_dict(self) -> dict[str, object]:
        """JSON-ready values for metrics.json."""
        return {
            "market": self.market,
            "n_trials": self.n_trials,
            "pbo": None if self.pbo is None else self.pbo.pbo,
            "prob_oos_loss": None if self.pbo is None else self.pbo.prob_oos_loss,
            "spa": {
                k: {"pvalue": v.pvalue, "rc_pvalue": v.rc_pvalue, "best": v.best}
                for k, v in self.spa.items()
            },
            "sentences": self.sentences(),
        }


def _blocks_for(n_bars: int, wanted: int) -> int:
    """The largest even number of CSCV blocks <= ``wanted`` with enough bars in each."""
    s = min(wanted, n_bars // MIN_BARS_PER_BLOCK)
    return s - s % 2


def ledger_overfitting(
    market: str,
    *,
    costs: CostOverrides | None = None,
    runs_root: str | os.PathLike[str] | None = None,
    n_blocks: int = 16,
    reps: int = 1000,
    seed: int = 0,
) -> OverfitSummary:
    """PBO and SPA over ``market``'s ledger trials with val returns (see the module doc)."""
    out = OverfitSummary(market)
    block = aligned_block(ledger_trial_returns(market, runs_root))
    if block is None or block.matrix.shape[1] < 2:
        out.notes.append(
            f"overfitting statistics: fewer than 2 trials in the {market} ledger kept their val "
            "returns; PBO and SPA need the returns of every configuration tried"
        )
        return out
    out.n_trials = block.matrix.shape[1]
    s = _blocks_for(block.matrix.shape[0], n_blocks)
    if s >= 2:
        out.pbo = pbo(block.matrix, n_blocks=s)
    for name in BENCHMARKS:
        bt = run_policy(name, market, "val", costs=costs)
        ts = block.timestamps if block.timestamps is not None else bt.timestamps[:0]
        shared, ib, it = np.intersect1d(bt.timestamps, ts, assume_unique=True, return_indices=True)
        if shared.size < 0.9 * block.matrix.shape[0]:
            out.notes.append(
                f"SPA against {name}: the ledger's trials were measured on other bars than "
                f"{market}'s val split; not computed"
            )
            continue
        out.spa[name] = spa_test(np.nan_to_num(bt.returns[ib]), block.matrix[it],
                                 names=block.labels, benchmark_name=name, reps=reps,
                                 seed=seed)  # fmt: skip
    return out
