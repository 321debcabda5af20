"""The one accounting kernel: advances n accounts by one agent step (numba, float64, no fastmath).

One agent step is ``decision_interval`` bars (1 by default): the action's target, after the
action rules of ``envs.actions`` (volatility target, leverage cap, no-trade band, minimum
hold; compiled from that module's plain function), trades on the first bar and is held,
without a trade, over the rest; every bar is accounted in turn (mark-to-market,
funding, drawdown, reward terms) and the step stops early at the bar where its episode ends.

``BatchedTradingEnv`` calls ``step_accounts`` with n=N accounts and ``TradingEnv`` with n=1
(through ``step_one``, a thin wrapper that saves call overhead), so the single env and the
batched env run the same accounting code and agree bit for bit by construction
(``tests/test_batched.py`` checks it). The maths is the spec in ``envs.trading_env``'s
docstring, written out readably in ``envs.accounting`` (one plain function per cost;
``tests/test_env_kernel.py`` holds this kernel to it). This module lays it out for speed:
one loop over accounts, small helpers inlined by numba (one per concern: fill, settlement,
reward, checks), one 64-byte row of a per-bar table per account and the observation window
copied with one memcpy (bar t's window is the contiguous run
``features[(t-window+1)*F : (t+1)*F]`` of the row-major feature array).

Compiled on first use and cached by numba next to this file (``__pycache__``); a warm cache
loads in well under a second, a cold compile takes a few seconds (``bench/env_step.py``
reports both). No ``parallel=True``: a ``prange`` version over 2 threads halved the kernel's
wall time when the second core was idle, but on the shared 2-core machine the end-of-loop
barrier waited for a descheduled thread and a step took ~10x longer (see bench/RESULTS.md).

Layouts (column indices below), all C-contiguous:

* ``state``  float64 (n, N_STATE): per account; integers (bar, steps, bars held, step
  limit) are stored as exact float64 (< 2**53). ``S_TARGET`` is the input (target
  position of this step's action; NaN: no decision, the position is kept without the
  action rules); ``S_FEE_MULT``/``S_SLIP_MULT`` scale this account's fee
  and slippage rates (1.0 from ``start_row``; set per training episode by cost
  randomisation, ``envs.randomise``); everything else is updated in place.
* ``consts`` float64 (N_CONST,): the env's settings (``kernel_consts``).
* ``bars``   float64 (n_bars + 2, N_BAR): ``bar_table``; column ``B_BARS_SCALED`` is
  indexed by bars held, not by bar.
* ``feats``  float32 (n_bars * F,): the flat feature array.
* ``obs``    float32 (n * obs_dim,): output rows (window, then the 4 account values).
* ``out``    float64 (N_OUT * n,): output, row j of a (N_OUT, n) array is quantity j.

Floating point: ``fastmath=False`` keeps IEEE order of operations (the expressions are
written in the order of the spec). ``log`` is the C library's (glibc), correctly rounded in
practice; numpy's AVX-512 ``np.log``, which the previous pure-numpy version used, differs
from it in the last bit for ~2 % of inputs near 1, so float64 rewards can differ from that
version by 1 ulp. Accounting (equity, costs, positions, observations) does not use ``log``.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numba
import numpy as np
from numba.core import cgutils, types
from numba.extending import intrinsic

from envs import actions, rewards
from envs.actions import NEVER_TRADED, decide_target
from envs.params import UNREALISED_CLIP, EnvParams, EnvTables
from envs.rewards import CODE_DRAWDOWN, CODE_DSR, CODE_LOG_RETURN, DSR_VAR_EPS, REWARD_CODES

# --- state columns (per account)
S_T, S_STEPS, S_HELD, S_MAX_STEPS = 0, 1, 2, 3  # integers stored as float64
S_CASH, S_UNITS, S_POS, S_ENTRY, S_EQ, S_PEAK, S_DD, S_DSR_A, S_DSR_B = 4, 5, 6, 7, 8, 9, 10, 11, 12
S_TARGET = 13  # input: target position w of this step's action (NaN: no decision, hold)
# per-episode cost multipliers of the account (1.0 = the env's costs; envs.randomise draws
# others for training episodes): fee rate x S_FEE_MULT, slippage rate x S_SLIP_MULT
S_FEE_MULT, S_SLIP_MULT = 14, 15
S_SINCE = 16  # bars since the account last traded (min_hold); NEVER_TRADED when fresh
N_STATE = 17
# --- out rows (per account): this step's numbers
O_REWARD, O_DONE, O_EQUITY, O_POSITION, O_FEE, O_SLIPPAGE = 0, 1, 2, 3, 4, 5
O_FUNDING, O_TURNOVER, O_DRAWDOWN, O_BAR = 6, 7, 8, 9
N_OUT = 10  # O_POSITION: the position held after the action rules (envs.actions)
DONE_TERMINATED, DONE_TRUNCATED = 1.0, 2.0  # O_DONE codes (0.0: episode goes on)
# --- per-bar table columns, row = decision bar t
B_FILL, B_SLIP, B_CLOSE_NEXT, B_FUND_NEXT, B_END_NEXT, B_BARS_SCALED = 0, 1, 2, 3, 4, 5
B_SIGMA = 6  # vol_target's realised volatility at decision bar t (envs.actions)
N_BAR = 8  # padded to 64 bytes: one cache line per row
# --- consts
C_FEE_RATE, C_FLOOR, C_MAX_DD, C_REWARD, C_DD_PENALTY, C_DSR_ETA = 0, 1, 2, 3, 4, 5
C_TERMINAL_PENALTY, C_REWARD_SCALE, C_WINDOW, C_N_FEATURES, C_N_BARS = 6, 7, 8, 9, 10
C_INTERVAL = 11  # decision_interval: bars per step (the action is held over them)
C_VOL_TARGET, C_MAX_LEVERAGE, C_BAND, C_MIN_HOLD = 12, 13, 14, 15  # the action rules
N_CONST = 16
NO_STEP_LIMIT = float(1 << 62)  # episode_length=None (exact in float64)


def bar_table(tables: EnvTables) -> np.ndarray:
    """Per decision bar t: fill price, slippage rate, close[t+1], funding[t+1], and 1.0 when
    bar t+1 cannot be decided on (the episode must end there); column ``B_BARS_SCALED`` holds
    ``bars_scaled[k]`` (float32 values, exact in float64) for k bars held."""
    nb = len(tables.close)
    # 64-byte aligned rows: the 5 values a step reads share one cache line
    raw = np.zeros((nb + 2) * N_BAR + 8)
    skip = (-raw.ctypes.data % 64) // 8
    table = raw[skip : skip + (nb + 2) * N_BAR].reshape(nb + 2, N_BAR)
    table[:nb, B_FILL] = tables.fill_price
    table[:nb, B_SLIP] = tables.slip_rate
    table[: nb - 1, B_CLOSE_NEXT] = tables.close[1:]
    table[: nb - 1, B_FUND_NEXT] = tables.funding[1:]
    table[: nb - 1, B_END_NEXT] = ~tables.step_ok[1:]
    table[nb - 1 :, B_END_NEXT] = 1.0
    table[:, B_BARS_SCALED] = tables.bars_scaled[: nb + 2]
    table[:nb, B_SIGMA] = tables.sigma
    return table


def kernel_consts(params: EnvParams, tables: EnvTables) -> np.ndarray:
    """The settings ``step_accounts`` reads, as a float64 vector (see the C_* indices)."""
    c = np.zeros(N_CONST)
    c[C_FEE_RATE] = tables.fee_rate
    c[C_FLOOR] = params.ruin_fraction * params.initial_equity
    c[C_MAX_DD] = 2.0 if params.max_drawdown is None else params.max_drawdown
    c[C_REWARD] = REWARD_CODES[params.reward]
    c[C_DD_PENALTY] = params.dd_penalty
    c[C_DSR_ETA] = params.dsr_eta
    c[C_TERMINAL_PENALTY] = params.terminal_penalty
    c[C_REWARD_SCALE] = params.reward_scale
    c[C_WINDOW] = tables.window
    c[C_N_FEATURES] = tables.n_features
    c[C_N_BARS] = len(tables.close)
    c[C_INTERVAL] = params.decision_interval  # an int: the env resolved it (in_bars)
    c[C_VOL_TARGET] = 0.0 if params.vol_target is None else params.vol_target
    c[C_MAX_LEVERAGE] = params.max_leverage
    c[C_BAND] = params.no_trade_band
    c[C_MIN_HOLD] = params.min_hold
    return c


def start_row(params: EnvParams, t0: int, entry: float, max_steps: float) -> list[float]:
    """A fresh account's state row: flat at ``initial_equity`` on decision bar ``t0``."""
    row = [0.0] * N_STATE
    e0 = params.initial_equity
    row[S_T], row[S_MAX_STEPS], row[S_ENTRY] = float(t0), float(max_steps), entry
    row[S_CASH] = row[S_EQ] = row[S_PEAK] = e0
    row[S_DSR_B] = params.dsr_var0
    row[S_FEE_MULT] = row[S_SLIP_MULT] = 1.0  # x 1.0 is exact: the env's own costs, bit for bit
    row[S_SINCE] = NEVER_TRADED  # a fresh account may trade at once (min_hold)
    return row


