"""Performance metrics of a backtest: pure numpy functions of arrays.

Conventions (one place, used everywhere in ``evaluate``):

* **Equity** is an array of ``N + 1`` marks: ``equity[0]`` is the capital before the first
  bar, ``equity[i + 1]`` the mark after bar ``i``. The per-bar **returns** are *simple*
  returns ``r[i] = equity[i + 1] / equity[i] - 1`` (length ``N``). Simple, not log, returns
  because they are what a position earns and what empyrical and the PSR/DSR papers use.
* **periods_per_year** is always passed explicitly (hourly crypto trades 24/7: 8760). There is
  no default: a silent 252 would mis-annualise an hourly series by a factor of ~5.9 in Sharpe.
* Standard deviations use ``ddof=1`` (sample), like empyrical.
* Risk-free rate is 0.
* A ratio whose denominator is zero is **nan** (undefined), never inf and never a made-up 0:
  Sharpe of a constant series (e.g. the flat baseline), Sortino with no losing bar, Calmar with
  no drawdown, profit factor with no losing trade. Empty or too-short inputs also give nan.
* Drawdown is reported as a **positive fraction** in ``[0, 1]`` (empyrical's is negative).
* **Ruin**: an account whose equity reaches 0 or below (a fee or leverage that eats more than the
  capital) is a -100 % result, not an error: marks at or below 0 are floored at 0
  (``ruin_floor``), so the ruin bar's return is exactly -1, every later bar's return is 0 (a dead
  account stays flat), the drawdown is 1 and the total return -1; ``summarize`` sets
  ``ruined`` to 1.0. The starting capital ``equity[0]`` must still be > 0.
* VaR and CVaR are reported as **returns** (the 5% quantile and the mean of the tail), so they are
  usually negative and ``CVaR <= VaR``; empyrical's convention.
"""

from __future__ import annotations

import math

import numpy as np

from backtest.trades import extract_trades, trade_stats

FloatArray = np.ndarray

FLAT_EPS = 1e-6  # |position| below this counts as flat (continuous actions rarely hit 0.0 exactly)


def _as_float(a: object, name: str) -> FloatArray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ValueError(f"{name} has a non-finite value at index {bad}: {arr[bad]!r}")
    return arr


def _check_ppy(periods_per_year: float) -> float:
    if not periods_per_year > 0:
        raise ValueError(
            f"periods_per_year must be > 0 (hourly crypto: 8760), got {periods_per_year!r}"
        )
    return float(periods_per_year)


def ruin_floor(equity: FloatArray) -> FloatArray:
    """``equity`` with every mark at or below 0 set to 0 (a ruined account is worth nothing, it
    owes nothing more); the starting capital ``equity[0]`` must be > 0."""
    eq = _as_float(equity, "equity")
    if eq.size and not eq[0] > 0:
        raise ValueError(f"equity[0] (the starting capital) must be > 0, got {eq[0]!r}")
    return np.maximum(eq, 0.0)


def is_ruined(equity: FloatArray) -> bool:
    """True when some mark is at or below 0 (the account was ruined)."""
    eq = _as_float(equity, "equity")
    return bool(eq.size and np.any(eq <= 0))


def returns_from_equity(equity: FloatArray) -> FloatArray:
    """Simple per-bar returns ``equity[1:] / equity[:-1] - 1`` (length ``N`` for ``N + 1`` marks).

    Ruin (a mark <= 0) is a -100 % bar; the bars after it return 0 (see ``ruin_floor``)."""
    eq = ruin_floor(equity)
    prev = eq[:-1]
    alive = prev > 0
    r = np.zeros(prev.size)
    np.divide(eq[1:], prev, out=r, where=alive)
    return np.where(alive, r - 1.0, 0.0)


def total_return(equity: FloatArray) -> float:
    """``equity[-1] / equity[0] - 1`` (fraction; -1 for a ruined account)."""
    eq = ruin_floor(equity)
    return float(eq[-1] / eq[0] - 1.0) if eq.size >= 1 else float("nan")


MAX_LOG_FLOAT = math.log(np.finfo(np.float64).max)


