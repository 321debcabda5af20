"""Aggregates over seeds that do not flatter: IQM, stratified bootstrap CI, probability of
improvement, median, worst seed and collapsed seeds (numpy + scipy only; backtest core layer).

The estimators follow rliable (Agarwal et al. 2021, "Deep RL at the edge of the statistical
precipice"), written out here because rliable cannot be installed beside pandas 3 (it pins
``arch<8``) and the backtest core must stay numpy-only. rliable is not a dependency: the tests
check these estimators against independent scipy computations instead (``mannwhitneyu`` for
P(X > Y), ``scipy.stats.bootstrap`` for the interval):

* IQM: ``scipy.stats.trim_mean(scores, 0.25)`` over all runs (rliable ``aggregate_iqm``): the
  mean of the middle 50 % (with 3 seeds nothing is trimmed, with 4 or 5 one seed per side).
* Stratified bootstrap: resample the runs *within each task* (column) with replacement; one
  market is one task. Percentile interval (rliable's default ``method="percentile"``).
* Probability of improvement ``P(X > Y)``: per task the Mann-Whitney U statistic over ``m * n``,
  i.e. ``P(X > Y) + 0.5 P(X = Y)`` over every pair, averaged over tasks (rliable
  ``probability_of_improvement``); its interval resamples X and Y independently
  (rliable's ``StratifiedIndependentBootstrap``).

A seed that stayed flat has no Sharpe (zero variance): it counts as Sharpe 0 and is flagged
collapsed, never dropped (dropping it reports "mean of 2 seeds" for three trained). A seed that
held any other single position throughout (always long, i.e. buy-and-hold, or always short) keeps
its Sharpe, which is real, and is flagged collapsed and named (``backtest.collapse``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats as sps

from backtest.collapse import collapse_name

COLLAPSE_EXPOSURE = 1e-6  # a seed whose exposure (share of bars in a position) is below: flat


@dataclass(frozen=True)
class TrialCount:
    """How many configurations were tried before this selection, for the deflated Sharpe.

    ``sharpe_var`` is the variance of the trials' ANNUALISED Sharpes; ``source`` says where the
    count came from (a ledger file, the ``--n-trials`` flag, the policies given), for the report.
    """

    n: int
    sharpe_var: float
    source: str


def _scores(values: np.ndarray) -> np.ndarray:
    """``(runs,)`` or ``(runs, tasks)`` -> float ``(runs, tasks)``."""
    v = np.asarray(values, dtype=np.float64)
    return v.reshape(-1, 1) if v.ndim == 1 else v


def iqm(values: np.ndarray) -> float:
    """Interquartile mean over every run (and task): the 25 %-trimmed mean."""
    v = _scores(values).ravel()
    return float(sps.trim_mean(v, proportiontocut=0.25)) if v.size else float("nan")


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """``P(X > Y) + 0.5 P(X = Y)`` over all pairs of runs, averaged over tasks.

    ``x``: ``(m,)`` or ``(m, tasks)``; ``y``: ``(n,)`` or ``(n, tasks)``; one value of ``y``
    (a deterministic baseline) compares every run of ``x`` with it.
    """
    a, b = _scores(x), _scores(y)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x has {a.shape[1]} tasks, y has {b.shape[1]}")
    if a.shape[0] == 0 or b.shape[0] == 0:
        return float("nan")
    gt = a[:, None, :] > b[None, :, :]
    eq = a[:, None, :] == b[None, :, :]
    return float(np.mean(gt + 0.5 * eq))


def _resample(scores: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_boot, runs, tasks)``: runs drawn with replacement inside each task (stratified)."""
    runs, tasks = scores.shape
    idx = rng.integers(0, runs, size=(n_boot, runs, tasks))
    return np.take_along_axis(scores[None, :, :], idx, axis=1)