@intrinsic
def _copy_items(typingctx, dst, dst_start, src, src_start, count):  # noqa: ANN001, ANN202
    """``dst[dst_start : dst_start + count] = src[src_start : ...]`` as one ``llvm.memcpy``.

    For C-contiguous 1-D arrays of one dtype, non-overlapping, bounds already checked by the
    caller. numba's slice assignment compiles to an element loop ~4x slower than memcpy,
    and the observation copy is most of a batched step's time.
    """
    if not (
        isinstance(dst, types.Array)
        and dst == src.copy(readonly=False)
        and dst.ndim == 1
        and dst.layout == "C"
    ):
        return None
    sig = types.void(dst, types.intp, src, types.intp, types.intp)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        d = context.make_array(signature.args[0])(context, builder, args[0])
        s = context.make_array(signature.args[2])(context, builder, args[2])
        item = context.get_abi_sizeof(context.get_data_type(signature.args[0].dtype))
        cgutils.raw_memcpy(
            builder, builder.gep(d.data, [args[1]]), builder.gep(s.data, [args[3]]), args[4], item
        )
        return context.get_dummy_value()

    return sig, codegen


# Helpers of step_accounts are inlined at numba-IR level: no call, no boxing, no reference
# counts, so one function per concern costs nothing (bench/kernel_ab.py, bench/RESULTS.md).
_inline = numba.njit(inline="always", fastmath=False, nogil=True)
# the action rules: envs.actions' plain function itself, compiled (one source for every path)
_decide_target = _inline(decide_target)


