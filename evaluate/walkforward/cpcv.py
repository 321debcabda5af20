"""Combinatorial purged cross-validation as the walk-forward's alternative splitter: the
splits' fold plans (``backtest.cpcv.cpcv_plans``) and the paths stitched from their tests.

``--cv cpcv --groups N --test-groups k``: the span is cut into ``N`` groups; each of the
``C(N, k)`` splits (``backtest.cpcv.cpcv_splits``: purge before and purge + embargo after every
test group) trains every method once per seed on the other groups and tests it on its ``k``
groups. Inside a split, selection uses the last ``--val-bars`` rows of its training rows only
(a purge before them, as in a fold); the test groups and their purge/embargo are holes in the
training span (``backtest.folds.mask_rows``: no decision at or holding over them). Each of the
``C(N, k) * k / N`` backtest paths then takes every group once from the split that tested it
(``backtest.cpcv.path_assignment``), stitched into one out-of-sample account per (method, seed,
path): a method's Sharpe comes as a distribution over paths, and "the share of paths that beat
buy-and-hold" compares each path with buy-and-hold on the same bars.
"""

from __future__ import annotations

import math

import numpy as np

from backtest.cpcv import n_paths, path_assignment
from backtest.record import Backtest
from evaluate.stitch import stitch


def path_curves(
    blocks: dict[int, dict[int, Backtest]],
    n_groups: int,
    n_test_groups: int,
    name: str,
    meta: dict,
) -> list[Backtest]:
    """Every backtest path: group g's block from the split that feeds path p, in time order.
    ``blocks``: split index -> {group: that split's backtest on the group}."""
    assign = path_assignment(n_groups, n_test_groups)
    return [
        stitch(
            [blocks[int(assign[g, p])][g] for g in range(n_groups)],
            name,
            {**meta, "path": p},
        )
        for p in range(n_paths(n_groups, n_test_groups))
    ]


def path_sharpe(bt: Backtest) -> float:
    """A path's annualised Sharpe; an always-flat path (undefined) counts 0."""
    s = float(bt.summary()["sharpe"])
    return s if math.isfinite(s) else 0.0


def share_beating(paths: list[float], bench: list[float]) -> float:
    """Share of paths whose Sharpe exceeds the benchmark's on the same path (ties count half)."""
    a, b = np.asarray(paths), np.asarray(bench)
    return float(np.mean((a > b) + 0.5 * (a == b))) if a.size else math.nan
