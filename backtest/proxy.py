"""Vectorised backtest of a SELL/HOLD/BUY decision per bar: the fast early-stopping metric.

Accounting follows the env's timing (docs/ARCHITECTURE.md): decide on bar t's close, fill at bar
t+1's open, hold over bar t+1, mark at its close. Per decision bar t with target ``p_t`` in
{-1, 0, +1} (action - 1) and previous position ``q`` (the position held into bar t+1's open):

    gross  = (1 + q * (open[t+1]/close[t] - 1))              # old position over the close->open gap
           * (1 - |p_t - q| * (fee_bps + slippage_bps)/1e4)  # trade at the open, cost on notional
           * (1 + p_t * (close[t+1]/open[t+1] - 1))          # new position over bar t+1
           * (1 - p_t * funding[t+1])                        # funding settled at t+1's close; longs pay +
    r_t    = log(gross)

Bars where a decision cannot be taken or filled (``obs_ok`` false: window crosses a gap or is in
warm-up; ``can_step`` false: bar t+1 is in another segment) force the position flat: a position
open at a segment's last bar is closed at that bar's close, costs charged, and never carried over
a gap. Sharpe is ``backtest.metrics.sharpe_ratio`` of the per-bar simple returns ``exp(r) - 1``
over every bar of the split (flat bars count as 0 returns, as an equity curve would; nan when the path never
trades, as everywhere else). ``score`` is the value selections rank by: the Sharpe, with an
undefined (flat) one ranked as 0 (a rule that never trades is an honest candidate). This is a
*proxy* of ``backtest.runner`` (``tests/test_backtest_proxy.py`` checks they agree); reported
figures step the real env.
"""

from __future__ import annotations

import numpy as np

from backtest.metrics import sharpe_ratio
from envs.params import EnvParams

_ENV_DEFAULTS = EnvParams()  # fee and slippage default to the env's: same costs everywhere


def backtest_actions(
    actions: np.ndarray,
    open_: np.ndarray,
    close: np.ndarray,
    can_trade: np.ndarray,
    funding: np.ndarray,
    fee_bps: float = _ENV_DEFAULTS.fee_bps,
    slippage_bps: float = _ENV_DEFAULTS.slippage_bps,
    periods_per_year: int = 8760,
) -> dict[str, float]:
    """Trading metrics of ``actions`` (int, one per decision bar of a contiguous bar range).

        All arrays are over the same bars ``t = lo .. hi-1`` except ``open_``, ``close`` and
        ``funding``, which carry one more bar (``lo .. hi``) so that bar t+1 exists (pass zeros for
    funding to backtest without it, as the env's ``funding=False``). ``can_trade``
        = obs_ok & can_step for the decision bars; where False the position is forced to 0.
    """
    a = np.asarray(actions, dtype=np.int64)
    n = len(a)
    if len(open_) != n + 1 or len(close) != n + 1 or len(funding) != n + 1 or len(can_trade) != n:
        raise ValueError(f"need {n} actions/can_trade and {n + 1} open/close/funding values")
    ok = np.asarray(can_trade, dtype=bool)
    p = np.where(ok, a - 1, 0).astype(np.float64)  # target position per decision bar
    q = np.concatenate([[0.0], p[:-1]])  # held into bar t+1's open (0 after a forced-flat bar)
    c = (fee_bps + slippage_bps) / 1e4
    o1, c0, c1, f1 = open_[1:], close[:-1], close[1:], funding[1:]
    gap = 1.0 + q * (o1 / c0 - 1.0)
    trade = 1.0 - np.abs(p - q) * c
    hold = (1.0 + p * (c1 / o1 - 1.0)) * (1.0 - p * f1)
    # a bar that cannot step closes what it held at its own close (cost only, no new exposure)
    gap = np.where(ok, gap, 1.0)
    r = np.log(gap * trade * hold)
    # of simple returns, as the runner's equity curve gives them; nan for a never-trading path
    sharpe = sharpe_ratio(np.expm1(r), periods_per_year)
    trades = np.abs(p - q)
    return {
        "sharpe": sharpe,
        "score": rank_score(sharpe),
        "total_log_return": float(r.sum()),
        "turnover": float(trades.sum()),
        "n_trades": int((trades > 0).sum()),
        "exposure": float(np.abs(p).mean()) if n else 0.0,
        "long_share": float((p > 0).mean()) if n else 0.0,
        "short_share": float((p < 0).mean()) if n else 0.0,
    }


def rank_score(sharpe: float) -> float:
    """The Sharpe a selection ranks by: an undefined (nan, flat path) Sharpe ranks as 0."""
    return 0.0 if np.isnan(sharpe) else float(sharpe)