@_inline
def _check_buffers(state, consts, bars, feats, obs, out):  # noqa: ANN001, ANN202 (numba)
    """Refuse buffers inconsistent with the layout: the step loop indexes without bounds
    checks (inlined too: a call with array arguments would cost reference counts)."""
    n = state.shape[0]
    n_feat = int(consts[C_N_FEATURES]) if consts.size >= N_CONST else 0
    window = int(consts[C_WINDOW]) if consts.size >= N_CONST else 0
    n_bars = int(consts[C_N_BARS]) if consts.size >= N_CONST else 0
    if (
        state.shape[1] != N_STATE
        or consts.size < N_CONST
        or bars.shape[0] < n_bars + 2
        or bars.shape[1] != N_BAR
        or feats.size < n_bars * n_feat
        or obs.size < n * (window * n_feat + 4)
        or out.size < N_OUT * n
    ):
        raise ValueError("step_accounts: buffer shapes do not match the layout in envs.kernel")
    if int(consts[C_INTERVAL]) < 1:
        raise ValueError("step_accounts: decision_interval must be >= 1")


@_inline
def _fill(w, pos, cash, units, entry, held, pf, fee_rate, slip_rate):  # noqa: ANN001, ANN202
    """The trade of a bar at fill price ``pf``: ``(cash, units, entry, held, turnover, fee,
    slippage)`` (a trade is ``w != pos``).

    Written without branches (random actions make ``w != pos`` unpredictable; selects are
    ~25 % faster). Without a trade u_new = units, so du = 0 and turnover, fee and slippage are
    exactly +0.0 and cash is unchanged: the spec's "no trade, no cost".
    """
    e_pre = cash + units * pf
    e_pre = 0.0 if e_pre < 0.0 else e_pre  # bankrupt between close and next open: size 0
    u_new = w * e_pre / pf
    u_new = u_new if w != pos else units
    du = u_new - units
    turnover = abs(du) * pf
    fee = turnover * fee_rate
    slip = turnover * slip_rate
    cash = cash - du * pf - fee - slip
    flipped = ((w > 0.0) - (w < 0.0)) != ((pos > 0.0) - (pos < 0.0))  # opened or flipped
    entry = pf if flipped else entry  # a new entry at the fill price
    held = 0.0 if flipped else held
    return cash, u_new, entry, held, turnover, fee, slip