def cagr(returns: FloatArray, periods_per_year: float) -> float:
    """Compound annual growth rate: ``prod(1 + r) ** (ppy / N) - 1`` (empyrical ``annual_return``)."""
    r = _as_float(returns, "returns")
    ppy = _check_ppy(periods_per_year)
    if r.size == 0:
        return float("nan")
    growth = float(np.prod(1.0 + r))
    if growth <= 0.0:  # ruined: every unit lost (a negative base has no real power)
        return -1.0
    # in logs: a short fast-growing series raised growth ** (ppy / N) past the float range
    # (OverflowError); the rate is then a real +inf, not a crash
    log_rate = math.log(growth) * (ppy / r.size)
    return math.expm1(log_rate) if log_rate < MAX_LOG_FLOAT else float("inf")


def annual_volatility(returns: FloatArray, periods_per_year: float) -> float:
    """``std(r, ddof=1) * sqrt(ppy)``."""
    r = _as_float(returns, "returns")
    ppy = _check_ppy(periods_per_year)
    if r.size < 2:
        return float("nan")
    return float(np.std(r, ddof=1) * np.sqrt(ppy))


def position_shares(positions: np.ndarray, eps: float = FLAT_EPS) -> tuple[float, float, float]:
    """Fractions of steps spent short, flat and long (sum to 1; zeros for no steps)."""
    p = np.asarray(positions, dtype=np.float64)
    if p.size == 0:
        return 0.0, 0.0, 0.0
    short = float(np.mean(p < -eps))
    long = float(np.mean(p > eps))
    flat = float(np.mean(np.abs(p) <= eps))  # counted, not 1 - short - long (no -5e-17)
    return short, flat, long


def sharpe_ratio(returns: FloatArray, periods_per_year: float) -> float:
    """Annualised Sharpe ``mean(r) / std(r, ddof=1) * sqrt(ppy)``; nan if r is constant or N < 2."""
    r = _as_float(returns, "returns")
    ppy = _check_ppy(periods_per_year)
    if r.size < 2 or r.max() == r.min():
        return float("nan")
    sd = np.std(r, ddof=1)
    if not sd > 0:  # values differing only below float resolution
        return float("nan")
    return float(r.mean() / sd * np.sqrt(ppy))


def sortino_ratio(returns: FloatArray, periods_per_year: float) -> float:
    """``mean(r) * ppy / (sqrt(mean(min(r, 0)^2)) * sqrt(ppy))``: the downside deviation averages
    over *all* bars (target 0), as empyrical does. nan if no bar lost money."""
    r = _as_float(returns, "returns")
    ppy = _check_ppy(periods_per_year)
    if r.size < 2:
        return float("nan")
    losses = np.minimum(r, 0.0)
    scale = float(np.max(-losses))
    if scale == 0.0:
        return float("nan")
    # scaled before squaring: a loss of 1e-162 squared underflows to 0 (nan instead of a ratio)
    downside = scale * np.sqrt(np.mean((losses / scale) ** 2))
    return float(r.mean() * ppy / (downside * np.sqrt(ppy)))


def drawdown_series(equity: FloatArray) -> FloatArray:
    """Drawdown at every mark, ``1 - equity / running_peak``, in ``[0, 1]`` (1 once ruined)."""
    eq = ruin_floor(equity)
    if eq.size == 0:
        return eq
    return 1.0 - eq / np.maximum.accumulate(eq)


def max_drawdown(equity: FloatArray) -> float:
    """Largest peak-to-trough fall as a positive fraction (0.25 = -25%)."""
    dd = drawdown_series(equity)
    return float(dd.max()) if dd.size else float("nan")


def _under_water(equity: FloatArray) -> np.ndarray:
    """Bool per bar (marks 1..N): the mark is strictly below the running peak of earlier marks."""
    eq = ruin_floor(equity)
    if eq.size < 2:
        return np.zeros(0, dtype=bool)
    return eq[1:] < np.maximum.accumulate(eq)[:-1]


def max_drawdown_duration(equity: FloatArray) -> int:
    """Longest run of consecutive bars spent below a previous peak (bars; unrecovered runs count
    up to the end)."""
    uw = _under_water(equity)
    if not uw.any():
        return 0
    padded = np.concatenate([[False], uw, [False]]).astype(np.int8)
    edges = np.diff(padded)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return int((ends - starts).max())


