"""Oracle target positions of the planted-signal markets (derivations in ``envs.synthetic``).

Pure numpy/Python, no pandas: every function maps arrays in bar order to a target position
per bar in {-1, 0, +1}, decided at bar t's close (the env fills it at bar t+1's open).

* hidden-state oracle (a): reads the generator's hidden state at t (regime s_t, deviation x_t).
* filter oracle (b): reads closes up to t only (Hamilton filter / Kalman filter); causal by
  construction and by test (``tests/test_synthetic.py`` truncates the series).

Thresholds are cost-aware: a no-trade band chosen by ``fit_band`` on the TRAIN rows only,
maximising the after-cost Sharpe of a numpy backtest with the env's timing and default costs.
"""

from __future__ import annotations

import math

import numpy as np

COST_DEFAULT = (10.0 + 2.0) * 1e-4  # fee 10 bps + slippage 2 bps per unit of position traded
MIN_TRAIN_SHARPE_SE = 3.0  # a band must beat 3 s.e. on train (best of a small grid: ~Bonferroni)
NO_TRADE = (math.inf, 0.0)  # the band that never enters: always flat


def hamilton_filter(log_returns: np.ndarray, drift: float, sigma: float, p: float) -> np.ndarray:
    """``q_t = P(s_(t+1) = +1 | r_0..r_t)``: the bull probability of the NEXT bar, known at t.

    Log-odds recursion: prior ``l = logit(P(s_t=+1 | r_<t))``; posterior
    ``l + 2 drift r_t / sigma^2`` (Gaussian likelihood ratio); one Markov step ahead
    ``P(+1) -> P(+1)(1-p) + (1-P(+1)) p``. Starts from the stationary prior 1/2.
    """
    gain = 2.0 * drift / sigma**2
    out = np.empty(len(log_returns))
    prior = 0.5
    for t, r in enumerate(log_returns.tolist()):
        log_odds = math.log(prior / (1.0 - prior)) + gain * r
        post = 1.0 / (1.0 + math.exp(-log_odds)) if log_odds > -700 else 0.0
        prior = post * (1.0 - p) + (1.0 - post) * p
        out[t] = prior
    return out


def kalman_deviation(
    log_close: np.ndarray, phi: float, sd_eta: float, sd_walk: float
) -> np.ndarray:
    """``E[x_t | p_0..p_t]`` for ``p_t = w_t + x_t`` (random walk + AR(1), noiseless observation).

    State ``(w, x)``: ``w_t = w_(t-1) + sd_walk e``, ``x_t = phi x_(t-1) + sd_eta eta``. The
    first price gives ``x_0 ~ N(0, x_sd^2)`` and ``w_0 = p_0 - x_0``; then the standard Kalman
    predict/update with H = (1, 1) and no observation noise.
    """
    x_var = sd_eta**2 / (1.0 - phi**2)
    m_w, m_x = float(log_close[0]), 0.0  # state mean
    p_ww, p_wx, p_xx = x_var, -x_var, x_var  # state covariance (symmetric)
    q_w, q_x = sd_walk**2, sd_eta**2
    out = np.empty(len(log_close))
    out[0] = 0.0
    for t, y in enumerate(log_close.tolist()[1:], start=1):
        m_x *= phi  # predict: w keeps its mean, x decays
        p_ww, p_wx, p_xx = p_ww + q_w, phi * p_wx, phi * phi * p_xx + q_x
        s = p_ww + 2.0 * p_wx + p_xx  # variance of the predicted price w + x
        k_w, k_x = (p_ww + p_wx) / s, (p_wx + p_xx) / s
        innov = y - m_w - m_x
        m_w, m_x = m_w + k_w * innov, m_x + k_x * innov
        c_w, c_x = p_ww + p_wx, p_wx + p_xx  # (P H^T): update P -= K H P
        p_ww, p_wx, p_xx = p_ww - k_w * c_w, p_wx - k_w * c_x, p_xx - k_x * c_x
        out[t] = m_x
    return out


def band_positions(signal: np.ndarray, enter: float, exit_: float) -> np.ndarray:
    """Hysteresis: +1 when ``signal > enter``, -1 when ``< -enter``, 0 when ``|signal| < exit_``,
    else keep the previous target (so noise around a threshold does not churn costs)."""
    out = np.empty(len(signal))
    pos = 0.0
    for t, s in enumerate(signal.tolist()):
        if s > enter:
            pos = 1.0
        elif s < -enter:
            pos = -1.0
        elif abs(s) < exit_:
            pos = 0.0
        out[t] = pos
    return out


def after_cost_returns(
    positions: np.ndarray, log_returns: np.ndarray, cost: float = COST_DEFAULT
) -> np.ndarray:
    """Per-bar returns of targets decided at t's close, held over bar t+1 (open = prior close).

    ``ret_(t+1) = pos_t (exp(r_(t+1)) - 1) - cost |pos_t - pos_(t-1)|`` (starting flat).
    """
    held = positions[:-1]
    turnover = np.abs(np.diff(np.concatenate([[0.0], held])))
    return held * np.expm1(log_returns[1:]) - cost * turnover


def t_statistic(returns: np.ndarray) -> float:
    """``mean / std(ddof=1) * sqrt(n)``: how many standard errors the mean per-bar return lies
    above zero (0 for a constant series). Not a Sharpe ratio: the one Sharpe is
    ``backtest.metrics.sharpe_ratio``, which envs (a lower layer) cannot import."""
    sd = float(np.std(returns, ddof=1))
    return 0.0 if sd == 0 else float(np.mean(returns) / sd * math.sqrt(len(returns)))


def fit_band(
    signal: np.ndarray,
    log_returns: np.ndarray,
    rows: slice,
    grid: tuple[tuple[float, float], ...],
    cost: float = COST_DEFAULT,
) -> tuple[float, float]:
    """The ``(enter, exit)`` of ``grid`` with the best after-cost t-statistic on ``rows`` (train).

    A band is used only if its mean after-cost return lies more than ``MIN_TRAIN_SHARPE_SE``
    standard errors above zero (equivalently: its annualised train Sharpe exceeds that many
    standard errors ``sqrt(periods_per_year / n_rows)``); otherwise ``NO_TRADE``: a policy from
    past data alone trades only an edge that past data shows. Over the same rows the t-statistic
    ranks bands exactly as the Sharpe ratio does.
    """
    sig, ret = signal[rows], log_returns[rows]
    scores = [
        t_statistic(after_cost_returns(band_positions(sig, e, x), ret, cost)) for e, x in grid
    ]
    best = int(np.argmax(scores))
    if scores[best] <= MIN_TRAIN_SHARPE_SE:
        return NO_TRADE
    return grid[best]
