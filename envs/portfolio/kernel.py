"""The portfolio accounting kernel: advances n accounts over N assets by one bar (numba, float64).

The single-asset kernel's maths (``envs.kernel``, spec in ``envs.trading_env``) with a sum over
assets; with N = 1 it performs the same floating-point operations in the same order, so a
one-asset portfolio reproduces ``TradingEnv``'s equity, fees, slippage and funding bit for bit
(``tests/test_portfolio_env.py``). The reward is the single kernel's own ``_reward`` (drawdown,
log return or DSR on the portfolio's equity).

One step of account a on decision bar t, target weights ``w`` (already mapped from the action and
zero for every asset not tradable at t, ``envs.portfolio.weights``):

1. Liquidation: an asset still held but no longer tradable at t (its next bar is missing: a gap,
   a delisting, the end of its data) is sold at bar t's close, the last price it has, paying fee
   and slippage on the notional (nothing is held across a bar the asset does not have).
2. ``E_pre = max(cash + sum_i u_i * open_i[t+1], 0)`` (equity at the fill prices).
3. For each asset whose target changed (``w_i != pos_i``), or every tradable asset on a
   rebalance (``force``: weights drift with prices, so re-choosing a target is no trade unless
   a rebalance is asked for): ``u_i' = w_i * E_pre / open_i[t+1]``,
   ``turnover_i = |u_i' - u_i| * open_i[t+1]``, fee and slippage on it, cash pays the trade and
   the costs. An unchanged target is not traded (no cost), as in the single env.
4. Funding per asset at bar t+1's close: ``cash -= rate_i * u_i' * close_i[t+1]``.
5. ``E = cash + sum_i u_i' * close_i[t+1]``; peak, drawdown, reward, ruin/drawdown termination.

Conservation (tested with hypothesis): ``E_{t+1} - E_t = sum_i pnl_i - fees - slippage -
funding`` with ``pnl_i = u_i (open_i[t+1] - close_i[t]) + u_i' (close_i[t+1] - open_i[t+1])``
(zero for a liquidated asset), reported per asset in ``out_asset``.
"""

from __future__ import annotations

import numba
import numpy as np

from envs.kernel import DONE_TERMINATED, DONE_TRUNCATED, _check_finite, _copy_items, _reward

# --- scalar state columns (per account)
P_T, P_STEPS, P_MAX_STEPS, P_CASH, P_EQ, P_PEAK, P_DD, P_DSR_A, P_DSR_B = range(9)
N_PSTATE = 9
# --- out rows (per account): reward, done code, equity, fee, slippage, funding, turnover, dd, bar
Q_REWARD, Q_DONE, Q_EQUITY, Q_FEE, Q_SLIPPAGE, Q_FUNDING, Q_TURNOVER, Q_DRAWDOWN, Q_BAR = range(9)
N_QOUT = 9
# --- per-asset out columns: price P&L, fee, slippage, funding, turnover (equity units)
A_PNL, A_FEE, A_SLIPPAGE, A_FUNDING, A_TURNOVER = range(5)
N_AOUT = 5
# --- per-bar tables (T, N) stacked in one (6, T, N) array
T_FILL, T_CLOSE_NOW, T_CLOSE_NEXT, T_FUND_NEXT, T_TRADABLE, T_OBS_OK = range(6)
N_TABLE = 6
WEIGHT_CLIP = 10.0  # observed weights are clipped: finite bounds for the observation space


_inline = numba.njit(inline="always", fastmath=False, nogil=True)


