"""Walk-forward data and fold plans: rows for training, selection and out-of-sample testing.

Fold layout (``plan_folds``), all in bars (rows of the cleaned series), built on
``envs.splits.walk_forward_folds`` over the span ``[span_lo, span_hi)`` (``python -m
evaluate.walkforward`` uses the preset's train+val+test period by default), anchored
(expanding: every fold's information set starts at ``span_lo``) or rolling (``info_bars``, the
``--train-span``: the information set is the last ``info_bars`` rows before the purge)::

    span_lo .......... inner train .......... | purge | val (selection) | purge | test k |
                                                                       ^ walk_forward_folds' purge

* ``test``: fold k's out-of-sample decision rows ``[s_k, s_k + test_bars)``; the K test blocks
  tile the end of the span, so the stitched out-of-sample curve covers the last
  ``K * test_bars`` rows without a hole.
* Fold k's information set is ``walk_forward_folds``' training rows: ``[span_lo, s_k - purge)``
  minus the embargoed rows after every earlier test block (``holes``).
* ``val``: the last ``val_bars`` of those rows; the only rows that choose anything (PPO's
  best checkpoint, the supervised early stopping and logit correction, the momentum lookback).
* ``train``: the rows before ``val`` minus another ``purge_bars`` (labels and rewards of the
  last training rows must not reach into val), minus the holes. The fold's feature normaliser
  is fitted on these rows only.

A decision row t is decided at bar t's close and its outcome is realised over bar t + 1, so the
env split of decision rows ``[a, b)`` is ``(a, b + 1)`` (``env_split``): the fold test blocks then
hold consecutive bars and fold k's last held bar is fold k+1's first decision bar.

``WFData`` holds the cleaned candles, the raw (unnormalised) features and funding of a series and
builds an env ``MarketData`` for any fitted normaliser, exactly as ``envs.load_market`` does
(``normaliser.transform(raw)`` -> ``MarketData.build``), but without its in-process cache (one
normaliser per fold) and for synthetic candles in unit tests.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from envs.data import load_clean, load_funding
from envs.data.errors import DataValidationError
from envs.features import RobustNormaliser, compute_features, valid_rows
from envs.market import MarketData
from envs.presets import get_preset
from envs.splits import walk_forward_folds

Range = tuple[int, int]


@dataclass(frozen=True)
class WFData:
    """One series for walk-forward: cleaned candles, raw features, funding (see module doc)."""

    preset: str  # preset whose configs and costs apply (agents/configs/<algo>.yml entries)
    candles: pd.DataFrame
    raw: pd.DataFrame  # envs.features.compute_features output (NaN = warm-up)
    funding: pd.Series | None
    feature_set: str
    freq: str = "1h"
    periods_per_year: float = 8760.0
    data_files: tuple[Path, ...] = ()

    @classmethod
    def from_preset(cls, preset: str, feature_set: str) -> WFData:
        """The shipped real data of ``preset`` (sha256-checked, cleaned, with funding features)."""
        p = get_preset(preset)
        candles, _report = load_clean(p)  # any market key (envs.marketspec)
        funding = load_funding(p) if p.funding is not None else None
        raw = compute_features(candles, feature_set, funding=funding, freq=p.freq)
        files = tuple(f.path for f in (p.candles, p.funding) if f is not None)
        return cls(
            preset, candles, raw, funding, feature_set, p.freq, float(p.periods_per_year), files
        )

    @property
    def index(self) -> pd.DatetimeIndex:
        """The bar open times of the whole file."""
        return self.candles.index  # type: ignore[return-value]

    @property
    def n_rows(self) -> int:
        """Number of rows (bars) of the file."""
        return len(self.candles)

    def fit_normaliser(self, rows: tuple[Range, ...]) -> Any:
        """A ``RobustNormaliser`` fitted on the valid raw-feature rows inside ``rows`` only."""
        mask: np.ndarray = np.zeros(self.n_rows, dtype=bool)
        for lo, hi in rows:
            mask[lo:hi] = True
        mask &= valid_rows(self.raw)
        if not mask.any():
            raise DataValidationError(
                f"no valid feature rows in {rows} to fit the normaliser on: the span is too short "
                "for the features' warm-up; give more data or a larger --min-train-bars"
            )
        return RobustNormaliser().fit(self.raw, mask)

    def market(self, normaliser: Any, window: int) -> MarketData:
        """The env's arrays with ``normaliser`` (as ``envs.load_market`` builds them)."""
        values = normaliser.transform(self.raw)
        return MarketData.build(
            self.candles,
            values,
            self.funding,
            window=window,
            freq=self.freq,
            feature_names=tuple(self.raw.columns),
        )

    def span(self, start: str | None, end: str | None) -> Range:
        """Rows whose bar opens in ``[start, end)`` (UTC dates; None = the series' first/last)."""
        idx = self.index
        lo = 0 if start is None else int(idx.searchsorted(pd.Timestamp(start, tz="UTC")))
        hi = len(idx) if end is None else int(idx.searchsorted(pd.Timestamp(end, tz="UTC")))
        if hi <= lo:
            raise ValueError(
                f"span [{start}, {end}) holds no bars of {self.preset} ({idx[0]} .. {idx[-1]})"
            )
        return lo, hi


