"""How much of the walk-forward's validation performance survives out of sample, in sentences.

Three statistics, each one line of the report (or one line saying why it is missing):

* **degradation** (``backtest.overfit.degradation``): every finished (method, fold, seed) task
  pairs the selected policy's Sharpe on the fold's val block with its Sharpe on the fold's
  test block (both annualised); the sentence gives the means, the slope and rank correlation
  of test on val, and the share that lost money out of sample.
* **PBO** (``backtest.overfit.pbo``, CSCV; Bailey, Borwein, Lopez de Prado, Zhu 2017) over
  the out-of-sample accounts this report puts side by side: every (method, seed) stitched
  curve and every baseline, on the bars they all hold (a method with a longer observation
  window starts a few bars later after each data gap). It is the probability that the account
  that looks best on half of those bars ranks below the median on the other half, i.e. that
  picking the winner of this table is picking noise.
* **SPA / Reality Check** (``backtest.spa.spa_test``; Hansen 2005, White 2000): does the best
  (method, seed) account beat buy-and-hold, and the 50-day-style momentum baseline, out of
  sample once every account tried is allowed for.

CPCV runs use each seed's path 0 (the same bars for every method) for PBO and SPA.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backtest.overfit import Degradation, PBOResult, degradation, pbo
from backtest.record import Backtest
from backtest.spa import SPAResult, spa_test
from evaluate.walkforward.grid import GridResult
from evaluate.walkforward.verdict import Verdict

BENCHMARKS = ("buy_and_hold", "tsmom_long_flat")
MIN_BARS_PER_BLOCK = 8
MIN_SHARED = 0.9  # share of the shortest account's bars that every account must hold
SPA_REPS_MAX = 1000  # the bootstrap over ~40k bars x k accounts: enough for a 0.05 decision


@dataclass
class WFOverfitting:
    """Degradation, PBO and SPA of one walk-forward (None: not computable, see ``notes``)."""

    degradation: Degradation | None = None
    pbo: PBOResult | None = None
    spa: dict[str, SPAResult] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def sentences(self) -> list[str]:
        """One line per statistic, or per reason it is missing."""
        out = []
        if self.degradation is not None:
            d = self.degradation
            out.append(
                f"Validation to out of sample over {d.n} (method, fold, seed) fits: Sharpe "
                f"{d.mean_val:+.2f} on the folds' validation blocks -> {d.mean_oos:+.2f} on "
                f"their test blocks on average (slope {d.slope:+.2f}, rank correlation "
                f"{d.rank_corr:+.2f}; {d.share_oos_loss:.0%} lost money out of sample)."
            )
        if self.pbo is not None:
            out.append(f"Out-of-sample accounts of this report: {self.pbo.sentence()}.")
        out += [f"Out of sample: {r.sentence()}." for r in self.spa.values()]
        return out + self.notes

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values for summary.json."""
        d = self.degradation
        return {
            "degradation": None
            if d is None
            else {
                "n": d.n,
                "mean_val_sharpe": d.mean_val,
                "mean_oos_sharpe": d.mean_oos,
                "slope": d.slope,
                "rank_corr": d.rank_corr,
                "share_oos_loss": d.share_oos_loss,
            },
            "pbo": None if self.pbo is None else self.pbo.pbo,
            "pbo_n_configurations": None if self.pbo is None else self.pbo.n_trials,
            "spa": {
                k: {"pvalue": v.pvalue, "rc_pvalue": v.rc_pvalue, "best": v.best}
                for k, v in self.spa.items()
            },
            "sentences": self.sentences(),
        }


def fit_degradation(grid: GridResult) -> Degradation | None:
    """Val vs test Sharpe of every finished task (None when no task finished)."""
    outs = list(grid.outcomes.values())
    if not outs:
        return None
    val = np.array([o.val_sharpe for o in outs], dtype=np.float64)
    oos = np.array([o.test.summary()["sharpe"] for o in outs], dtype=np.float64)
    return degradation(val, oos)


def _accounts(v: Verdict) -> tuple[dict[str, Backtest], dict[str, Backtest]]:
    """(method-seed accounts, baseline accounts) by label."""
    methods = {f"{m} s{sd}": c for m, r in v.methods.items() for sd, c in r.curves.items()}
    return methods, dict(v.baselines)


def _blocks_for(n_bars: int, wanted: int) -> int:
    """The largest even number of CSCV blocks <= ``wanted`` with enough bars in each."""
    s = min(wanted, n_bars // MIN_BARS_PER_BLOCK)
    return s - s % 2


def shared_returns(curves: list[Backtest]) -> np.ndarray | None:
    """(bars, accounts) returns on the bars every account holds (methods with longer windows
    or warm-ups skip a few bars after each data gap), or None when they share under
    ``MIN_SHARED`` of the shortest account's bars."""
    common = functools.reduce(np.intersect1d, [np.asarray(c.timestamps) for c in curves])
    if common.size < MIN_SHARED * min(len(c) for c in curves):
        return None
    cols = [
        np.nan_to_num(c.returns[np.searchsorted(np.asarray(c.timestamps), common)]) for c in curves
    ]
    return np.column_stack(cols)


def walkforward_overfitting(
    v: Verdict, grid: GridResult, *, reps: int = SPA_REPS_MAX, seed: int = 0, n_blocks: int = 16
) -> WFOverfitting:
    """Degradation, PBO and SPA of a finished walk-forward (see the module docstring)."""
    out = WFOverfitting(degradation=fit_degradation(grid))
    if out.degradation is None:
        out.notes.append("validation to out of sample: no task finished, nothing to compare")
    methods, baselines = _accounts(v)
    every = {**methods, **baselines}
    matrix = shared_returns(list(every.values())) if methods else None
    if matrix is None:
        out.notes.append(
            "PBO and SPA: no method finished, or the out-of-sample accounts share under "
            f"{MIN_SHARED:.0%} of their bars; not computed"
        )
        return out
    s = _blocks_for(matrix.shape[0], n_blocks)
    if s >= 2 and matrix.shape[1] >= 2:
        out.pbo = pbo(matrix, n_blocks=s)
    labels = list(every)
    strategies = matrix[:, : len(methods)]
    for name in BENCHMARKS:
        if name not in baselines:
            out.notes.append(f"SPA against {name}: not among this run's baselines")
            continue
        bench = matrix[:, labels.index(name)]
        out.spa[name] = spa_test(
            bench, strategies, names=list(methods), benchmark_name=name,
            reps=max(1, min(int(reps), SPA_REPS_MAX)), seed=seed,
        )  # fmt: skip
    return out