def time_under_water(equity: FloatArray) -> float:
    """Share of bars whose closing mark is below the previous peak, in ``[0, 1]``."""
    uw = _under_water(equity)
    return float(uw.mean()) if uw.size else float("nan")


def calmar_ratio(returns: FloatArray, equity: FloatArray, periods_per_year: float) -> float:
    """CAGR / max drawdown; nan without a drawdown."""
    mdd = max_drawdown(equity)
    if not mdd > 0:
        return float("nan")
    return cagr(returns, periods_per_year) / mdd


def value_at_risk(returns: FloatArray, level: float = 0.95) -> float:
    """Historical VaR as a return: the ``1 - level`` quantile (numpy linear interpolation)."""
    r = _as_float(returns, "returns")
    if r.size == 0:
        return float("nan")
    return float(np.percentile(r, 100.0 * (1.0 - level)))


def conditional_value_at_risk(returns: FloatArray, level: float = 0.95) -> float:
    """Historical CVaR (expected shortfall) as a return: the mean of the ``k + 1`` worst returns,
    ``k = floor((N - 1) * (1 - level))`` (empyrical's tail size). Always ``<= value_at_risk``."""
    r = _as_float(returns, "returns")
    if r.size == 0:
        return float("nan")
    k = int((r.size - 1) * (1.0 - level))
    return float(np.mean(np.partition(r, k)[: k + 1]))


def beta_correlation(returns: FloatArray, benchmark: FloatArray) -> tuple[float, float]:
    """``(beta, correlation)`` of strategy returns against benchmark returns (same length).
    beta = cov / var(benchmark); nan when either series is constant."""
    r = _as_float(returns, "returns")
    b = _as_float(benchmark, "benchmark_returns")
    if r.shape != b.shape:
        raise ValueError(f"returns {r.shape} and benchmark_returns {b.shape} differ in length")
    if r.size < 2 or b.max() == b.min():
        return float("nan"), float("nan")
    cov = np.cov(r, b, ddof=1)
    if not cov[1, 1] > 0:
        return float("nan"), float("nan")
    beta = float(cov[0, 1] / cov[1, 1])
    corr = float("nan") if not cov[0, 0] > 0 else float(cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]))
    return beta, corr


def alpha_annual(returns: FloatArray, benchmark: FloatArray, periods_per_year: float) -> float:
    """Empyrical's annualised alpha: ``(1 + mean(r - beta * b)) ** ppy - 1``."""
    beta, _ = beta_correlation(returns, benchmark)
    if np.isnan(beta):
        return float("nan")
    r, b = np.asarray(returns, np.float64), np.asarray(benchmark, np.float64)
    return float((1.0 + np.mean(r - beta * b)) ** _check_ppy(periods_per_year) - 1.0)


def rolling_sharpe(returns: FloatArray, window: int, periods_per_year: float) -> FloatArray:
    """Annualised Sharpe over each trailing ``window`` bars (nan for the first ``window - 1`` bars
    and for constant windows). O(N) via cumulative sums."""
    r = _as_float(returns, "returns")
    ppy = _check_ppy(periods_per_year)
    if window < 2:
        raise ValueError(f"window must be >= 2 bars, got {window}")
    out = np.full(r.size, np.nan)
    if r.size < window:
        return out
    # Centre first so the running sums of squares do not lose precision.
    x = r - r.mean()
    c1 = np.concatenate([[0.0], np.cumsum(x)])
    c2 = np.concatenate([[0.0], np.cumsum(x * x)])
    s1 = c1[window:] - c1[:-window]
    s2 = c2[window:] - c2[:-window]
    mean = s1 / window
    var = np.maximum(s2 - window * mean * mean, 0.0) / (window - 1)
    std = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        sr = np.where(std > 1e-12 * max(np.abs(r).max(), 1e-300), (mean + r.mean()) / std, np.nan)
    out[window - 1 :] = sr * np.sqrt(ppy)
    return out


def turnover_annual(positions: FloatArray, periods_per_year: float) -> float:
    """Position change per year, ``sum |diff(position)| * ppy / N`` in units of equity, counting the
    first entry from flat (1.0 = one full notional traded per year)."""
    p = _as_float(positions, "positions")
    if p.size == 0:
        return float("nan")
    change = np.abs(np.diff(np.concatenate([[0.0], p]))).sum()
    return float(change * _check_ppy(periods_per_year) / p.size)


