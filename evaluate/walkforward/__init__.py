"""Walk-forward: every method retrained per fold and seed, tested out of sample, stitched.

``python -m evaluate.walkforward`` (``cli``) is the command. Modules, in reading order:
``args``/``checks`` (flags), ``backtest.folds`` (fold plans, purge/embargo, markets; below
``agents`` so ``agents.tune --objective walkforward`` plans the same folds), ``learners`` (the
per-method dispatch: ``learn_rl``, ``learn_supervised``; ``context``),
``backtest.fold_backtest`` / ``folds`` (one (method, fold, seed)), ``tasks``/``grid`` (engine
tasks, resume), ``verdict`` (stitch, aggregate), ``overfitting`` (degradation, PBO, SPA),
``tables``/``html`` (words, tables, the report).
"""

from backtest.fold_backtest import backtest_rows, eval_options
from evaluate.walkforward.baselines import BASELINES
from evaluate.walkforward.cli import main
from evaluate.walkforward.folds import (
    FoldResult,
    WalkForward,
    fit_fold,
    run_fold,
    run_walkforward,
)

__all__ = [
    "BASELINES",
    "FoldResult",
    "WalkForward",
    "backtest_rows",
    "eval_options",
    "fit_fold",
    "main",
    "run_fold",
    "run_walkforward",
]
