"""Significance of Sharpe ratios: PSR, DSR, block-bootstrap intervals, paired tests, seed CIs.

Pure numpy + scipy.stats (distributions only). Sharpe ratios inside PSR/DSR are **per period**
(not annualised): ``mean(r) / std(r, ddof=1)`` of simple returns, as in the papers. Bootstrap
intervals are reported **annualised** (times ``sqrt(periods_per_year)``), like the metrics table.

References:
* Bailey, D. H. and López de Prado, M. (2012), "The Sharpe ratio efficient frontier",
  Journal of Risk 15(2): the probabilistic Sharpe ratio (PSR).
* Bailey, D. H. and López de Prado, M. (2014), "The deflated Sharpe ratio", Journal of Portfolio
  Management 40(5): the DSR and the expected maximum Sharpe of N trials.
* Politis, D. N. and Romano, J. P. (1994), "The stationary bootstrap", JASA 89(428).
* Ledoit, O. and Wolf, M. (2008), "Robust performance hypothesis testing with the Sharpe ratio":
  paired bootstrap of the Sharpe difference on the same resampled indices.
* Memmel, C. (2003), "Performance hypothesis testing with the Sharpe ratio" (corrected
  Jobson-Korkie test; assumes iid normal returns, reported alongside the bootstrap).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from backtest.metrics import sharpe_ratio

EULER_GAMMA = 0.5772156649015329
# Rows of resampled indices generated at once: bounds memory to ~4M int64 (32 MB) per array per chunk.
_CHUNK_CELLS = 4_000_000


def _returns(r: object, name: str = "returns") -> np.ndarray:
    arr = np.asarray(r, dtype=np.float64)
    if arr.ndim != 1 or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be a 1-D array of finite floats (shape {arr.shape})")
    return arr


def per_period_sharpe(returns: np.ndarray) -> float:
    """``mean / std(ddof=1)``; nan for a constant or too short series."""
    return sharpe_ratio(_returns(returns), 1.0)  # the one Sharpe, not annualised


def psr_from_moments(
    sharpe: float, n: int, skew: float, kurtosis: float, sharpe_benchmark: float = 0.0
) -> float:
    """PSR from per-period moments (eq. of Bailey & López de Prado 2012)::

        PSR = Phi( (SR - SR*) sqrt(n - 1) / sqrt(1 - skew SR + (kurtosis - 1) / 4 SR^2) )

    ``kurtosis`` is the raw (non-excess) kurtosis: 3 for a normal distribution.
    """
    if n < 2 or not np.isfinite(sharpe):
        return float("nan")
    var_term = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if not var_term > 0:
        return float("nan")
    z = (sharpe - sharpe_benchmark) * np.sqrt(n - 1.0) / np.sqrt(var_term)
    return float(sps.norm.cdf(z))


def probabilistic_sharpe_ratio(returns: np.ndarray, sharpe_benchmark: float = 0.0) -> float:
    """Probability that the true per-period Sharpe exceeds ``sharpe_benchmark`` (per period),
    with the sample skew and raw kurtosis (biased moment estimators, scipy's defaults)."""
    r = _returns(returns)
    sr = per_period_sharpe(r)
    if np.isnan(sr):
        return float("nan")
    skew = float(sps.skew(r))
    kurt = float(sps.kurtosis(r, fisher=False))
    return psr_from_moments(sr, r.size, skew, kurt, sharpe_benchmark)


def expected_max_sharpe(n_trials: int, trials_sharpe_var: float) -> float:
    """Expected maximum Sharpe of ``n_trials`` independent zero-skill trials (DSR's SR0)::

        SR0 = sqrt(V) * ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e)))

    ``gamma`` is the Euler-Mascheroni constant; ``V`` the variance of the trials' Sharpes (same
    units as the result; per period for DSR). One trial means no selection: SR0 = 0.
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    if trials_sharpe_var < 0:
        raise ValueError(f"trials_sharpe_var must be >= 0, got {trials_sharpe_var}")
    if n_trials == 1:
        return 0.0
    a = sps.norm.ppf(1.0 - 1.0 / n_trials)
    b = sps.norm.ppf(1.0 - 1.0 / (n_trials * np.e))
    return float(np.sqrt(trials_sharpe_var) * ((1.0 - EULER_GAMMA) * a + EULER_GAMMA * b))


def deflated_sharpe_ratio(returns: np.ndarray, *, n_trials: int, trials_sharpe_var: float) -> float:
    """DSR = PSR against the expected maximum Sharpe of ``n_trials`` trials.

    ``trials_sharpe_var`` is the variance across trials of their **per-period** Sharpes (an
    annualised variance divides by ``periods_per_year``).
    """
    sr0 = expected_max_sharpe(n_trials, trials_sharpe_var)
    return probabilistic_sharpe_ratio(returns, sharpe_benchmark=sr0)


def default_block_length(n: int) -> int:
    """``round(n ** (1/3))``, at least 1: the classic rate for block bootstraps of the mean."""
    return max(1, int(round(n ** (1.0 / 3.0))))


def bootstrap_indices(
    n: int,
    n_boot: int,
    rng: np.random.Generator,
    *,
    block_length: float,
    method: str = "stationary",
) -> np.ndarray:
    """Resampled indices ``(n_boot, n)`` into a series of length ``n``.

    ``stationary`` (Politis-Romano): blocks of geometric length with mean ``block_length``, each
    starting at a uniform random index, wrapping circularly. ``circular``: blocks of fixed
    ``block_length`` at uniform random starts, wrapping, cut to ``n``.
    """
    if n < 1 or n_boot < 1 or block_length < 1:
        raise ValueError(f"need n, n_boot, block_length >= 1; got {n}, {n_boot}, {block_length}")
    pos = np.arange(n)
    if method == "stationary":
        starts = rng.integers(0, n, size=(n_boot, n))
        new_block = rng.random((n_boot, n)) < 1.0 / block_length
        new_block[:, 0] = True
        # Index within the row of the most recent block start, then walk forward from it.
        last = np.maximum.accumulate(np.where(new_block, pos, 0), axis=1)
        return (np.take_along_axis(starts, last, axis=1) + (pos - last)) % n
    if method == "circular":
        b = int(block_length)
        k = -(-n // b)
        starts = rng.integers(0, n, size=(n_boot, k))
        idx = (starts[:, :, None] + np.arange(b)) % n
        return idx.reshape(n_boot, k * b)[:, :n]
    raise ValueError(f"unknown bootstrap method {method!r}; use 'stationary' or 'circular'")


def _row_sharpe(x: np.ndarray) -> np.ndarray:
    """Per-row per-period Sharpe of a 2-D array; nan for constant rows.

    ``backtest.metrics.sharpe_ratio`` vectorised over bootstrap rows (same formula, ddof=1,
    same nan convention); ``tests/test_backtest_stats.py`` checks they agree."""
    std = x.std(axis=1, ddof=1)
    const = x.max(axis=1) == x.min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(const, np.nan, x.mean(axis=1) / std)


def bootstrap_sharpes(
    series: list[np.ndarray],
    *,
    n_boot: int,
    seed: int,
    block_length: float | None = None,
    method: str = "stationary",
) -> np.ndarray:
    """Per-period Sharpe of every series on the **same** ``n_boot`` block resamples:
    ``(len(series), n_boot)``, nan where a resample is constant. Series must be aligned (same
    bars); sharing the indices keeps their cross-correlation for paired comparisons."""
    arrs = [_returns(r, f"series[{k}]") for k, r in enumerate(series)]
    n = arrs[0].size
    if any(a.size != n for a in arrs):
        raise ValueError(f"series must have equal length; got {[a.size for a in arrs]}")
    bl = default_block_length(n) if block_length is None else block_length
    rng = np.random.default_rng(seed)
    out = np.empty((len(arrs), n_boot))
    chunk = max(1, _CHUNK_CELLS // max(n, 1))
    for lo in range(0, n_boot, chunk):
        m = min(chunk, n_boot - lo)
        idx = bootstrap_indices(n, m, rng, block_length=bl, method=method)
        for k, r in enumerate(arrs):
            out[k, lo : lo + m] = _row_sharpe(r[idx])
    return out


@dataclass(frozen=True)
class SharpeCI:
    """Annualised Sharpe with a percentile bootstrap interval."""

    sharpe: float
    low: float
    high: float
    std_error: float
    level: float
    n_boot: int
    block_length: float
    method: str


def sharpe_bootstrap_ci(
    returns: np.ndarray,
    periods_per_year: float,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    block_length: float | None = None,
    method: str = "stationary",
    seed: int = 0,
) -> SharpeCI:
    """Percentile CI of the annualised Sharpe under a block bootstrap (seeded, reproducible).

    Blocks keep the serial dependence of hourly returns (volatility clustering) that an iid
    bootstrap would destroy. Resamples that happen to be constant are dropped from the interval.
    """
    r = _returns(returns)
    bl = default_block_length(r.size) if block_length is None else float(block_length)
    if r.size < 2 or np.isnan(per_period_sharpe(r)):
        return ci_from_boot(
            r, np.zeros(0), periods_per_year, level=level, block_length=bl, method=method
        )
    boot = bootstrap_sharpes([r], n_boot=n_boot, seed=seed, block_length=bl, method=method)[0]
    return ci_from_boot(r, boot, periods_per_year, level=level, block_length=bl, method=method)


def ci_from_boot(
    returns: np.ndarray,
    boot: np.ndarray,
    periods_per_year: float,
    *,
    level: float,
    block_length: float,
    method: str,
) -> SharpeCI:
    """Percentile CI from bootstrapped **per-period** Sharpes ``boot`` (see ``bootstrap_sharpes``)."""
    ann = np.sqrt(periods_per_year)
    point = float(per_period_sharpe(returns) * ann)
    s = boot[np.isfinite(boot)] * ann
    if np.isnan(point) or s.size < 2:
        nan = float("nan")
        return SharpeCI(point, nan, nan, nan, level, int(boot.size), block_length, method)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(s, [alpha, 1.0 - alpha])
    return SharpeCI(
        point,
        float(lo),
        float(hi),
        float(s.std(ddof=1)),
        level,
        int(boot.size),
        block_length,
        method,
    )


@dataclass(frozen=True)
class PairedSharpeTest:
    """Difference of annualised Sharpes ``a - b`` with a bootstrap CI and two p-values."""

    diff: float
    low: float
    high: float
    p_value: float  # paired block bootstrap, two-sided, H0: equal Sharpe
    p_value_memmel: float  # Jobson-Korkie with Memmel's correction, iid normal
    n_boot: int
    block_length: float


def paired_sharpe_test(
    returns_a: np.ndarray,
    returns_b: np.ndarray,
    periods_per_year: float,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    block_length: float | None = None,
    method: str = "stationary",
    seed: int = 0,
) -> PairedSharpeTest:
    """Is strategy ``a``'s Sharpe different from ``b``'s over the *same* bars?

    Both series are resampled with the **same** indices, so their correlation is kept. The
    p-value centres the bootstrap differences on the observed one (Ledoit-Wolf style):
    ``p = (1 + #{|d* - d| >= |d|}) / (n_boot + 1)``. nan when either Sharpe is undefined.
    """
    a, b = _returns(returns_a, "returns_a"), _returns(returns_b, "returns_b")
    if a.shape != b.shape:
        raise ValueError(f"paired test needs aligned series; got {a.shape} and {b.shape}")
    bl = default_block_length(a.size) if block_length is None else float(block_length)
    if np.isnan(per_period_sharpe(a)) or np.isnan(per_period_sharpe(b)):
        empty = np.zeros(0)
        return paired_from_boot(a, b, empty, empty, periods_per_year, level=level, block_length=bl)
    ba, bb = bootstrap_sharpes([a, b], n_boot=n_boot, seed=seed, block_length=bl, method=method)
    return paired_from_boot(a, b, ba, bb, periods_per_year, level=level, block_length=bl)


def paired_from_boot(
    a: np.ndarray,
    b: np.ndarray,
    boot_a: np.ndarray,
    boot_b: np.ndarray,
    periods_per_year: float,
    *,
    level: float,
    block_length: float,
) -> PairedSharpeTest:
    """Paired test from per-period Sharpes of ``a`` and ``b`` on the same resamples."""
    ann = np.sqrt(periods_per_year)
    sa, sb = per_period_sharpe(a), per_period_sharpe(b)
    nan = float("nan")
    db = (boot_a - boot_b) * ann
    db = db[np.isfinite(db)]
    if np.isnan(sa) or np.isnan(sb) or db.size < 2:
        return PairedSharpeTest(nan, nan, nan, nan, nan, int(boot_a.size), block_length)
    d = (sa - sb) * ann
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(db, [alpha, 1.0 - alpha])
    p = (1.0 + np.sum(np.abs(db - d) >= abs(d))) / (db.size + 1.0)
    # Memmel (2003): Var(SR_a - SR_b) = (2 - 2 rho + (SR_a^2 + SR_b^2 - 2 SR_a SR_b rho^2) / 2) / T
    rho = float(np.corrcoef(a, b)[0, 1])
    theta = (2.0 - 2.0 * rho + 0.5 * (sa**2 + sb**2 - 2.0 * sa * sb * rho**2)) / a.size
    if sa == sb:  # identical Sharpes (e.g. the same series): no evidence of a difference
        p_memmel = 1.0
    else:
        p_memmel = float(2.0 * sps.norm.sf(abs(sa - sb) / np.sqrt(theta))) if theta > 0 else nan
    return PairedSharpeTest(
        float(d), float(lo), float(hi), float(p), p_memmel, int(boot_a.size), block_length
    )


@dataclass(frozen=True)
class SeedAggregate:
    """Mean over seeds with a Student-t confidence interval."""

    mean: float
    std: float
    low: float
    high: float
    n: int  # finite values used
    level: float


def aggregate_seeds(values: np.ndarray, level: float = 0.95) -> SeedAggregate:
    """``mean +- t_{(1+level)/2, n-1} * std(ddof=1) / sqrt(n)`` over the finite values.

    With one seed the interval is nan (no spread to estimate), not a zero-width band.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    nan = float("nan")
    if v.size == 0:
        return SeedAggregate(nan, nan, nan, nan, 0, level)
    mean = float(v.mean())
    if v.size == 1:
        return SeedAggregate(mean, nan, nan, nan, 1, level)
    std = float(v.std(ddof=1))
    half = float(sps.t.ppf(0.5 + level / 2.0, df=v.size - 1) * std / np.sqrt(v.size))
    return SeedAggregate(mean, std, mean - half, mean + half, int(v.size), level)
