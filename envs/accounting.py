"""The step formulas of ``TradingEnv`` in plain Python: the readable reference of the accounting.

Read this module to learn what one env step does to an account; ``envs.kernel`` is the
same maths laid out for speed (numba, arrays, no branches), and the tests hold it to this
reference (``tests/test_env_kernel.py``: random markets, settings and actions via
hypothesis; every accounting number and observation equal bit for bit, rewards to 1e-12).

One small pure function per cost or quantity, in plain Python floats and in the spec's order
of operations (the order matters for bit-identity with the kernel):

=====================  ===================================================================
``pre_trade_equity``   equity at the fill price, floored at 0 (a bankrupt account trades 0)
``units_after_fill``   units held after filling target position ``w``
``turnover``           notional traded, ``|du| * price`` (equity units)
``fee``                ``turnover * fee_bps / 1e4``
``slippage``           ``turnover * (slippage_bps / 1e4 + extra)``
``funding_paid``       ``rate * units * close`` (longs pay positive rates)
``mark_to_market``     ``cash + units * close``
``drawdown``           ``(peak, 1 - equity / peak)``
``log_return``         ``log(max(E, ruin level) / E_prev)`` (finite even for a ruined account)
rewards                each row's ``reference`` in ``envs.rewards`` (the reward table)
``is_terminated``      ruin (``E <= ruin level``) or drawdown above ``max_drawdown``
=====================  ===================================================================

``reference_step`` composes them into one bar of an account (``Account``) and
``reference_interval_step`` into one agent step of ``decision_interval`` bars, whose target is
``decision_target``: the action rules of ``envs.actions`` (volatility target, leverage cap,
no-trade band, minimum hold) applied to the action's target, the kernel's own function. Nothing here
is used by the env at run time; it is slow on purpose (one Python call per bar), except
``account_observation``: the observation's 4 account slots, which ``agents.predict`` builds for a
live account here too (``tests/test_serving_parity.py`` holds it to the env's observation), and
``Account`` + ``reference_step``, with which ``agents.paper`` carries its account from tick to
tick (a few bars per tick).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.actions import NEVER_TRADED, decide_target, realised_vol
from envs.market import MarketData
from envs.params import BARS_HELD_SCALE, UNREALISED_CLIP, EnvParams
from envs.rewards import REWARD_TABLE

NO_MAX_DRAWDOWN = 2.0  # max_drawdown=None: a drawdown (<= 1 while E >= 0) never exceeds it


@dataclass
class Account:
    """One account's state between bars (what ``reference_step`` reads and updates)."""

    t: int  # current decision bar (index into the MarketData)
    cash: float = 1.0
    units: float = 0.0  # signed instrument units held
    pos: float = 0.0  # current target position w in [-1, 1]
    entry: float = 0.0  # fill price of the trade that opened or flipped the position
    held: int = 0  # bars since the position was opened or flipped (0 when flat)
    eq: float = 1.0  # equity at the last mark
    peak: float = 1.0  # highest equity mark of the episode
    dd: float = 0.0  # drawdown at the last mark
    dsr_a: float = 0.0  # DSR: moving mean of R
    dsr_b: float = 1e-4  # DSR: moving second moment of R (starts at dsr_var0)
    steps: int = 0  # bars accounted in this episode
    since: float = NEVER_TRADED  # bars since the last trade (min_hold; a fresh account is free)

    @classmethod
    def fresh(cls, params: EnvParams, t0: int, entry: float) -> Account:
        """A flat account at ``initial_equity`` on decision bar ``t0`` (what ``reset`` makes)."""
        e0 = params.initial_equity
        return cls(t=t0, cash=e0, eq=e0, peak=e0, entry=entry, dsr_b=params.dsr_var0)


# --------------------------------------------------------------------------- the trade
def pre_trade_equity(cash: float, units: float, price: float) -> float:
    """Equity at the fill price, floored at 0: an account bankrupt between the close and the
    next open trades size 0 (it cannot be sized by a negative equity)."""
    return max(cash + units * price, 0.0)


def units_after_fill(w: float, equity: float, price: float) -> float:
    """Units held after filling target position ``w`` (fraction of equity) at ``price``."""
    return w * equity / price


def turnover(units_before: float, units_after: float, price: float) -> float:
    """Notional traded at ``price``, in equity units."""
    return abs(units_after - units_before) * price


def fee(notional: float, fee_bps: float) -> float:
    """Exchange fee on ``notional`` traded."""
    return notional * (fee_bps / 1e4)


