"""Date splits of a preset and purged walk-forward folds.

Date splits (``envs.presets``): half-open UTC intervals ``[start, end)`` on the
bar open time. ``split_index_range`` turns one into the integer row range
``[lo, hi)`` of a sorted index (the decision bars of that split; observation
windows may look back before ``lo``, which is the past, not a leak).

Walk-forward folds with purging and embargo (Lopez de Prado, *Advances in
Financial Machine Learning*, 2018, ch. 7.4: "Purged K-Fold CV"):

* Test blocks: ``n_folds`` contiguous blocks of ``test_bars`` rows ending at
  ``n_bars`` (the most recent data is always tested); block k is
  ``[s_k, s_k + test_bars)`` with ``s_k = n_bars - (n_folds - k) * test_bars``.
* Training for fold k only uses rows before ``s_k`` (walk-forward: never the
  future). ``expanding=True``: it starts at row 0, so earlier test blocks
  become later training. ``expanding=False``: a rolling window of the
  ``train_bars`` rows before the purge (default ``min_train_bars``).
* Purge: the last ``purge_bars`` rows before ``s_k`` are removed from training.
  A training row t whose label looks ``h`` bars ahead (e.g. a forward return
  over t+1..t+h) overlaps the test block when ``t >= s_k - h``; set
  ``purge_bars >= h`` to drop every such row (LdP 7.4.1).
* Embargo: the ``embargo_bars`` rows right after every *earlier* test block
  ``j < k`` (``[e_j, e_j + embargo_bars)``, ``e_j`` its end) are removed from
  fold k's training. These rows' features look back into test block j, whose
  performance was already reported, so serial correlation would let the model
  fit what it was scored on (LdP 7.4.2 embargoes the rows after a test set for
  the same reason). For j = k - 1 those rows lie in test block k already.
* ``min_train_bars``: every fold must keep at least this many training rows
  after purge and embargo, else ValueError (no silently empty fold).

Training rows are given as sorted disjoint half-open ranges
(``Fold.train_ranges``; embargo can split them) and as an index array
(``Fold.train_indices()``); the test rows as one range ``Fold.test``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from envs.presets import Preset, get_preset

Range = tuple[int, int]


def _preset(preset_or_name: Preset | str) -> Preset:
    """A Preset from itself, a preset name, or any market spec (``envs.markets``: path, catalog)."""
    return get_preset(preset_or_name)  # names, market keys (envs.marketspec) and Presets


def split_bounds(preset_or_name: Preset | str, split: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``(start, end)`` UTC timestamps of ``split``, half-open ``[start, end)`` on bar open time."""
    preset = _preset(preset_or_name)
    try:
        start, end = preset.splits[split]
    except KeyError:
        raise KeyError(
            f"unknown split {split!r} for preset {preset.name!r}; valid splits: "
            f"{', '.join(preset.splits)}"
        ) from None
    return pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC")


def split_index_range(index: pd.DatetimeIndex, preset: Preset | str, split: str) -> Range:
    """Integer row range ``[lo, hi)`` of ``index`` whose bars open inside ``split``.

    ``index`` must be a sorted tz-aware DatetimeIndex (a tz-naive one is refused
    rather than guessed to be UTC).
    """
    if not isinstance(index, pd.DatetimeIndex):
        raise TypeError(f"index must be a DatetimeIndex, got {type(index).__name__}")
    if index.tz is None:
        raise ValueError("index is tz-naive; localise it to UTC (index.tz_localize('UTC'))")
    if not index.is_monotonic_increasing:
        raise ValueError("index must be sorted ascending")
    start, end = split_bounds(preset, split)
    lo = int(index.searchsorted(start, side="left"))
    hi = int(index.searchsorted(end, side="left"))
    return lo, hi