@_inline
def _settle(cash, units, close, funding_rate):  # noqa: ANN001, ANN202
    """Funding at the bar's close, then the mark: ``(cash, equity, funding paid)``."""
    fund = funding_rate * units * close
    cash = cash - fund
    eq = cash + units * close
    return cash, eq, fund


@_inline
def _dsr(r_log, a, b, eta):  # noqa: ANN001, ANN202
    """Differential Sharpe ratio of ``r_log`` and the updated moments: ``(D, A, B)``."""
    da = r_log - a
    db = r_log * r_log - b
    var = b - a * a
    d = (b * da - 0.5 * a * db) / (var * math.sqrt(var)) if var > DSR_VAR_EPS else 0.0
    return d, a + eta * da, b + eta * db


@_inline
def _reward(eq, eq_prev, dd, dd_prev, a, b, cfg):  # noqa: ANN001, ANN202
    """The bar's reward before the terminal penalty and the scale: ``(reward, A, B)``
    (``cfg``: the settings tuple of ``step_accounts``)."""
    floor, kind, dd_penalty, eta = cfg[1], cfg[3], cfg[4], cfg[5]
    r_log = math.log((floor if eq <= floor else eq) / eq_prev)
    if kind == CODE_DRAWDOWN:  # capped at 1 (only a negative equity passes it): finite
        d = (dd if dd < 1.0 else 1.0) - dd_prev
        return r_log - dd_penalty * (d if d > 0.0 else 0.0), a, b
    if kind == CODE_LOG_RETURN:
        return r_log, a, b
    if kind == CODE_DSR:
        return _dsr(r_log, a, b, eta)
    return math.nan, a, b  # a row of envs.rewards without its branch here: _check_finite stops


@_inline
def _bar(acct, w, pf, slip_rate, c, funding_rate, cfg):  # noqa: ANN001, ANN202
    """One bar of an account holding target ``w``: the trade at fill price ``pf`` (none when
    ``w`` is already the position), funding and mark at close ``c``, drawdown, reward,
    termination.

    ``acct`` is ``(position, cash, units, entry, bars held, equity, peak, drawdown, DSR A,
    DSR B, bars since the last trade)`` before the bar; returns ``(acct after it, (reward, fee, slippage, funding,
    turnover), terminated)``. Scalars only: array arguments of an inlined function cost a
    reference count per call.
    """
    pos, cash, units, entry, held, eq_prev, peak, dd_prev, a, b, since = acct
    fee_rate, floor, max_dd, terminal_penalty, scale = cfg[0], cfg[1], cfg[2], cfg[6], cfg[7]
    cash, units, entry, held, turnover, fee, slip = _fill(
        w, pos, cash, units, entry, held, pf, fee_rate, slip_rate
    )
    since = (0.0 if w != pos else since) + 1.0  # counts this bar
    cash, eq, fund = _settle(cash, units, c, funding_rate)
    if w != 0.0:
        held += 1.0
    if eq > peak:
        peak = eq
    dd = 1.0 - eq / peak
    reward, a, b = _reward(eq, eq_prev, dd, dd_prev, a, b, cfg)
    terminated = eq <= floor or dd > max_dd
    if terminated:
        reward = reward - terminal_penalty
    reward = reward * scale
    return (
        (w, cash, units, entry, held, eq, peak, dd, a, b, since),
        (reward, fee, slip, fund, turnover),
        terminated,
    )


@_inline
def _add(sums, bar):  # noqa: ANN001, ANN202
    """Element-wise ``sums + bar`` of the (reward, fee, slippage, funding, turnover) tuples."""
    return (
        sums[0] + bar[0],
        sums[1] + bar[1],
        sums[2] + bar[2],
        sums[3] + bar[3],
        sums[4] + bar[4],
    )


@_inline
def _check_account(t, held, window, n_bars):  # noqa: ANN001, ANN202
    """Refuse an account whose next bar lies outside the market or whose state is corrupt."""
    if t < 0 or t + 2 < window or t + 1 >= n_bars:
        raise IndexError("decision bar outside the market: reset() the episode first")
    if not 0.0 <= held < n_bars:  # bars held <= steps < n_bars in any episode
        raise IndexError("bars held outside [0, n_bars): corrupt account state")


