"""The stacked tree ensemble: four tree models -> LogisticRegression -> sigmoid calibration.

Base models: RandomForest, ExtraTrees, HistGradientBoosting, GradientBoosting. Their class
probabilities (3 each, 12 in all) are the meta-features of a multinomial LogisticRegression.

Time order is never shuffled:

* The train samples (sorted by decision bar) are cut into a **fit part** and a final
  **calibration holdout** (``calib_share`` of the samples). Fit-part samples whose label window
  ``t+1 .. t+horizon`` reaches the holdout's first bar are purged.
* Meta-features of the fit part are **out-of-fold**: the fit part is cut into ``n_folds + 1``
  contiguous blocks; for fold k the bases are fitted on blocks ``0..k-1`` (purged: only samples
  whose label ends before block k starts) and predict block k. Block 0 only ever trains. The
  meta-classifier is fitted on the OOF predictions of blocks ``1..n_folds``.
* The bases are then refitted on the whole (purged) fit part; the holdout's meta-features come
  from those refitted bases (exactly what inference sees), and ``CalibratedClassifierCV`` on a
  ``FrozenEstimator`` of the meta-classifier fits a sigmoid calibration on the holdout.

Sizes are modest (``TreeSizes``): btc1h trains in about a minute on 2 cores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from lab.config import doc

CLASSES = np.array([0, 1, 2])  # SELL, HOLD, BUY (the env's action order)
BASE_NAMES = ("random_forest", "extra_trees", "hist_gradient_boosting", "gradient_boosting")


@dataclass(frozen=True)
class TreeSizes:
    """Model sizes; the defaults keep a btc1h fit near a minute on 2 cores."""

    n_estimators: int = field(default=60, metadata=doc("trees per forest (random + extra)"))
    max_depth: int = field(default=6, metadata=doc("depth of the forests' trees"))
    min_samples_leaf: int = field(default=100, metadata=doc("samples per leaf of the forests"))
    hgb_max_iter: int = field(default=60, metadata=doc("boosting rounds, hist gradient boosting"))
    gb_n_estimators: int = field(default=30, metadata=doc("boosting rounds, gradient boosting"))
    gb_max_depth: int = field(default=2, metadata=doc("depth of gradient boosting's trees"))
    gb_subsample: float = field(default=0.3, metadata=doc("row share per gradient boosting round"))

    def to_dict(self) -> dict[str, Any]:
        """The sizes as a plain dict."""
        return asdict(self)


def make_bases(sizes: TreeSizes, seed: int, n_jobs: int) -> list[Any]:
    """Fresh base estimators, in ``BASE_NAMES`` order, seeded."""
    forest = {
        "n_estimators": sizes.n_estimators,
        "max_depth": sizes.max_depth,
        "min_samples_leaf": sizes.min_samples_leaf,
        "n_jobs": n_jobs,
        "random_state": seed,
    }
    return [
        RandomForestClassifier(**forest),
        ExtraTreesClassifier(**forest),
        HistGradientBoostingClassifier(
            max_iter=sizes.hgb_max_iter, early_stopping=False, random_state=seed
        ),
        GradientBoostingClassifier(
            n_estimators=sizes.gb_n_estimators,
            max_depth=sizes.gb_max_depth,
            subsample=sizes.gb_subsample,
            random_state=seed,
        ),
    ]


def base_probs(bases: list[Any], x: np.ndarray) -> np.ndarray:
    """Meta-features ``(n, 3 * n_bases)``: each base's probabilities over all three classes
    (a class missing from a base's training data gets probability 0)."""
    cols = []
    for b in bases:
        p = np.zeros((len(x), len(CLASSES)))
        p[:, np.asarray(b.classes_, dtype=np.int64)] = b.predict_proba(x)
        cols.append(p)
    return np.concatenate(cols, axis=1)


def _fit_bases(x: np.ndarray, y: np.ndarray, sizes: TreeSizes, seed: int, n_jobs: int) -> list:
    bases = make_bases(sizes, seed, n_jobs)
    with threadpool_limits(n_jobs):  # OpenMP (HGB) on a shared machine: see predict_proba
        for b in bases:
            b.fit(x, y)
            if "n_jobs" in b.get_params():
                # predict on one thread: joblib threads add the trees' probabilities in a
                # varying order, so the last float bits (and so a tie-break) would vary by run
                b.set_params(n_jobs=1)
    return bases


def purged_blocks(t: np.ndarray, n_blocks: int) -> list[tuple[int, int]]:
    """``n_blocks`` contiguous ``[lo, hi)`` sample-index ranges of sorted ``t`` (time order)."""
    edges = np.linspace(0, len(t), n_blocks + 1).round().astype(int)
    return [(int(edges[i]), int(edges[i + 1])) for i in range(n_blocks)]


def oof_meta_features(
    x: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    horizon: int,
    n_folds: int,
    sizes: TreeSizes,
    seed: int,
    n_jobs: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold meta-features of blocks 1..n_folds (see module doc) and their sample indices."""
    blocks = purged_blocks(t, n_folds + 1)
    feats, rows = [], []
    for lo, hi in blocks[1:]:
        if hi <= lo:
            continue
        train = np.flatnonzero((np.arange(len(t)) < lo) & (t + horizon < t[lo]))  # purge
        if len(np.unique(y[train])) < 2:
            continue
        bases = _fit_bases(x[train], y[train], sizes, seed, n_jobs)
        feats.append(base_probs(bases, x[lo:hi]))
        rows.append(np.arange(lo, hi))
    if not feats:
        raise ValueError("too few train samples for out-of-fold meta-features")
    return np.concatenate(feats), np.concatenate(rows)


@dataclass
class TreeStack:
    """Fitted bases + the calibrated meta-classifier; ``predict_proba`` -> ``(n, 3)``."""

    bases: list[Any]
    calibrated: Any  # CalibratedClassifierCV(FrozenEstimator(LogisticRegression))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities of the stacked ensemble, (N, 3)."""
        with threadpool_limits(1):  # OpenMP pools oversubscribe a shared machine (HGB: 15x)
            meta = base_probs(self.bases, np.asarray(x, dtype=np.float32))
            p = np.zeros((len(x), len(CLASSES)))
            p[:, np.asarray(self.calibrated.classes_, dtype=np.int64)] = (
                self.calibrated.predict_proba(meta)
            )
        return p


def fit_stack(
    x: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    horizon: int,
    *,
    sizes: TreeSizes | None = None,
    seed: int = 0,
    n_jobs: int = 2,
    n_folds: int = 2,
    calib_share: float = 0.15,
) -> TreeStack:
    """Fit the stack on samples ``x (n, F)``, labels ``y`` and decision bars ``t`` (ascending)."""
    sizes = sizes or TreeSizes()
    t = np.asarray(t, dtype=np.int64)
    if np.any(np.diff(t) < 0):
        raise ValueError("samples must be in time order (decision bars ascending)")
    n_cal = max(int(round(len(t) * calib_share)), 1)
    cal_lo = len(t) - n_cal
    fit_idx = np.flatnonzero((np.arange(len(t)) < cal_lo) & (t + horizon < t[cal_lo]))
    xf, yf, tf = x[fit_idx], y[fit_idx], t[fit_idx]
    meta_x, meta_rows = oof_meta_features(xf, yf, tf, horizon, n_folds, sizes, seed, n_jobs)
    meta = LogisticRegression(max_iter=1000)
    meta.fit(meta_x, yf[meta_rows])
    bases = _fit_bases(xf, yf, sizes, seed, n_jobs)
    calibrated = CalibratedClassifierCV(FrozenEstimator(meta), method="sigmoid")
    calibrated.fit(base_probs(bases, x[cal_lo:]), y[cal_lo:])
    return TreeStack(bases, calibrated)
