"""Combinatorial purged cross-validation (CPCV) over a range of bars, with its backtest paths.

Lopez de Prado, "Advances in Financial Machine Learning" (Wiley 2018), ch. 12; Bailey, Borwein,
Lopez de Prado, Zhu, "The probability of backtest overfitting", J. Computational Finance 20(4)
(2017); Gort et al., "Deep reinforcement learning for cryptocurrency trading: practical approach
to address backtest overfitting" (AAAI 2023 Bridge, arXiv:2209.05559) apply it to crypto RL.

The bars ``[lo, hi)`` are cut into ``n_groups`` consecutive groups (the first ``n_groups - 1``
of ``n // n_groups`` bars, the last takes the rest). Each of the ``C(n_groups, n_test_groups)``
splits tests on one combination of ``n_test_groups`` groups (in ``itertools.combinations``
order) and trains on the other bars, minus ``purge_bars`` before every test group and
``purge_bars + embargo_bars`` after it (a label or feature window that overlaps a test group is
purged; the embargo covers serial correlation after it), also past the next group when that
group is shorter (skfolio refuses that case). Bars are rows of the project's series,
so purge and embargo are in bars.

Paths: every group is tested by ``C(n_groups - 1, n_test_groups - 1)`` splits; the j-th split (in
order) that tests group g feeds path j at group g (``path_assignment``), so each of the
``n_paths = C(n_groups, n_test_groups) * n_test_groups / n_groups`` paths covers every group
exactly once with out-of-sample bars, and a method gets a distribution of Sharpe ratios across
paths instead of one number (``stitch_paths``). Equal, index for index, to skfolio's
``CombinatorialPurgedCV`` (``split``, ``get_path_ids``, ``recombined_paths``), which the tests
hold it to; written here in numpy on bar ranges (absolute rows, not positions in an array).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from backtest.folds import FoldPlan, Range

MAX_SPLITS = 10_000  # each split is a full training: more is a misconfiguration, not a study


@dataclass(frozen=True)
class CPCVSplit:
    """One split: the groups it tests, their bar ranges, the train bars and each test's path."""

    index: int
    test_groups: tuple[int, ...]
    tests: tuple[tuple[int, int], ...]  # (lo, hi) absolute rows of each test group
    train_ranges: tuple[tuple[int, int], ...]  # contiguous (lo, hi) runs of train rows
    paths: tuple[int, ...]  # the backtest path each test group feeds

    @property
    def train(self) -> np.ndarray:
        """The train rows (absolute), purged and embargoed."""
        parts = [np.arange(a, b) for a, b in self.train_ranges]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def check_cpcv(n_bars: int, n_groups: int, n_test_groups: int) -> None:
    """Refuse settings that give no valid CPCV (one line naming the value and the fix)."""
    if n_groups < 2:
        raise ValueError(f"--groups {n_groups}: CPCV needs at least 2 groups")
    if not 1 <= n_test_groups < n_groups:
        raise ValueError(
            f"--test-groups {n_test_groups}: must be at least 1 and below --groups {n_groups}"
        )
    if n_bars < n_groups:
        raise ValueError(f"{n_bars} bars cannot be cut into {n_groups} groups: use fewer groups")
    if math.comb(n_groups, n_test_groups) > MAX_SPLITS:
        raise ValueError(
            f"--groups {n_groups} --test-groups {n_test_groups} make "
            f"{math.comb(n_groups, n_test_groups):,} splits (at most {MAX_SPLITS:,}): use fewer"
        )


def group_bounds(lo: int, hi: int, n_groups: int) -> list[tuple[int, int]]:
    """``n_groups`` consecutive ``(lo, hi)`` ranges; the last one takes the remainder."""
    size = (hi - lo) // n_groups
    starts = [lo + g * size for g in range(n_groups)]
    return [(s, starts[g + 1] if g + 1 < n_groups else hi) for g, s in enumerate(starts)]


def path_assignment(n_groups: int, n_test_groups: int) -> np.ndarray:
    """``(n_groups, n_paths)`` int array: the split whose test of group g feeds path p."""
    combos = list(itertools.combinations(range(n_groups), n_test_groups))
    per_group = [[i for i, c in enumerate(combos) if g in c] for g in range(n_groups)]
    return np.array(per_group, dtype=np.int64)


def n_paths(n_groups: int, n_test_groups: int) -> int:
    """Number of backtest paths: ``C(N, k) * k / N``."""
    return math.comb(n_groups, n_test_groups) * n_test_groups // n_groups


def _train_ranges(
    bounds: list[tuple[int, int]], tested: tuple[int, ...], purge: int, embargo: int
) -> tuple[tuple[int, int], ...]:
    """The bars outside every test group minus ``purge`` bars before and ``purge + embargo``
    after each one (also where that reaches past the next group), as contiguous runs."""
    lo, hi = bounds[0][0], bounds[-1][1]
    keep: np.ndarray = np.ones(hi - lo, dtype=bool)
    for g in tested:
        a, b = bounds[g]
        keep[max(a - purge, lo) - lo : min(b + purge + embargo, hi) - lo] = False
    edges = np.flatnonzero(np.diff(np.concatenate([[0], keep.astype(np.int8), [0]])))
    return tuple((lo + int(a), lo + int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True))