def _percentile_ci(samples: np.ndarray, level: float) -> tuple[float, float]:
    lo, hi = np.percentile(samples, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def iqm_ci(
    values: np.ndarray, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Stratified percentile bootstrap interval of the IQM (nan with fewer than 2 runs)."""
    s = _scores(values)
    if s.shape[0] < 2:
        return float("nan"), float("nan")
    boots = _resample(s, n_boot, np.random.default_rng(seed))
    trimmed = sps.trim_mean(boots.reshape(n_boot, -1), proportiontocut=0.25, axis=1)
    return _percentile_ci(trimmed, level)


def probability_of_improvement_ci(
    x: np.ndarray, y: np.ndarray, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile interval of ``P(X > Y)`` resampling X and Y independently within each task."""
    a, b = _scores(x), _scores(y)
    if a.shape[0] + b.shape[0] < 3 or a.shape[0] == 0 or b.shape[0] == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    ba, bb = _resample(a, n_boot, rng), _resample(b, n_boot, rng)
    gt = ba[:, :, None, :] > bb[:, None, :, :]
    eq = ba[:, :, None, :] == bb[:, None, :, :]
    poi = np.mean(gt + 0.5 * eq, axis=(1, 2, 3))
    return _percentile_ci(poi, level)


def seed_sharpes(
    sharpe: np.ndarray, exposure: np.ndarray, constant: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(Sharpe with flat seeds as 0, collapsed flags)``.

    Flat: the seed never held a position (exposure below ``COLLAPSE_EXPOSURE``) or its Sharpe is
    undefined (no return variance); its Sharpe counts as 0. ``constant`` (per seed, NaN when it
    traded; ``backtest.collapse.constant_position``) also flags a seed that held one non-zero
    position throughout (always long or short): collapsed, its real Sharpe kept. Nothing is
    dropped.
    """
    s = np.asarray(sharpe, dtype=np.float64)
    e = np.asarray(exposure, dtype=np.float64)
    flat = ~np.isfinite(s) | (np.nan_to_num(e, nan=0.0) < COLLAPSE_EXPOSURE)
    collapsed = flat.copy()
    if constant is not None:
        collapsed |= np.isfinite(np.asarray(constant, dtype=np.float64))
    return np.where(flat, 0.0, s), collapsed


def collapse_names(
    sharpe: np.ndarray, exposure: np.ndarray, constant: np.ndarray | None = None
) -> list[str | None]:
    """Per seed: how it collapsed (``"always flat"``, ``"always long: identical to
    buy-and-hold"``, ``"always short"``...), None for a seed that traded."""
    _, collapsed = seed_sharpes(sharpe, exposure, constant)
    c = np.full(collapsed.shape, np.nan) if constant is None else np.asarray(constant, float)
    out: list[str | None] = []
    for k, hit in enumerate(collapsed):
        name = collapse_name(float(c[k])) if np.isfinite(c[k]) else None
        out.append((name or "always flat") if hit else None)
    return out


@dataclass(frozen=True)
class SeedSummary:
    """One method's seeds reduced without flattering (Sharpes annualised)."""

    method: str
    seeds: list[int | None]
    sharpes: list[float]  # per seed, an always-flat seed as 0
    collapsed: list[bool]
    iqm: float
    iqm_low: float
    iqm_high: float
    median: float
    worst: float
    worst_seed: int | None
    n_collapsed: int
    collapses: list[str | None] = field(default_factory=list)  # per seed, None: it traded
    p_improve: dict[str, float] = field(default_factory=dict)  # vs benchmark name
    p_improve_ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    level: float = 0.95
    n_boot: int = 2000

    @property
    def n_seeds(self) -> int:
        """How many seeds the aggregate covers."""
        return len(self.sharpes)


def summarize_seeds(
    method: str,
    seeds: list[int | None],
    sharpe: np.ndarray,
    exposure: np.ndarray,
    versus: dict[str, np.ndarray] | None = None,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    constant: np.ndarray | None = None,
) -> SeedSummary:
    """IQM + CI, median, worst, collapsed count and ``P(method > other)`` for each ``versus``
    entry (other: its per-seed Sharpes, flat as 0 by the caller; one value for a baseline).

    ``constant``: each seed's constant position (NaN when it traded), so a seed that was always
    long or short counts as collapsed too (``seed_sharpes``)."""
    values, collapsed = seed_sharpes(sharpe, exposure, constant)
    lo, hi = iqm_ci(values, n_boot=n_boot, level=level, seed=seed)
    worst_k = int(np.argmin(values)) if values.size else -1
    p_imp: dict[str, float] = {}
    p_ci: dict[str, tuple[float, float]] = {}
    for name, other in (versus or {}).items():
        o = np.asarray(other, dtype=np.float64)
        p_imp[name] = probability_of_improvement(values, o)
        p_ci[name] = probability_of_improvement_ci(values, o, n_boot=n_boot, level=level, seed=seed)
    return SeedSummary(
        method=method,
        seeds=list(seeds),
        sharpes=[float(v) for v in values],
        collapsed=[bool(c) for c in collapsed],
        iqm=iqm(values),
        iqm_low=lo,
        iqm_high=hi,
        median=float(np.median(values)) if values.size else float("nan"),
        worst=float(values[worst_k]) if values.size else float("nan"),
        worst_seed=seeds[worst_k] if values.size else None,
        n_collapsed=int(collapsed.sum()),
        collapses=collapse_names(sharpe, exposure, constant),
        p_improve=p_imp,
        p_improve_ci=p_ci,
        level=level,
        n_boot=n_boot,
    )
