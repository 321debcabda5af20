"""Planted-signal markets: hourly OHLCV with a known optimal policy, and one with no edge at all.

Why: when an agent fails to beat buy-and-hold on real candles, the market may have no edge or
the agent may be unable to learn one. On these markets the achievable optimum is known, so the
lab can show how much of it its agents reach (``bench/learnability.py``), and on ``synth-rw``
that its statistics do not invent an edge.

Presets ``synth-regime``, ``synth-meanrev``, ``synth-rw`` (``envs.presets``; files generated
on first use by ``envs.synthetic.files``, their sha256 recorded and checked like shipped
files) flow through the same loader validation, cleaning gate, features, normaliser, env and
``evaluate`` as real data: UTC hourly bars 2018-01-01 .. 2024-12-31 23:00 (61,368 bars, no
gaps), the real splits (train 2018-2022, val 2023, test 2024), no funding file (funding off).

Candles (all markets; ``generators.candles_from_returns``)
----------------------------------------------------------
From per-bar log returns r_t: ``C_t = 10000 exp(r_0 + ... + r_t)``, ``O_t = C_(t-1)``
(continuous market: the env's fill at t+1's open is bar t's close), ``H_t = max(O_t, C_t)
exp(a_t)``, ``L_t = min(O_t, C_t) exp(-b_t)`` with ``a, b = |N(0, (0.3 sd(r))^2)| + 1e-4``
(never a flat bar), ``V_t = 1000 exp(0.3 z_t)`` (volume carries no information). Prices and
volumes are stored with 10 significant digits. Every market has per-bar return sd 0.006
(~56 % a year, BTC-like). PCG64 streams, sequential recursions and ``math.exp`` make the bytes
bit-stable (``tests/test_synthetic.py`` re-derives the recorded sha256).

Markets
-------
* ``synth-regime`` (seed 11): hidden two-state Markov chain ``s_t`` in {-1 (bear), +1 (bull)},
  switching with probability ``p = 1/480`` per bar (regimes last 20 days on average), uniform
  start; ``r_t = 0.0006 s_t + 0.006 eps_t``: the drift is 0.1 noise sd per bar, invisible in
  one bar, visible over days.
* ``synth-meanrev`` (seed 12): log price ``y_t = w_t + x_t`` with a random walk
  ``w_t = w_(t-1) + sigma_w e_t`` and an AR(1) deviation ``x_t = 0.95 x_(t-1) + sd_eta eta_t``
  (half-life 13.5 bars, stationary sd 1.5 %, ``sd_eta = 0.015 sqrt(1 - 0.95^2)``,
  ``sigma_w = sqrt(0.006^2 - 2 (0.015^2)(0.05))`` so ``sd(r) = 0.006``). The predictive feature
  is observable: the Kalman estimate of x (below) has correlation 0.99 with flagtrader60's
  ``ema_ratio_48`` and 0.85 with core17's ``vwap_momentum`` (0.78 with ``mr_ema20_z``).
* ``synth-rw`` (seed 21): ``r_t = -0.006^2 / 2 + 0.006 eps_t``, a martingale price (expected
  simple return 0: no edge, not even for buy-and-hold). The seed is the first >= 13 whose
  buy-and-hold Sharpe is within +-0.25 on the test year and on the whole series (a one-year
  Sharpe has standard error ~1, so an arbitrary seed can show a large spurious drift; the
  rule is stated here rather than hidden).

The planted cross-sectional market (a portfolio universe, ``XS_UNIVERSE`` =
``synth-xs-regime,synth-xs-rw1,synth-xs-rw2``; issue 21)
------------------------------------------------------------------------------------
Three hourly members on the same grid and splits: ``synth-xs-regime`` (seed 31) is
synth-regime's chain with drift 0.0009 (0.15 noise sd per bar, regimes 480 bars);
``synth-xs-rw1`` / ``-rw2`` are martingale walks (seeds 40, 41: the first two >= 32 under
synth-rw's rule). The known allocation (``backtest.allocation_oracles``, long-only): the regime
member's oracle position (a short = cash), every walk at 0. Through the portfolio env with its
costs, test 2024 (``python -m evaluate.portfolio --env synth-xs-regime,synth-xs-rw1,synth-xs-rw2
--split test``): oracle_hidden Sharpe 9.13, oracle_filter (achievable) 6.75, equal weight daily
0.32, xs_momentum 2.20, trend_vol_target 2.60; val 2023: 10.05 / 7.61.

Oracles (``oracles``, ``markets``; target positions in {-1, 0, +1}, decided at bar t's close,
filled by the env at t+1's open, all env costs charged: fee 10 bps + slippage 2 bps)
------------------------------------------------------------------------------------
(a) ``oracle_hidden`` knows the hidden state at t. regime: ``s_t``; since the chain is Markov
    and returns are independent given the state, ``E[r_(t+1) | s_t, past prices] = 0.0006
    (1 - 2p) s_t``: no price history adds information, so no price-based policy can beat it in
    expectation (the upper bound); with regimes lasting 480 bars, following s_t pays its
    ~24 bps flip cost ~18 times a year (8760 / 480) for ~0.29 of log drift per regime. meanrev:
    ``E[r_(t+1) + ... + r_(t+k) | x_t] = (0.95^k - 1) x_t``, so the expected reversion still to
    come is ``-x_t``; the position follows a no-trade band on it (below). rw: flat.
(b) ``oracle_filter`` uses closes up to t only (the best policy computable from past data,
    given the model's form and parameters). regime: the Hamilton filter: log-odds of the bull
    state ``l_t = logit(q_(t-1)) + 2 drift r_t / sigma^2`` (Gaussian likelihood ratio), then one
    Markov step ``q_t = P_t (1 - p) + (1 - P_t) p`` = P(s_(t+1) = +1 | r_<=t); signal
    ``2 q_t - 1`` = E[next drift] / drift. meanrev: the Kalman filter of (w, x) with the
    noiseless observation ``y_t = w_t + x_t`` gives ``E[x_t | y_<=t]``; signal ``-E[x_t]``.
    rw: the regime filter (with the regime market's parameters) as a detector that must find
    nothing.
Cost-aware no-trade band (both oracles): +1 when signal > enter, -1 when < -enter, flat when
|signal| < exit, else keep the previous target. ``(enter, exit)`` is chosen on the TRAIN rows
only, by the after-cost Sharpe of a numpy backtest with the env's timing (``fit_band``; grids
in ``markets``); a band is used only if its train Sharpe beats 3 standard errors (~1.34 over
5 train years), otherwise the oracle stays flat. On synth-rw every band loses on train, so
``oracle_filter`` is flat: it finds no edge.

Measured (``python -m evaluate --env <market> --split test``, 2024, default costs)
--------------------------------------------------------------------------------
=============  =============  =============  ============  ==========================
market         oracle_hidden  oracle_filter  buy_and_hold  trades hidden / filter
=============  =============  =============  ============  ==========================
synth-regime   Sharpe 9.36    Sharpe 4.27    -0.01         21 / 37
synth-meanrev  Sharpe 6.44    Sharpe 3.41    +1.13         223 / 317
synth-rw       flat (n/a)     flat (n/a)     -0.23         0 / 0
=============  =============  =============  ============  ==========================
"""

from envs.synthetic.markets import (
    ALL_MARKET_NAMES,
    MARKET_NAMES,
    ORACLE_KINDS,
    XS_MARKET_NAMES,
    XS_UNIVERSE,
    blind_positions,
    csv_bytes,
    has_edge,
    oracle_band,
    oracle_positions,
    series,
)

__all__ = [
    "ALL_MARKET_NAMES",
    "MARKET_NAMES",
    "ORACLE_KINDS",
    "XS_MARKET_NAMES",
    "XS_UNIVERSE",
    "blind_positions",
    "csv_bytes",
    "has_edge",
    "oracle_band",
    "oracle_positions",
    "series",
]
