"""Seeded generators of the planted-signal markets (formulas in ``envs.synthetic``'s docstring).

Every generator is a pure function of its parameters (seed included): numpy's PCG64 stream,
a sequential ``cumsum`` and the C library's ``exp`` (``math.exp``, not numpy's SIMD one, which
may differ in the last bit between CPUs), then prices written with 10 significant digits. The
canonical CSV bytes, and therefore their sha256 recorded in the preset, are bit-stable.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

START = "2018-01-01"  # first bar's open time (UTC), as the real presets' train split
END = "2025-01-01"  # exclusive: the last bar opens 2024-12-31 23:00 (test split = 2024)
FIRST_PRICE = 10_000.0
BASE_VOLUME = 1_000.0
SIGMA_BAR = 0.006  # per-bar (hourly) log-return sd of every market (~56 % a year)


@dataclass(frozen=True)
class RegimeParams:
    """Two-state Markov drift: ``r_t = s_t * drift + sigma * eps_t``, ``s_t`` in {-1, +1}."""

    seed: int = 11
    drift: float = 0.0006  # per-bar drift in the bull state (0.1 sd of noise)
    sigma: float = SIGMA_BAR
    switch_prob: float = 1.0 / 480  # per bar: regimes last 480 bars (20 days) on average


@dataclass(frozen=True)
class MeanRevParams:
    """Log price = random walk + AR(1): ``p_t = w_t + x_t``, ``x_t = phi x_(t-1) + sd_eta eta_t``."""

    seed: int = 12
    phi: float = 0.95  # AR(1) coefficient: half-life log(0.5)/log(0.95) = 13.5 bars
    x_sd: float = 0.015  # stationary sd of the mean-reverting component x (1.5 %)
    sigma_walk: float = math.sqrt(SIGMA_BAR**2 - 2 * 0.015**2 * (1 - 0.95))  # total sd = SIGMA_BAR

    @property
    def sd_eta(self) -> float:
        """Innovation sd of x: ``x_sd * sqrt(1 - phi^2)`` keeps x stationary with sd ``x_sd``."""
        return self.x_sd * math.sqrt(1.0 - self.phi**2)


@dataclass(frozen=True)
class WalkParams:
    """Gaussian random walk of a martingale price: ``r_t = -sigma^2 / 2 + sigma * eps_t``."""

    seed: int = 21  # first seed >= 13 with |buy-and-hold Sharpe| < 0.25 on test and overall
    sigma: float = SIGMA_BAR


@dataclass
class SyntheticSeries:
    """A generated market: the candles and the hidden state the oracle (a) may read."""

    candles: pd.DataFrame  # timestamp index (UTC), open/high/low/close/volume float64
    hidden: np.ndarray  # regime: s_t in {-1, +1}; meanrev: x_t; rw: zeros


def hourly_index() -> pd.DatetimeIndex:
    """The UTC hourly bar-open times ``[START, END)``."""
    index = pd.date_range(START, END, freq="1h", inclusive="left", tz="UTC", name="timestamp")
    return index.as_unit("ns")


def _exp(values: np.ndarray) -> np.ndarray:
    return np.fromiter((math.exp(v) for v in values), dtype=np.float64, count=len(values))


def _round_sig(values: np.ndarray, digits: int = 10) -> np.ndarray:
    """Round to ``digits`` significant digits (what the CSV holds), so frame == file."""
    return np.array([float(f"{v:.{digits}g}") for v in values], dtype=np.float64)


def candles_from_returns(log_returns: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """OHLCV from per-bar close-to-close log returns; open = previous close (continuous market).

    ``high = max(open, close) * exp(a)``, ``low = min(open, close) * exp(-b)`` with ``a, b`` the
    absolute values of N(0, (0.3 sigma)^2) draws plus a 1e-4 floor (never a flat bar);
    ``volume = BASE_VOLUME * exp(0.3 z)``, z ~ N(0, 1), independent of prices (no information).
    """
    n = len(log_returns)
    scale = float(np.std(log_returns))
    log_close = math.log(FIRST_PRICE) + np.cumsum(log_returns)
    close = _round_sig(_exp(log_close))
    open_ = np.concatenate([[FIRST_PRICE], close[:-1]])
    wick = np.abs(rng.standard_normal((2, n))) * 0.3 * scale + 1e-4
    high = _round_sig(np.maximum(open_, close) * _exp(wick[0]))
    low = _round_sig(np.minimum(open_, close) * _exp(-wick[1]))
    volume = _round_sig(BASE_VOLUME * _exp(0.3 * rng.standard_normal(n)))
    frame = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume},
        index=hourly_index()[:n],
    )
    return frame


def generate_regime(p: RegimeParams = RegimeParams()) -> SyntheticSeries:
    """Markov-switching drift; ``hidden`` = s_t in {-1, +1} (the state of bar t's return)."""
    rng = np.random.default_rng(p.seed)
    n = len(hourly_index())
    switches = rng.random(n) < p.switch_prob
    first = 1 if rng.random() < 0.5 else -1  # stationary distribution: 1/2 each
    state = first * np.where(np.cumsum(switches) % 2 == 0, 1, -1)
    returns = state * p.drift + p.sigma * rng.standard_normal(n)
    return SyntheticSeries(candles_from_returns(returns, rng), state.astype(np.float64))


def generate_meanrev(p: MeanRevParams = MeanRevParams()) -> SyntheticSeries:
    """Random walk + AR(1); ``hidden`` = x_t (log deviation from the walk)."""
    rng = np.random.default_rng(p.seed)
    n = len(hourly_index())
    eta = rng.standard_normal(n) * p.sd_eta
    x = np.empty(n)
    prev = rng.standard_normal() * p.x_sd  # x_(-1) from the stationary law
    for t in range(n):  # sequential recursion: bit-stable (no SIMD reordering)
        prev = p.phi * prev + eta[t]
        x[t] = prev
    walk_steps = p.sigma_walk * rng.standard_normal(n)
    returns = walk_steps + np.diff(x, prepend=x[0])  # r_0 holds no x step (x_(-1) unseen)
    return SyntheticSeries(candles_from_returns(returns, rng), x)


def generate_walk(p: WalkParams = WalkParams()) -> SyntheticSeries:
    """Martingale random walk (log drift -sigma^2/2: E[simple return] = 0); ``hidden`` = zeros."""
    rng = np.random.default_rng(p.seed)
    n = len(hourly_index())
    returns = -0.5 * p.sigma**2 + p.sigma * rng.standard_normal(n)
    return SyntheticSeries(candles_from_returns(returns, rng), np.zeros(n))


def canonical_csv(candles: pd.DataFrame) -> bytes:
    """The file bytes: header + one ``ISO-Z,open,high,low,close,volume`` line per bar."""
    stamps = candles.index.strftime("%Y-%m-%dT%H:%M:%SZ")
    cols = [candles[c].to_numpy() for c in ("open", "high", "low", "close", "volume")]
    lines = ["timestamp,open,high,low,close,volume"]
    lines += [
        f"{ts},{o:.10g},{h:.10g},{lo:.10g},{c:.10g},{v:.10g}"
        for ts, o, h, lo, c, v in zip(stamps, *cols, strict=True)
    ]
    return ("\n".join(lines) + "\n").encode("ascii")


def sha256_of(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()