def _costs_paid(
    eq: np.ndarray,
    n_bars: int,
    fees: FloatArray | None,
    slippage: FloatArray | None,
    funding: FloatArray | None,
) -> dict[str, float]:
    """Fees, slippage and funding paid as fractions of the starting capital, and their sum
    (nan where a series was not given; the sum is nan unless all three are)."""
    out: dict[str, float] = {}
    paid = 0.0
    for name, arr in (("fees", fees), ("slippage", slippage), ("funding", funding)):
        if arr is None:
            out[f"{name}_paid"] = float("nan")
            continue
        a = _as_float(arr, name)
        if a.size != n_bars:
            raise ValueError(f"{name} must have one value per bar ({n_bars}), got {a.size}")
        out[f"{name}_paid"] = float(a.sum() / eq[0])
        paid += out[f"{name}_paid"]
    out["costs_paid"] = (
        paid if all(a is not None for a in (fees, slippage, funding)) else float("nan")
    )
    return out


def summarize(
    equity: FloatArray,
    positions: FloatArray,
    *,
    periods_per_year: float,
    fees: FloatArray | None = None,
    slippage: FloatArray | None = None,
    funding: FloatArray | None = None,
    benchmark_returns: FloatArray | None = None,
) -> dict[str, float]:
    """Every metric of one backtest as a flat ``{name: float}`` dict.

    Args:
        equity: ``(N + 1,)`` marks, ``equity[0]`` the starting capital (see module docstring).
        positions: ``(N,)`` signed exposure held over each bar (after that bar's fill).
        periods_per_year: bars per year (8760 for hourly crypto). Required.
        fees, slippage, funding: ``(N,)`` amounts *paid* in equity units per bar (funding received
            is negative). Reported as fractions of the starting capital.
        benchmark_returns: ``(N,)`` simple returns of buy-and-hold over the same bars for beta,
            correlation and alpha; nan if omitted.
    """
    eq = _as_float(equity, "equity")
    pos = _as_float(positions, "positions")
    if eq.size != pos.size + 1:
        raise ValueError(
            f"equity must have one more mark than positions (the starting capital); "
            f"got equity {eq.size}, positions {pos.size}"
        )
    ppy = _check_ppy(periods_per_year)
    ruined = is_ruined(eq)
    eq = ruin_floor(eq)  # a ruined account is a -100 % result (module docstring)
    r = returns_from_equity(eq)
    trades = extract_trades(pos, eq)
    out: dict[str, float] = {
        "total_return": total_return(eq),
        "cagr": cagr(r, ppy),
        "annual_volatility": annual_volatility(r, ppy),
        "sharpe": sharpe_ratio(r, ppy),
        "sortino": sortino_ratio(r, ppy),
        "calmar": calmar_ratio(r, eq, ppy),
        "max_drawdown": max_drawdown(eq),
        "max_drawdown_duration_bars": float(max_drawdown_duration(eq)),
        "time_under_water": time_under_water(eq),
        "var_95": value_at_risk(r, 0.95),
        "cvar_95": conditional_value_at_risk(r, 0.95),
        "positive_periods": float(np.mean(r > 0)) if r.size else float("nan"),
        "turnover_annual": turnover_annual(pos, ppy),
        "exposure": float(np.mean(np.abs(pos))) if pos.size else float("nan"),
        "time_in_market": float(np.mean(pos != 0)) if pos.size else float("nan"),
        "n_bars": float(r.size),
        "years": r.size / ppy,
        "ruined": 1.0 if ruined else 0.0,
    }
    mdd = out["max_drawdown"]
    out["recovery_factor"] = out["total_return"] / mdd if mdd > 0 else float("nan")
    out.update(trade_stats(trades))
    out.update(_costs_paid(eq, pos.size, fees, slippage, funding))
    if benchmark_returns is None:
        out["beta"] = out["correlation"] = out["alpha_annual"] = float("nan")
    else:
        out["beta"], out["correlation"] = beta_correlation(r, benchmark_returns)
        out["alpha_annual"] = alpha_annual(r, benchmark_returns, ppy)
    return out