def slippage(notional: float, slippage_bps: float, extra: float) -> float:
    """Execution cost on ``notional`` traded: a fixed rate plus the model's ``extra`` rate."""
    return notional * (slippage_bps / 1e4 + extra)


def slippage_extra(params: EnvParams, market: MarketData, t: int) -> float:
    """The slippage model's extra rate for decision bar ``t`` (fraction of notional):
    ``"fixed"`` 0, ``"range"`` coef * (high - low) / open of the fill bar, ``"vol"`` coef *
    the trailing volatility at bar t (known at decision time)."""
    if params.slippage_model == "range":
        fill_bar = t + 1 if params.fill == "next_open" else t
        return params.slippage_coef * float(market.range_frac[fill_bar])
    if params.slippage_model == "vol":
        return params.slippage_coef * float(market.vol[t])
    return 0.0


def fill_price(params: EnvParams, market: MarketData, t: int) -> float:
    """Price an order decided on bar ``t``'s close fills at: open[t+1] (or close[t])."""
    return float(market.open[t + 1] if params.fill == "next_open" else market.close[t])


# --------------------------------------------------------------------------- the mark
def funding_paid(rate: float, units: float, close: float) -> float:
    """Funding paid at a settlement (negative = received): longs pay positive rates."""
    return rate * units * close


def mark_to_market(cash: float, units: float, close: float) -> float:
    """Equity at ``close``: cash plus the position's value (negative units for a short)."""
    return cash + units * close


def drawdown(equity: float, peak: float) -> tuple[float, float]:
    """``(new peak, drawdown = 1 - equity / new peak)``; > 1 only for a negative equity."""
    peak = max(peak, equity)
    return peak, 1.0 - equity / peak


# --------------------------------------------------------------------------- rewards
def log_return(equity: float, equity_prev: float, ruin_level: float) -> float:
    """``R = log(E / E_prev)`` with E floored at the ruin level: finite for a ruined account
    (E_prev > ruin level always: an episode ends at the first mark at or below it)."""
    return math.log(max(equity, ruin_level) / equity_prev)


def is_terminated(equity: float, ruin_level: float, dd: float, max_drawdown: float | None) -> bool:
    """Ruin (``E <= ruin level``) or drawdown above ``max_drawdown`` (None: never)."""
    limit = NO_MAX_DRAWDOWN if max_drawdown is None else max_drawdown
    return equity <= ruin_level or dd > limit


def bars_held_scaled(bars: int) -> float:
    """The bars-held observation, ``log1p(bars) / log1p(720)``."""
    return math.log1p(bars) / math.log1p(BARS_HELD_SCALE)


# --------------------------------------------------------------------------- one bar / step
def _trade(acct: Account, w: float, price: float, extra: float, p: EnvParams) -> dict:
    """Fill target ``w`` at ``price`` (no trade, no cost when ``w`` is the current target)."""
    costs = {"fee": 0.0, "slippage": 0.0, "turnover": 0.0}
    if w == acct.pos:
        return costs
    u_new = units_after_fill(w, pre_trade_equity(acct.cash, acct.units, price), price)
    notional = turnover(acct.units, u_new, price)
    costs = {
        "fee": fee(notional, p.fee_bps),
        "slippage": slippage(notional, p.slippage_bps, extra),
        "turnover": notional,
    }
    acct.cash = acct.cash - (u_new - acct.units) * price - costs["fee"] - costs["slippage"]
    if math.copysign(1, w) * (w != 0) != math.copysign(1, acct.pos) * (acct.pos != 0):
        acct.entry, acct.held = price, 0  # opened or flipped: a new entry
    acct.units, acct.pos, acct.since = u_new, w, 0
    return costs


def _reward(acct: Account, eq: float, dd: float, p: EnvParams) -> float:
    """This bar's reward before the terminal penalty and the scale (updates the DSR state)."""
    r = log_return(eq, acct.eq, p.ruin_fraction * p.initial_equity)
    reference = REWARD_TABLE[p.reward].reference  # envs.rewards: the reward table
    reward, acct.dsr_a, acct.dsr_b = reference(r, dd, acct.dd, acct.dsr_a, acct.dsr_b, p)
    return reward