@dataclass(frozen=True)
class FoldPlan:
    """Rows of one walk-forward fold (absolute row indices, half-open; see module doc)."""

    index: int
    train: tuple[Range, ...]  # inner training rows (fit, normaliser)
    val: Range  # selection rows
    test: Range  # out-of-sample decision rows
    holes: tuple[Range, ...]  # embargoed rows inside [train start, val end)
    purge_bars: int
    groups: tuple[int, ...] = ()  # CPCV: the groups this split tests (``tests`` their rows)
    tests: tuple[Range, ...] = ()
    paths: tuple[int, ...] = ()  # CPCV: the backtest path each tested group feeds

    @property
    def test_blocks(self) -> dict[int, Range]:
        """Test rows by group (a walk-forward fold: its one test block as group -1)."""
        return dict(zip(self.groups, self.tests, strict=True)) if self.groups else {-1: self.test}

    @property
    def n_train(self) -> int:
        """Rows of the fold's training blocks."""
        return sum(hi - lo for lo, hi in self.train)

    @property
    def train_span(self) -> Range:
        """First and last row of the fold's training blocks."""
        return self.train[0][0], self.train[-1][1]

    def describe(self, index: pd.DatetimeIndex) -> dict[str, Any]:
        """Rows and bar-open dates ``[start, end)`` of every part, for reports."""

        def dates(r: Range) -> list[str]:
            end = index[r[1]] if r[1] < len(index) else index[-1] + (index[-1] - index[-2])
            return [str(index[r[0]]), str(end)]

        return {
            "fold": self.index,
            "train_rows": [list(r) for r in self.train],
            "n_train": self.n_train,
            "train": dates(self.train_span),
            "val_rows": list(self.val),
            "val": dates(self.val),
            "test_rows": list(self.test),
            "test": dates(self.test),
            "holes": [list(h) for h in self.holes],
            "purge_bars": self.purge_bars,
        }


def _clip(ranges: list[Range], hi: int) -> list[Range]:
    return [(a, min(b, hi)) for a, b in ranges if a < min(b, hi)]


def plan_folds(
    span: Range,
    n_folds: int,
    *,
    val_bars: int,
    purge_bars: int = 0,
    embargo_bars: int = 0,
    test_bars: int | None = None,
    min_train_bars: int | None = None,
    info_bars: int | None = None,
) -> list[FoldPlan]:
    """Purged, embargoed folds over ``span`` with an inner selection block.

    ``min_train_bars`` (default ``2 * val_bars + purge_bars``) counts the fold's information
    set (train + purge + val); ``test_bars`` defaults to what ``walk_forward_folds`` gives.
    ``info_bars`` (None: anchored, expanding windows) makes the windows rolling: every fold's
    information set is the last ``info_bars`` rows before its test block's purge.
    Raises ValueError when a fold keeps fewer than ``val_bars`` inner training rows.
    """
    lo, hi = span
    if val_bars < 1:
        raise ValueError(f"val_bars must be >= 1, got {val_bars}")
    need = 2 * val_bars + purge_bars
    min_train = need if min_train_bars is None else max(int(min_train_bars), need)
    if info_bars is not None:
        if info_bars < need:
            raise ValueError(
                f"a rolling window of {info_bars} bars cannot hold {val_bars} training rows, "
                f"a {purge_bars}-bar purge and the {val_bars}-bar selection block; give a "
                "longer --train-span or a smaller --val-bars"
            )
        if test_bars is None:  # the blocks laid out as if the first window were full
            test_bars = (hi - lo - max(min_train, int(info_bars)) - purge_bars) // max(n_folds, 1)
        # a rolling window loses the purge and embargo bars it straddles: it must keep the rest
        min_train = max(min_train, int(info_bars) - purge_bars - embargo_bars)
    folds = walk_forward_folds(
        hi - lo,
        n_folds,
        test_bars=test_bars,
        min_train_bars=min_train,
        purge_bars=purge_bars,
        embargo_bars=embargo_bars,
        expanding=info_bars is None,
        train_bars=None if info_bars is None else int(info_bars),
    )
    plans = []
    for f in folds:
        info = [(a + lo, b + lo) for a, b in f.train_ranges]
        if not info:
            raise ValueError(f"fold {f.index}: no information rows before its test block")
        first, end = info[0][0], info[-1][1]
        holes = tuple((b, a2) for (_, b), (a2, _) in zip(info[:-1], info[1:], strict=True))
        val = (end - val_bars, end)
        train = tuple(_clip(info, val[0] - purge_bars))
        plan = FoldPlan(f.index, train, val, (f.test[0] + lo, f.test[1] + lo), holes, purge_bars)
        if plan.n_train < val_bars or first >= val[0]:
            raise ValueError(
                f"fold {f.index}: only {plan.n_train} inner training rows before its {val_bars}-bar "
                f"selection block (purge {purge_bars}); use fewer folds, a smaller --val-bars or "
                "--test-bars, or a longer span"
            )
        plans.append(plan)
    return plans


def env_split(rows: Range, n_rows: int) -> Range:
    """Env split of decision rows ``[a, b)``: ``(a, min(b + 1, n_rows))`` (see module doc)."""
    return rows[0], min(rows[1] + 1, n_rows)


def mask_rows(market: MarketData, holes: tuple[Range, ...]) -> MarketData:
    """``market`` with ``obs_ok`` False on ``holes``: no decision at, or holding over, a hole row
    (the env requires ``obs_ok`` at t and t + 1), and no supervised sample there."""
    if not holes:
        return market
    ok = market.obs_ok.copy()
    for a, b in holes:
        ok[a:b] = False
    return dataclasses.replace(market, obs_ok=ok)