@_inline
def _check_finite(reward, eq):  # noqa: ANN001, ANN202
    """Only absurd prices overflow the equity (an inf mark makes a bar's log return, hence
    the step's reward sum, non-finite): a clear error, never an inf/nan reward."""
    if not (abs(reward) < math.inf and abs(eq) < math.inf):
        raise FloatingPointError(
            "equity overflowed to a non-finite number: the market has absurd prices "
            "(a level shift or a 1e300 value); clean the candles (envs.data.clean)"
        )


@_inline
def _account_obs(w, c, entry, dd):  # noqa: ANN001, ANN202
    """The observation's unrealised return (clipped to +-UNREALISED_CLIP) and drawdown
    (clipped at 1) at close ``c``."""
    sign = 1.0 if w > 0.0 else (-1.0 if w < 0.0 else 0.0)
    unreal = sign * (c / entry - 1.0)
    if unreal > UNREALISED_CLIP:
        unreal = UNREALISED_CLIP
    elif unreal < -UNREALISED_CLIP:
        unreal = -UNREALISED_CLIP
    return unreal, (dd if dd < 1.0 else 1.0)


# size: one numba loop over accounts x bars (a call per cost would cost speed in the hot
# path); the formulas are the documented reference functions in envs/accounting, tested equal
@numba.njit(cache=True, fastmath=False, nogil=True)
def step_accounts(state, consts, bars, feats, obs, out):  # noqa: ANN001, ANN201 (numba)
    """Advance every account of ``state`` by one agent step (``decision_interval`` bars, fewer
    when its episode ends first); returns how many episodes ended.

    See the module docstring for the layouts. Raises IndexError when an account's next bar
    lies outside the market (stepping a finished episode past the end of the data), and
    FloatingPointError when absurd prices overflow an account's equity.
    """
    _check_buffers(state, consts, bars, feats, obs, out)
    n, n_feat, window = state.shape[0], int(consts[C_N_FEATURES]), int(consts[C_WINDOW])
    wf, n_bars, interval = window * n_feat, int(consts[C_N_BARS]), int(consts[C_INTERVAL])
    # settings read once: fee rate, ruin floor, max drawdown, reward kind, dd penalty,
    # DSR eta, terminal penalty, reward scale (cfg[k] in the helpers)
    cfg = (consts[C_FEE_RATE], consts[C_FLOOR], consts[C_MAX_DD], consts[C_REWARD],
           consts[C_DD_PENALTY], consts[C_DSR_ETA], consts[C_TERMINAL_PENALTY],
           consts[C_REWARD_SCALE])  # fmt: skip
    rules = (consts[C_VOL_TARGET], consts[C_MAX_LEVERAGE], consts[C_BAND], consts[C_MIN_HOLD])
    n_done = 0
    for i in range(n):
        t = int(state[i, S_T])
        w, steps, max_steps = state[i, S_TARGET], state[i, S_STEPS], state[i, S_MAX_STEPS]
        acct = (state[i, S_POS], state[i, S_CASH], state[i, S_UNITS], state[i, S_ENTRY],
                state[i, S_HELD], state[i, S_EQ], state[i, S_PEAK], state[i, S_DD],
                state[i, S_DSR_A], state[i, S_DSR_B], state[i, S_SINCE])  # fmt: skip
        _check_account(t, acct[4], window, n_bars)
        # the decision: the action rules once, on the step's first bar; NaN: no decision
        # (the backtest runner between decisions), the position is kept
        if w != w:
            w = acct[0]
        else:
            w = _decide_target(w, acct[0], acct[10], bars[t, B_SIGMA], rules[0], rules[1],
                               rules[2], rules[3])  # fmt: skip
        # this account's episode costs: the rates times its multipliers (1.0: unchanged)
        slip_mult = state[i, S_SLIP_MULT]
        cfg_i = (cfg[0] * state[i, S_FEE_MULT], cfg[1], cfg[2], cfg[3], cfg[4], cfg[5],
                 cfg[6], cfg[7])  # fmt: skip
        sums, c, done = (0.0, 0.0, 0.0, 0.0, 0.0), 0.0, 0.0
        # One bar per pass; the action trades on the first bar only (then pos == w: no
        # trade, no cost). The sums start from the first bar's values (not 0.0 + x), so
        # interval 1 is the one-bar step bit for bit (-0.0 included).
        for j in range(interval):
            c = bars[t, B_CLOSE_NEXT]
            acct, bar, terminated = _bar(
                acct,
                w,
                bars[t, B_FILL],
                bars[t, B_SLIP] * slip_mult,
                c,
                bars[t, B_FUND_NEXT],
                cfg_i,
            )
            sums = bar if j == 0 else _add(sums, bar)
            steps += 1.0
            end_next = bars[t, B_END_NEXT]
            t += 1
            if terminated:
                done = DONE_TERMINATED
                break
            if end_next != 0.0 or steps >= max_steps:
                done = DONE_TRUNCATED
                break
        _, cash, units, entry, held, eq, peak, dd, a, b, since = acct
        _check_finite(sums[0], eq)
        if done != 0.0:
            n_done += 1
        state[i, S_T], state[i, S_STEPS], state[i, S_HELD], state[i, S_POS] = t, steps, held, w
        state[i, S_CASH], state[i, S_UNITS], state[i, S_ENTRY] = cash, units, entry
        state[i, S_EQ], state[i, S_PEAK], state[i, S_DD] = eq, peak, dd
        state[i, S_DSR_A], state[i, S_DSR_B], state[i, S_SINCE] = a, b, since
        row = (sums[0], done, eq, w, sums[1], sums[2], sums[3], sums[4], dd, float(t))
        for k in range(N_OUT):  # row k of out is quantity k: the O_* order of ``row``
            out[k * n + i] = row[k]
        # observation: bar t's window (contiguous in feats: one memcpy), then the account
        o = i * (wf + 4)
        _copy_items(obs, o, feats, (t + 1) * n_feat - wf, wf)
        unreal, dd_obs = _account_obs(w, c, entry, dd)
        obs[o + wf], obs[o + wf + 1], obs[o + wf + 2] = w, unreal, dd_obs
        obs[o + wf + 3] = bars[int(held), B_BARS_SCALED]
    return n_done