def account_observation(pos: float, entry: float, close: float, dd: float, held: int) -> np.ndarray:
    """The observation's 4 account values after the feature window, as float32: target
    position, unrealised return ``sign(pos) * (close / entry - 1)`` clipped to
    +-UNREALISED_CLIP, drawdown capped at 1, ``bars_held_scaled(held)``. ``entry``: the fill
    price that opened or flipped the position (any positive price when flat). The env's
    reference and ``agents.predict`` (a live account) both build the slots here."""
    sign = (pos > 0) - (pos < 0)
    unreal = min(max(sign * (close / entry - 1.0), -UNREALISED_CLIP), UNREALISED_CLIP)
    return np.array([pos, unreal, min(dd, 1.0), bars_held_scaled(held)], dtype=np.float32)


def _observation(acct: Account, m: MarketData, close: float) -> np.ndarray:
    """Bar ``acct.t``'s feature window, then position, unrealised return, drawdown, bars held
    (then the daily rows of a multi-timeframe market: ``MarketData.observation``)."""
    account = account_observation(acct.pos, acct.entry, close, acct.dd, acct.held)
    return m.observation(acct.t, account)


def reference_step(
    acct: Account, w: float, m: MarketData, p: EnvParams, step_ok: np.ndarray
) -> dict[str, Any]:
    """One bar of the spec: trade to ``w`` on bar ``acct.t``, hold over bar t+1, mark it.

    ``step_ok``: the env's can-decide mask (``EnvTables.step_ok``): the episode is truncated
    when bar t+1 cannot be decided on. Updates ``acct``; returns the env's info numbers plus
    ``reward``, ``terminated``, ``truncated`` and ``obs``.
    """
    t1 = acct.t + 1
    price = fill_price(p, m, acct.t)
    costs = _trade(acct, w, price, slippage_extra(p, m, acct.t), p)
    close = float(m.close[t1])
    paid = funding_paid(float(m.funding[t1]) if p.funding else 0.0, acct.units, close)
    acct.cash -= paid
    eq = mark_to_market(acct.cash, acct.units, close)
    acct.held += w != 0.0
    acct.since += 1
    peak, dd = drawdown(eq, acct.peak)
    ruin_level = p.ruin_fraction * p.initial_equity
    reward = _reward(acct, eq, dd, p)
    terminated = is_terminated(eq, ruin_level, dd, p.max_drawdown)
    reward = (reward - p.terminal_penalty * terminated) * p.reward_scale
    acct.steps += 1
    limit = p.episode_length or 1 << 62
    truncated = not terminated and (not step_ok[t1] or acct.steps >= limit)
    acct.t, acct.eq, acct.peak, acct.dd = t1, eq, peak, dd
    return dict(
        equity=eq,
        position=w,
        **costs,
        funding=paid,
        drawdown=dd,
        bar=t1,
        reward=reward,
        terminated=terminated,
        truncated=truncated,
        obs=_observation(acct, m, close),
    )


def decision_target(acct: Account, w: float, m: MarketData, p: EnvParams) -> float:
    """The position an action's target ``w`` trades to at decision bar ``acct.t``: the action
    rules (``envs.actions.decide_target``) with this account's position and bars since its last
    trade, and the realised volatility at bar t (bars <= t) when ``vol_target`` is set."""
    p = p.in_bars(m.freq_ns)
    sigma = 0.0
    if p.vol_target is not None:
        vol = realised_vol(
            m.close[: acct.t + 1], m.segment[: acct.t + 1], int(p.vol_window), m.freq_ns
        )
        sigma = float(vol[acct.t])
    vol_target = 0.0 if p.vol_target is None else p.vol_target
    return decide_target(
        w, acct.pos, acct.since, sigma, vol_target, p.max_leverage, p.no_trade_band, int(p.min_hold)
    )


def reference_interval_step(
    acct: Account, w: float, m: MarketData, p: EnvParams, step_ok: np.ndarray
) -> dict[str, Any]:
    """One agent step of ``decision_interval`` k bars: the action's target ``w`` through the
    action rules (``decision_target``; NaN: no decision, keep the position), then k
    ``reference_step`` at that target (no trade after the first: it is then the position),
    stopped at the bar where the episode ends; fee, slippage, funding, turnover and reward
    summed in bar order, the rest the last bar's."""
    w = acct.pos if math.isnan(w) else decision_target(acct, w, m, p)
    total: dict[str, Any] = {}
    for j in range(int(p.in_bars(m.freq_ns).decision_interval)):
        ref = reference_step(acct, w, m, p, step_ok)
        if j > 0:
            for key in ("fee", "slippage", "funding", "turnover", "reward"):
                ref[key] = total[key] + ref[key]
        total = ref
        if ref["terminated"] or ref["truncated"]:
            break
    return total