@_inline
def _trade_all(cash, units, pos, w, force, tab, t, a, fee_rate, slip_rate, aout):  # noqa: ANN001, ANN202
    """Steps 1-3 of the module doc for account ``a``: liquidate, size on E_pre, trade (every
    tradable asset back to its target when ``force`` is 1.0: a rebalance). Returns
    ``(cash, fee, slippage, turnover)``; writes the per-asset P&L of the held units up to the
    fill and the per-asset costs into ``aout[a]`` (N, N_AOUT)."""
    n_assets = units.shape[1]
    fee_sum, slip_sum, turn_sum = 0.0, 0.0, 0.0
    for i in range(n_assets):
        for k in range(N_AOUT):
            aout[a, i, k] = 0.0
        if units[a, i] != 0.0 and tab[T_TRADABLE, t, i] == 0.0:  # 1. liquidate at close t
            p = tab[T_CLOSE_NOW, t, i]
            turnover = abs(units[a, i]) * p
            fee, slip = turnover * fee_rate, turnover * slip_rate
            cash = cash + units[a, i] * p - fee - slip
            units[a, i], pos[a, i] = 0.0, 0.0
            aout[a, i, A_FEE], aout[a, i, A_SLIPPAGE], aout[a, i, A_TURNOVER] = fee, slip, turnover
            fee_sum, slip_sum, turn_sum = fee_sum + fee, slip_sum + slip, turn_sum + turnover
    e_pre = cash
    for i in range(n_assets):
        if units[a, i] != 0.0:
            e_pre = e_pre + units[a, i] * tab[T_FILL, t, i]
    e_pre = 0.0 if e_pre < 0.0 else e_pre  # bankrupt between close and next open: size 0
    for i in range(n_assets):
        if tab[T_TRADABLE, t, i] == 0.0:
            continue
        pf = tab[T_FILL, t, i]
        aout[a, i, A_PNL] = units[a, i] * (pf - tab[T_CLOSE_NOW, t, i])
        u_new = w[a, i] * e_pre / pf
        u_new = u_new if (w[a, i] != pos[a, i] or force[a] != 0.0) else units[a, i]
        du = u_new - units[a, i]
        turnover = abs(du) * pf
        fee, slip = turnover * fee_rate, turnover * slip_rate
        cash = cash - du * pf - fee - slip
        units[a, i], pos[a, i] = u_new, w[a, i]
        aout[a, i, A_FEE] += fee
        aout[a, i, A_SLIPPAGE] += slip
        aout[a, i, A_TURNOVER] += turnover
        fee_sum, slip_sum, turn_sum = fee_sum + fee, slip_sum + slip, turn_sum + turnover
    return cash, fee_sum, slip_sum, turn_sum


@_inline
def _settle_all(cash, units, tab, t, a, aout):  # noqa: ANN001, ANN202
    """Steps 4-5: funding per asset at bar t+1's close, then the mark: ``(cash, E, funding)``."""
    fund_sum = 0.0
    for i in range(units.shape[1]):
        if units[a, i] != 0.0:
            c = tab[T_CLOSE_NEXT, t, i]
            fund = tab[T_FUND_NEXT, t, i] * units[a, i] * c
            cash = cash - fund
            fund_sum = fund_sum + fund
            aout[a, i, A_FUNDING] = fund
            aout[a, i, A_PNL] += units[a, i] * (c - tab[T_FILL, t, i])
    eq = cash
    for i in range(units.shape[1]):
        if units[a, i] != 0.0:
            eq = eq + units[a, i] * tab[T_CLOSE_NEXT, t, i]
    return cash, eq, fund_sum


@numba.njit(cache=True, fastmath=False, nogil=True)
def step_portfolio(scal, units, pos, target, force, tab, end_next, cfg, out, aout):  # noqa: ANN001, ANN201
    """Advance every account one bar; returns how many episodes ended.

    ``scal`` (n, N_PSTATE); ``units``/``pos``/``target`` (n, N); ``force`` (n,) 1.0 to
    rebalance every tradable asset to its target even when unchanged; ``tab`` (N_TABLE, T, N);
    ``end_next`` (T,) 1.0 where bar t+1 cannot be decided on; ``cfg`` the settings tuple of
    ``envs.kernel`` (fee rate, ruin floor, max drawdown, reward code, dd penalty, DSR eta,
    terminal penalty, reward scale) plus the slippage rate at index 8; ``out`` (N_QOUT, n);
    ``aout`` (n, N, N_AOUT).
    """
    n_done = 0
    for a in range(scal.shape[0]):
        t = int(scal[a, P_T])
        if t < 0 or t + 1 >= end_next.shape[0]:
            raise IndexError("decision bar outside the universe: reset() the episode first")
        cash, fee, slip, turnover = _trade_all(
            scal[a, P_CASH], units, pos, target, force, tab, t, a, cfg[0], cfg[8], aout
        )
        cash, eq, fund = _settle_all(cash, units, tab, t, a, aout)
        peak = eq if eq > scal[a, P_PEAK] else scal[a, P_PEAK]
        dd = 1.0 - eq / peak
        reward, da, db = _reward(
            eq, scal[a, P_EQ], dd, scal[a, P_DD], scal[a, P_DSR_A], scal[a, P_DSR_B], cfg
        )
        terminated = eq <= cfg[1] or dd > cfg[2]
        if terminated:
            reward = reward - cfg[6]
        reward = reward * cfg[7]
        _check_finite(reward, eq)
        steps = scal[a, P_STEPS] + 1.0
        done = 0.0
        if terminated:
            done = DONE_TERMINATED
        elif end_next[t] != 0.0 or steps >= scal[a, P_MAX_STEPS]:
            done = DONE_TRUNCATED
        n_done += done != 0.0
        scal[a, P_T], scal[a, P_STEPS], scal[a, P_CASH] = t + 1, steps, cash
        scal[a, P_EQ], scal[a, P_PEAK], scal[a, P_DD] = eq, peak, dd
        scal[a, P_DSR_A], scal[a, P_DSR_B] = da, db
        row = (reward, done, eq, fee, slip, fund, turnover, dd, float(t + 1))
        for k in range(N_QOUT):
            out[k, a] = row[k]
    return n_done