@numba.njit(cache=True, fastmath=False, nogil=True)
def step_one(state, consts, bars, feats, target):  # noqa: ANN001, ANN201 (numba)
    """``step_accounts`` for the single account of a (1, N_STATE) ``state`` with target
    position ``target`` (NaN: no decision): returns ``(obs, reward, done, equity, position,
    fee, slippage, funding, turnover, drawdown, bar)`` with a fresh float32 ``obs``.

    The same kernel, wrapped so that ``TradingEnv.step`` makes one call with few arguments
    and gets Python scalars back (the call overhead is most of a single env's step).
    """
    if state.shape[0] != 1:
        raise ValueError("step_one: state must hold exactly one account")
    state[0, S_TARGET] = target
    obs = np.empty(int(consts[C_WINDOW]) * int(consts[C_N_FEATURES]) + 4, dtype=np.float32)
    out = np.empty(N_OUT)
    step_accounts(state, consts, bars, feats, obs, out)
    return (
        obs,
        out[O_REWARD],
        out[O_DONE],
        out[O_EQUITY],
        out[O_POSITION],
        out[O_FEE],
        out[O_SLIPPAGE],
        out[O_FUNDING],
        out[O_TURNOVER],
        out[O_DRAWDOWN],
        int(out[O_BAR]),
    )


def _tie_cache_to(dispatcher: numba.core.dispatcher.Dispatcher, *modules: object) -> None:
    """Make ``dispatcher``'s on-disk cache stale when ``modules`` change, not only this file.

    numba keys a cached function on its own source file and does not track the code inlined
    from other modules (``envs.actions.decide_target``): without this, an edited action rule
    would keep running its old compiled version. The modules' source hashes join the cache
    index's stamp (numba's ``IndexDataCacheFile._source_stamp``; ``tests/test_env_actions.py``
    checks the attribute still exists, so a numba upgrade that renames it fails loudly).
    """
    cache_file = dispatcher._cache._cache_file  # type: ignore[attr-defined]  # numba internals
    hashes = tuple(hashlib.sha256(Path(m.__file__).read_bytes()).hexdigest() for m in modules)  # type: ignore[attr-defined]  # modules have a file
    cache_file._source_stamp = (cache_file._source_stamp, *hashes)


_tie_cache_to(step_accounts, actions, rewards)
_tie_cache_to(step_one, actions, rewards)