def date_range_with_warmup(
    index: pd.DatetimeIndex, start: str | pd.Timestamp, end: str | pd.Timestamp | None, warmup: int
) -> tuple[int, int, int]:
    """Rows for evaluating ``[start, end)`` of ``index``: ``(first warm-up row, lo, hi)``.

    Features at row ``lo`` need the ``warmup`` bars before it (``warmup_bars(set,
    bar)`` plus the observation window): they come from before ``start``, never
    after it. Compute features on ``index[first:hi]`` and evaluate rows
    ``lo - first`` onwards. Fewer than ``warmup`` earlier rows (or a gap among
    them) leave the first rows invalid, which the env and backtests skip.
    """
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0 bars, got {warmup}")
    lo = int(index.searchsorted(pd.Timestamp(start, tz="UTC"), side="left"))
    hi = len(index) if end is None else int(index.searchsorted(pd.Timestamp(end, tz="UTC")))
    if hi <= lo:
        raise ValueError(
            f"no bars in [{start}, {end or 'end'}): the data span {index[0]} .. {index[-1]}"
        )
    return max(0, lo - warmup), lo, hi


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: training row ranges and the test row range (half-open)."""

    index: int
    train_ranges: tuple[Range, ...]
    test: Range

    def train_indices(self) -> np.ndarray:
        """All training rows, sorted (int64)."""
        if not self.train_ranges:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([np.arange(lo, hi, dtype=np.int64) for lo, hi in self.train_ranges])

    def test_indices(self) -> np.ndarray:
        return np.arange(*self.test, dtype=np.int64)

    @property
    def n_train(self) -> int:
        return sum(hi - lo for lo, hi in self.train_ranges)

    @property
    def train_span(self) -> Range:
        """``(first training row, last training row + 1)``; holes are in ``train_ranges``."""
        return self.train_ranges[0][0], self.train_ranges[-1][1]


def _subtract(ranges: list[Range], hole: Range) -> list[Range]:
    out: list[Range] = []
    for lo, hi in ranges:
        if hole[1] <= lo or hole[0] >= hi:
            out.append((lo, hi))
            continue
        if lo < hole[0]:
            out.append((lo, hole[0]))
        if hole[1] < hi:
            out.append((hole[1], hi))
    return out


def walk_forward_folds(
    n_bars: int,
    n_folds: int,
    *,
    test_bars: int | None = None,
    min_train_bars: int = 1,
    purge_bars: int = 0,
    embargo_bars: int = 0,
    expanding: bool = True,
    train_bars: int | None = None,
) -> list[Fold]:
    """Purged, embargoed walk-forward folds over rows ``0 .. n_bars - 1`` (see module doc).

    ``test_bars`` defaults to ``(n_bars - min_train_bars - purge_bars) // n_folds``.
    ``train_bars`` (rolling window length, ``expanding=False`` only) defaults to
    ``min_train_bars``. Folds are returned in time order.
    """
    for name, value in (
        ("n_bars", n_bars),
        ("n_folds", n_folds),
        ("min_train_bars", min_train_bars),
    ):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    for name, value in (("purge_bars", purge_bars), ("embargo_bars", embargo_bars)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    if expanding and train_bars is not None:
        raise ValueError("train_bars sets a rolling window; pass expanding=False to use it")
    if test_bars is None:
        test_bars = (n_bars - min_train_bars - purge_bars) // n_folds
    if test_bars < 1:
        raise ValueError(
            f"no room for {n_folds} test blocks: n_bars={n_bars}, min_train_bars={min_train_bars}, "
            f"purge_bars={purge_bars} leave test_bars={test_bars}"
        )
    window = min_train_bars if train_bars is None else train_bars
    first_test = n_bars - n_folds * test_bars
    if first_test < 0:
        raise ValueError(f"{n_folds} test blocks of {test_bars} rows exceed n_bars={n_bars}")
    folds: list[Fold] = []
    for k in range(n_folds):
        s = first_test + k * test_bars
        train_hi = s - purge_bars
        train_lo = 0 if expanding else max(0, train_hi - window)
        ranges: list[Range] = [(train_lo, train_hi)] if train_hi > train_lo else []
        for j in range(k):
            e_j = first_test + (j + 1) * test_bars
            if embargo_bars:
                ranges = _subtract(ranges, (e_j, e_j + embargo_bars))
        fold = Fold(k, tuple(ranges), (s, s + test_bars))
        if fold.n_train < min_train_bars:
            raise ValueError(
                f"fold {k} (test rows [{s}, {s + test_bars})) keeps {fold.n_train} training rows "
                f"after purge={purge_bars}/embargo={embargo_bars}; min_train_bars={min_train_bars}. "
                "Use fewer folds, a smaller test_bars, or more data."
            )
        folds.append(fold)
    return folds


def folds_to_timestamps(index: pd.DatetimeIndex, folds: list[Fold]) -> list[dict[str, object]]:
    """Describe folds by bar open times: ``test`` and ``train`` as ``[start, end)`` pairs.

    ``end`` is the open time of the row after the range, or, at the end of the
    index, the last open time plus one bar step (inferred from the last two rows).
    """
    n = len(index)
    step = index[-1] - index[-2] if n > 1 else pd.Timedelta(0)

    def stamp(i: int) -> pd.Timestamp:
        return index[i] if i < n else index[-1] + step

    return [
        {
            "fold": f.index,
            "train": [(stamp(lo), stamp(hi)) for lo, hi in f.train_ranges],
            "test": (stamp(f.test[0]), stamp(f.test[1])),
        }
        for f in folds
    ]