@numba.njit(cache=True, fastmath=False, nogil=True)
def observe(scal, units, tab, feats, n_feat, window, obs):  # noqa: ANN001, ANN201
    """Write each account's observation at its current bar t into ``obs`` (flat, n * obs_dim).

    ``feats`` is the universe's (N, T, F) float32 features flattened. Per asset i: its feature
    window ``[t - window + 1, t]`` (one memcpy; zeros when its window is not valid), its
    weight ``u_i * close_i[t] / E`` (clipped to +-10) and 1.0 if it is tradable at t; then the
    portfolio's drawdown (clipped at 1)."""
    n_assets = units.shape[1]
    n_bars = feats.shape[0] // (n_assets * n_feat)
    wf = window * n_feat
    block = wf + 2
    obs_dim = n_assets * block + 1
    for a in range(scal.shape[0]):
        t = int(scal[a, P_T])
        eq = scal[a, P_EQ]
        for i in range(n_assets):
            o = a * obs_dim + i * block
            if tab[T_OBS_OK, t, i] != 0.0:
                _copy_items(obs, o, feats, (i * n_bars + t + 1) * n_feat - wf, wf)
            else:
                for k in range(wf):
                    obs[o + k] = 0.0
            weight = 0.0
            if units[a, i] != 0.0 and eq > 0.0:
                weight = units[a, i] * tab[T_CLOSE_NOW, t, i] / eq
                weight = min(max(weight, -WEIGHT_CLIP), WEIGHT_CLIP)  # a near-ruined account
            obs[o + wf] = weight
            obs[o + wf + 1] = tab[T_TRADABLE, t, i]
        dd = scal[a, P_DD]
        obs[a * obs_dim + n_assets * block] = dd if dd < 1.0 else 1.0


def build_tables(
    open_: np.ndarray,
    close: np.ndarray,
    funding: np.ndarray,
    tradable: np.ndarray,
    obs_ok: np.ndarray,
    funding_on: bool,
) -> np.ndarray:
    """The (N_TABLE, T, N) per-bar table from the universe's (N, T) arrays (NaN prices where an
    asset is absent become 0.0: the kernel only reads prices of tradable or held assets)."""
    n, t_len = close.shape
    tab = np.zeros((N_TABLE, t_len, n))
    tab[T_FILL, :-1] = open_[:, 1:].T
    tab[T_CLOSE_NOW] = close.T
    tab[T_CLOSE_NEXT, :-1] = close[:, 1:].T
    if funding_on:
        tab[T_FUND_NEXT, :-1] = funding[:, 1:].T
    tab[T_TRADABLE] = tradable.T
    tab[T_OBS_OK] = obs_ok.T
    return np.ascontiguousarray(np.nan_to_num(tab, nan=0.0))


def kernel_cfg(
    fee_bps: float,
    slippage_bps: float,
    floor: float,
    max_dd: float,
    reward_code: float,
    dd_penalty: float,
    dsr_eta: float,
    terminal_penalty: float,
    reward_scale: float,
) -> tuple[float, ...]:
    """The settings tuple ``step_portfolio`` reads (``envs.kernel``'s order, then slippage)."""
    return (
        fee_bps / 1e4,
        floor,
        max_dd,
        reward_code,
        dd_penalty,
        dsr_eta,
        terminal_penalty,
        reward_scale,
        slippage_bps / 1e4 + 0.0,  # the single env's slip rate with no extra model: bps / 1e4
    )
