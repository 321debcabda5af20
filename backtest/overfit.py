"""How likely the selected configuration is overfit: PBO by CSCV, and val-to-OOS degradation.

Probability of backtest overfitting (``pbo``): Bailey, Borwein, Lopez de Prado, Zhu, "The
probability of backtest overfitting", J. Computational Finance 20(4) 2017, combinatorially
symmetric cross-validation (CSCV). The ``(T, N)`` matrix of per-bar returns of N configurations
(a study, a seed group, the ledger's trials on one val block) is cut into S row blocks of equal
length (the first ``T mod S`` rows are dropped). For each of the ``C(S, S/2)`` halvings, the
configuration with the best Sharpe on one half ("in sample") is ranked by its Sharpe on the other
half: relative rank ``w = rank / (N + 1)``, logit ``l = ln(w / (1 - w))``. PBO is the share of
halvings with ``l <= 0``: the in-sample winner is at or below the out-of-sample median. Pure
noise gives ~0.5 (for an even N exactly 0.5 in expectation), a real edge ~0. With it: the
probability that the in-sample winner loses money out of sample, and the slope of its OOS
Sharpe on its IS Sharpe (performance degradation, section 2.3 of the paper).

``degradation``: the same question across configurations and folds from their recorded val and
out-of-sample Sharpes (walk-forward): mean change, the OLS slope of OOS on val, Spearman's rank
correlation, and the share of configurations that lose out of sample.

Each result has ``sentence()``, one line for a report. Pure numpy + scipy.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

MAX_HALVINGS = 20_000  # C(16, 8) = 12,870: S <= 16 blocks


def column_sharpe(returns: np.ndarray) -> np.ndarray:
    """Per-period Sharpe of each column (mean / std, ddof 1); 0 for a constant column (a flat
    configuration ranks as 'no return', not as undefined)."""
    r = np.asarray(returns, dtype=np.float64)
    sd = r.std(axis=0, ddof=1)
    mu = r.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sd > 0, mu / np.where(sd > 0, sd, 1.0), 0.0)


@dataclass(frozen=True)
class PBOResult:
    """CSCV's outcome: PBO, the logits, and the in-sample winner's out-of-sample record."""

    pbo: float
    logits: np.ndarray  # one per halving
    n_trials: int
    n_blocks: int
    n_bars_used: int
    prob_oos_loss: float  # share of halvings where the IS winner's OOS Sharpe < 0
    degradation_slope: float  # OLS slope of the winner's OOS Sharpe on its IS Sharpe
    is_sharpe: np.ndarray  # the winner's per-period IS Sharpe, per halving
    oos_sharpe: np.ndarray  # its per-period OOS Sharpe, per halving

    def sentence(self) -> str:
        """One line for a report."""
        return (
            f"probability the selected configuration is overfit (PBO, CSCV over "
            f"{self.n_trials} configurations, {self.n_blocks} blocks): {self.pbo:.2f}; the "
            f"in-sample best lost money out of sample in {self.prob_oos_loss:.0%} of the "
            f"{len(self.logits)} halvings"
        )


def pbo(returns: np.ndarray, n_blocks: int = 16) -> PBOResult:
    """PBO by CSCV of the ``(T, N)`` per-bar ``returns`` (columns = configurations) over
    ``n_blocks`` (even, >= 2) row blocks; see the module doc."""
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 2 or r.shape[1] < 2:
        raise ValueError(f"PBO needs a (bars, configurations >= 2) matrix, got shape {r.shape}")
    if not np.isfinite(r).all():
        raise ValueError("PBO: the returns matrix holds NaN or infinite values")
    s = int(n_blocks)
    if s < 2 or s % 2:
        raise ValueError(f"PBO: n_blocks {n_blocks} must be even and >= 2")
    if math.comb(s, s // 2) > MAX_HALVINGS:
        raise ValueError(f"PBO: {s} blocks make {math.comb(s, s // 2):,} halvings; use <= 16")
    t, n = r.shape
    size = t // s
    if size < 2:
        raise ValueError(f"PBO: {t} bars cannot make {s} blocks of >= 2 bars; use fewer blocks")
    blocks = r[t - size * s :].reshape(s, size, n)  # the first T mod S rows are dropped
    # per-block sums and sums of squares: each half's Sharpe from block statistics
    b_sum, b_sq = blocks.sum(axis=1), (blocks**2).sum(axis=1)
    halves = np.array(list(itertools.combinations(range(s), s // 2)))
    masks = np.zeros((len(halves), s))  # (H, S): 1 = the block is in sample
    masks[np.arange(len(halves))[:, None], halves] = 1.0
    m = size * (s // 2)
    sh_is = _sharpe_from_moments(masks @ b_sum, masks @ b_sq, m)  # (H, N)
    sh_oos = _sharpe_from_moments((1 - masks) @ b_sum, (1 - masks) @ b_sq, m)
    best = np.argmax(sh_is, axis=1)  # the in-sample winner of each halving
    rows = np.arange(len(halves))
    is_best, oos_best = sh_is[rows, best], sh_oos[rows, best]
    # its out-of-sample rank among the N (1 = worst; ties get the average rank, as rankdata)
    below = (sh_oos < oos_best[:, None]).sum(axis=1)
    equal = (sh_oos == oos_best[:, None]).sum(axis=1)
    w = (below + (equal + 1) / 2) / (n + 1)
    logits = np.log(w / (1 - w))
    slope = float(np.polyfit(is_best, oos_best, 1)[0]) if np.ptp(is_best) > 0 else float("nan")
    return PBOResult(
        pbo=float(np.mean(logits <= 0)),
        logits=logits,
        n_trials=n,
        n_blocks=s,
        n_bars_used=size * s,
        prob_oos_loss=float(np.mean(oos_best < 0)),
        degradation_slope=slope,
        is_sharpe=is_best,
        oos_sharpe=oos_best,
    )


def _sharpe_from_moments(total: np.ndarray, total_sq: np.ndarray, m: int) -> np.ndarray:
    """Per-period Sharpe (ddof 1) of m returns from their sum and sum of squares; 0 if flat."""
    mean = total / m
    var = np.maximum(total_sq - m * mean**2, 0.0) / (m - 1)
    sd = np.sqrt(var)
    tiny = 1e-15 * np.maximum(np.abs(mean), 1e-300)  # rounding noise of a constant column
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sd > tiny, mean / np.where(sd > tiny, sd, 1.0), 0.0)


@dataclass(frozen=True)
class Degradation:
    """Val -> out-of-sample Sharpe across configurations (and folds)."""

    n: int
    mean_val: float
    mean_oos: float
    slope: float  # OLS slope of OOS on val Sharpe (1 = holds, 0 = no information, < 0 = worse)
    rank_corr: float  # Spearman's rho between val and OOS Sharpe
    share_oos_loss: float  # configurations with OOS Sharpe < 0

    def sentence(self) -> str:
        """One line for a report."""
        return (
            f"validation to out of sample: Sharpe {self.mean_val:+.2f} -> {self.mean_oos:+.2f} "
            f"on average over {self.n} configurations (slope {self.slope:+.2f}, rank "
            f"correlation {self.rank_corr:+.2f}; {self.share_oos_loss:.0%} lost out of sample)"
        )


def degradation(val_sharpe: np.ndarray, oos_sharpe: np.ndarray) -> Degradation:
    """Compare paired val and OOS Sharpes (same units, e.g. annualised); NaN pairs (an
    always-flat configuration) count as Sharpe 0."""
    v = np.nan_to_num(np.asarray(val_sharpe, dtype=np.float64), nan=0.0)
    o = np.nan_to_num(np.asarray(oos_sharpe, dtype=np.float64), nan=0.0)
    if v.shape != o.shape or v.ndim != 1 or v.size < 1:
        raise ValueError("degradation needs two 1-D arrays of equal length >= 1")
    varies = v.size > 1 and np.ptp(v) > 0
    slope = float(np.polyfit(v, o, 1)[0]) if varies else float("nan")
    rho = float(sps.spearmanr(v, o)[0]) if varies and np.ptp(o) > 0 else float("nan")
    return Degradation(
        n=int(v.size),
        mean_val=float(v.mean()),
        mean_oos=float(o.mean()),
        slope=slope,
        rank_corr=rho,
        share_oos_loss=float(np.mean(o < 0)),
    )