def cpcv_splits(
    lo: int,
    hi: int,
    n_groups: int,
    n_test_groups: int,
    *,
    purge_bars: int = 0,
    embargo_bars: int = 0,
) -> list[CPCVSplit]:
    """Every CPCV split of the bars ``[lo, hi)`` (see the module doc)."""
    check_cpcv(hi - lo, n_groups, n_test_groups)
    if purge_bars < 0 or embargo_bars < 0:
        raise ValueError("purge and embargo bars cannot be negative")
    bounds = group_bounds(lo, hi, n_groups)
    assign = path_assignment(n_groups, n_test_groups)
    combos = itertools.combinations(range(n_groups), n_test_groups)
    return [
        CPCVSplit(
            index=i,
            test_groups=combo,
            tests=tuple(bounds[g] for g in combo),
            train_ranges=_train_ranges(bounds, combo, purge_bars, embargo_bars),
            paths=tuple(int(np.flatnonzero(assign[g] == i)[0]) for g in combo),
        )
        for i, combo in enumerate(combos)
    ]


def stitch_paths(
    test_returns: Mapping[tuple[int, int], np.ndarray], n_groups: int, n_test_groups: int
) -> list[np.ndarray]:
    """Per-bar returns of every backtest path, from ``{(split index, group): returns of that
    split's model on that test group}``: path p is group 0's piece from split
    ``path_assignment[0, p]``, then group 1's, ... (time order)."""
    assign = path_assignment(n_groups, n_test_groups)
    out = []
    for p in range(assign.shape[1]):
        pieces = []
        for g in range(n_groups):
            key = (int(assign[g, p]), g)
            if key not in test_returns:
                raise KeyError(f"path {p} needs split {key[0]}'s returns on group {g}")
            pieces.append(np.asarray(test_returns[key], dtype=np.float64))
        out.append(np.concatenate(pieces))
    return out


@dataclass(frozen=True)
class PathSummary:
    """A method's annualised Sharpe on every CPCV path, against a benchmark's on the same path."""

    sharpes: np.ndarray
    benchmark_sharpes: np.ndarray
    share_beating: float  # paths where the method's Sharpe > the benchmark's

    def sentence(self, method: str, benchmark: str = "buy_and_hold") -> str:
        """One line for a report."""
        q1, med, q3 = np.percentile(self.sharpes, [25, 50, 75])
        return (
            f"{method} over {len(self.sharpes)} CPCV paths: Sharpe median {med:+.2f} (IQR "
            f"{q1:+.2f} to {q3:+.2f}); it beats {benchmark} on {self.share_beating:.0%} of paths"
        )


def _annual_sharpe(r: np.ndarray, periods_per_year: float) -> float:
    sd = float(np.std(r, ddof=1)) if r.size > 1 else 0.0
    return float(np.mean(r) / sd * np.sqrt(periods_per_year)) if sd > 0 else 0.0


def path_summary(
    paths: list[np.ndarray], benchmark_paths: list[np.ndarray], periods_per_year: float
) -> PathSummary:
    """Per-path annualised Sharpes (a flat path: 0) and the share of paths beating the
    benchmark's path of the same bars (``stitch_paths`` of each)."""
    if len(paths) != len(benchmark_paths) or not paths:
        raise ValueError("path_summary needs one benchmark path per method path")
    s = np.array([_annual_sharpe(np.asarray(p), periods_per_year) for p in paths])
    b = np.array([_annual_sharpe(np.asarray(p), periods_per_year) for p in benchmark_paths])
    return PathSummary(s, b, float(np.mean(s > b)))


def cpcv_plans(
    span: Range,
    n_groups: int,
    n_test_groups: int,
    *,
    val_bars: int,
    purge_bars: int = 0,
    embargo_bars: int = 0,
) -> list[FoldPlan]:
    """One ``FoldPlan`` per CPCV split (see ``evaluate.walkforward.cpcv``); ValueError when a split's last
    training run cannot hold the selection block plus ``val_bars`` training rows."""
    plans = []
    for sp in cpcv_splits(
        span[0], span[1], n_groups, n_test_groups, purge_bars=purge_bars, embargo_bars=embargo_bars
    ):
        info = list(sp.train_ranges)
        end = info[-1][1] if info else span[0]
        val = (end - val_bars, end)
        train = tuple(
            (a, min(b, val[0] - purge_bars)) for a, b in info if a < min(b, val[0] - purge_bars)
        )
        holes = tuple((b, a2) for (_, b), (a2, _) in zip(info[:-1], info[1:], strict=True))
        n_train = sum(b - a for a, b in train)
        if not info or val[0] < info[-1][0] or n_train < val_bars:
            raise ValueError(
                f"CPCV split {sp.index} (test groups {list(sp.test_groups)}): {n_train} training "
                f"rows and a last training run too short for the {val_bars}-bar selection block; "
                "use fewer --groups, a smaller --val-bars or a longer span"
            )
        plans.append(
            FoldPlan(
                sp.index,
                train,
                val,
                sp.tests[0],
                holes,
                purge_bars,
                sp.test_groups,
                sp.tests,
                sp.paths,
            )  # fmt: skip
        )
    return plans
