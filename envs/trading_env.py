"""TradingEnv: one account trading one market bar by bar. The docstring is the spec.

## Description

An account with starting equity ``initial_equity`` (1.0) trades a single
instrument (spot prices, perpetual funding) on bars of one size (1 minute .. 1 day; the
shipped presets are hourly, 4-hourly and daily). At each step the
agent sees a window of normalised features and its account state at bar t's
close, and chooses a **target position** for the next bar (the next
``decision_interval`` bars, see below).

What the bar size changes (``envs.barsize``; a market at another bar size is
``make_env("btc1h?bar=4h")``, ``make_env("path/to/candles.csv.gz")`` or
``gymnasium.make("TradingEnv-v1", market=..., bar="4h")``, ``envs.marketspec``):
``window`` counts bars (32 bars = 32 hours on 1h bars, 128 hours on 4h bars);
features defined in time keep their span (``ret_24h`` is 6 four-hour bars) and
the others keep their bar counts (``envs.features.feature_specs``); a funding
settlement is charged on the bar whose span ``(open, close]`` contains it (a
daily bar sums its day's three); the warm-up is ``warmup_bars(set, bar)`` +
``window`` bars; Sharpe and volatility annualise with ``periods_per_year`` =
365 days / bar (8,760 for 1h, 365 for 1d). Episode lengths and
``decision_interval`` count bars.

## Action space

``action="discrete"`` (default): ``Discrete(3)``

| action | name | target position w |
|---|---|---|
| 0 | SELL | -1 (short 100 % of equity); 0 (flat) with ``long_only=True`` |
| 1 | HOLD | 0 (flat) |
| 2 | BUY  | +1 (long 100 % of equity) |

HOLD means "be flat", not "keep what I have": actions are target positions,
not deltas. A target is a function of the observation alone (the position is
in the observation), the action set is the same in every state, "keep" is
simply re-choosing the current target, and a policy can never walk its
exposure out of [-1, 1].

``action="continuous"``: ``Box(-1, 1, (1,), float32)``, the target exposure w
(clipped to [-1, 1]; to [0, 1] with ``long_only``). For SAC.

## Action rules (actions that don't churn; ``envs.actions``)

At each decision (bar t's close; once per agent step) the action's target ``a`` (the table's
w above) becomes the position traded to by four rules, in this order; all off by default
(then the position is ``a`` itself, bit for bit):

1. ``vol_target=V`` (annualised, e.g. 0.5): ``w = a * V / sigma_t``, ``sigma_t`` the annualised
   realised volatility at bar t: std (ddof 0) of the last ``vol_window`` (30d) in-segment log
   close returns ending at bar t (bars <= t only), times ``sqrt(365 days / bar)``. No
   estimate (fewer than 2 returns since the segment start, or sigma 0): w = 0 (flat).
2. ``max_leverage=L`` (1): w clipped to [-L, L]; the position observation's bound is
   ``max(1, L)``. A discrete agent's +-1 is then a direction scaled to the target risk.
3. ``no_trade_band=b``: if ``|w - position| <= b`` (fractions of equity; the position is the
   current target, the observation's position slot) the position is kept: no trade, no cost.
   With discrete targets (steps of 1) only a band >= 1 or a volatility target makes it bite.
4. ``min_hold=h`` (bars, or a time such as ``"3d"``): during the h bars that follow a trade,
   decisions keep the position (a trade decided at t fills at t+1's open and holds bars
   t+1..t+h at least; an episode's first decision is always free). Exits count as trades.

The position that results is what the info's ``position``, the observation, the fill and every
cost use; the costs of the trades the rules allow are charged as above (equity and reward).
The same function decides in the batched env, the backtest runner (which keeps the position
without consulting the rules between the decisions of a ``decision_interval`` policy:
``TradingEnv.hold()``) and serving (``agents`` predict/paper). Durations (``decision_interval``,
``min_hold``, ``vol_window``) are bars (an int) or a time (``"1d"``, ``"12h"``, ``"2w"``)
converted with the market's bar size; a time that is not a whole number of bars is refused
(``decision_interval="90m"`` on 1h bars) and ``env.params`` holds the bars.

## Observation space

``Box(low, high, (window * F + 4,), float32)``; F = number of features. Bounds
are finite: features +-max(10, ceil(max |feature|)) (normalised features are
within +-5, so every normalised market has the same space), account values as
in the table.

| index | what | units / normalisation | latest bar used |
|---|---|---|---|
| ``k*F + j`` (k < window) | feature j of bar ``t - window + 1 + k`` (oldest first; row-major ``(window, F)``) | robust z-score clipped to +-5 (``RobustNormaliser``, fitted on train rows) | bar t (its close) |
| ``window*F + 0`` | position: the current target w | -1..1 | - |
| ``window*F + 1`` | unrealised return: ``sign(w) * (close_t / entry_price - 1)``, 0 when flat | simple return since entry (entry = fill price of the trade that opened or flipped the position), clipped to +-10 | close of bar t |
| ``window*F + 2`` | drawdown ``1 - E_t / max(E_start..E_t)`` within the episode | fraction in [0, 1] (clipped at 1: only a ruined account passes it) | close of bar t |
| ``window*F + 3`` | bars held (bars since the position was opened or flipped; 0 when flat) scaled as ``log1p(n) / log1p(720)`` | 1.0 after a month, in [0, 10] | - |

No value uses a bar after t (``tests/test_env_episodes.py::
test_no_look_ahead_future_bars_do_not_change_the_observation`` proves it by building two
markets that differ only after t).

## Execution timing and accounting (float64)

The formulas below are written out as small plain-Python functions, one per cost, in
``envs.accounting`` (the readable reference; the numba kernel is tested against it).

Decision on bar t's close. ``fill="next_open"`` (default): the order fills at
bar t+1's **open**. ``fill="close"``: it fills at bar t's close, which is
optimistic (you cannot observe a close and trade at it). The new position is
held over bar t+1 and marked at its close. With fill price ``P`` and the units
``u`` held before the fill::

    E_pre    = cash + u * P                          (equity at the fill price)
    u_new    = w * E_pre / P     if w != current target, else u (no trade, no cost)
    turnover = |u_new - u| * P                       (notional traded, equity units)
    fee      = turnover * fee_bps / 1e4
    slippage = turnover * s,  s = slippage_bps / 1e4 + extra
    cash     = cash - (u_new - u) * P - fee - slippage
    funding  = funding_rate[t+1] * u_new * close[t+1]    (settlement at bar t+1's close)
    cash     = cash - funding
    E_{t+1}  = cash + u_new * close[t+1]

``extra`` by ``slippage_model``: ``"fixed"`` 0; ``"range"``
``slippage_coef * (high - low) / open`` of the **fill bar** (t+1 for next_open:
an execution cost realised with the fill, never seen by the observation);
``"vol"`` ``slippage_coef * sigma_t`` with sigma_t the std of the last 24
in-segment log close returns up to bar t (known at decision time).
``funding=True`` charges each settlement on the position held over the bar
whose close is the settlement instant: longs pay positive rates, shorts
receive them. Before a contract listed there is no rate (0). Shorts hold
cash ``E + |u| P`` and owe ``|u|`` units; no borrow fee is charged.

## Rewards (``reward=``), all multiplied by ``reward_scale`` (1.0)

With ``R = log(E_{t+1} / E_t)`` net of every cost above (the equity in it is
floored at the ruin level so it stays finite):

* ``"drawdown"`` (default): ``R - dd_penalty * max(0, min(DD_{t+1}, 1) - DD_t)``,
  ``DD = 1 - E / peak`` (capped at 1 here and in the observation: only a negative equity,
  i.e. a ruin, passes 1); with ``dd_penalty=0`` rewards sum to ``log(E_T / E_0)``.
* ``"log_return"``: ``R``. Typical |R| on BTC hourly bars is ~1e-2 or less.
* ``"dsr"``: differential Sharpe ratio (Moody & Saffell 1998, 2001) of R:
  ``D = (B dA - A dB / 2) / (B - A^2)^{3/2}`` with ``dA = R - A``, ``dB = R^2 - B``,
  then ``A += eta dA``, ``B += eta dB`` (``eta = dsr_eta``, A starts 0, B starts
  ``dsr_var0``); D = 0 when ``B - A^2 <= 1e-12``. Order 1 per step.

On termination ``terminal_penalty`` (1.0) is subtracted from that step's reward.

## Decision interval (``decision_interval=k``, default 1)

The agent acts every k bars. ``step(action)`` fills the target exactly as above
(on decision bar t, at bar t+1's open by default), then holds it for k bars with
no further trade (no fee, no slippage): bars t+1..t+k are each accounted as
above (mark-to-market, funding, peak/drawdown, DSR update, ruin/drawdown checks),
as if the same target were chosen again on each of them. The step's reward is
the **sum of the k per-bar rewards** (so with ``dd_penalty=0`` rewards still sum
to ``log(E_T / E_0)``); the observation is at the last bar's close. A step ends
early, after fewer than k bars, at the bar where the episode terminates (ruin or
max drawdown, checked every bar; the terminal penalty is in that bar's reward)
or is truncated (a gap, the split end, or ``episode_length`` bars). A discount
``gamma`` of an agent therefore applies per agent step = per k bars
(``gamma_bar ** k`` for a per-bar discount ``gamma_bar``). k=1 is the one-bar
step, bit for bit. ``decision_interval="1d"`` on hourly candles is k=24 (a time is
converted with the market's bar size; see "Action rules").

## Episodes

* Start: ``reset()`` draws a decision bar uniformly (``self.np_random``) among the
  split's bars that have a valid observation window and a next bar in the same
  segment. ``reset(options={"start": i})`` starts at bar i;
  ``reset(options={"sequential": True})`` starts at the next run of the
  deterministic full-split pass (``episode_starts()``; cycles) and runs to its
  end regardless of ``episode_length``; ``episode_length=None`` runs every
  episode to the end of its segment/split.
* Truncation (``truncated=True``): ``episode_length`` **bars** held (counted in bars,
  not agent steps: with ``decision_interval=k`` an episode has at most
  ``ceil(episode_length / k)`` steps, the last one possibly shorter), the split ends
  (the last position is held over the split's last bar), or the next decision
  bar has no valid window/next bar (a gap follows): an episode never crosses a gap.
* Termination (``terminated=True``): ruin (``E <= ruin_fraction * initial_equity``)
  or drawdown ``> max_drawdown`` (0.5; None disables it).

## Info (numbers only)

``equity``, ``position`` (target w held over the bar), ``fee``, ``slippage``,
``funding`` (paid this step; negative = received), ``turnover`` (notional, equity
units), ``drawdown``, ``bar`` (index into the MarketData), ``timestamp`` (bar
open, ns UTC) of the new decision bar. With ``decision_interval=k`` fee, slippage,
funding and turnover are sums over the step's bars; equity, position, drawdown,
bar and timestamp are the last bar's. (Per-bar numbers: a k=1 env stepped with
the same action k times gives exactly the same bars; ``backtest.runner`` does so.)

## Arguments

``TradingEnv(market, split=(lo, hi), **options)``; ``split`` is the half-open range of
decision-bar rows (default: the whole series); ``envs.make_env`` builds the market. The
options are the fields of ``envs.params.EnvParams``, documented there once (this table is
generated from them at import; a bad value is refused with one line naming the option, the
value and the valid range):

<<OPTIONS_TABLE>>

## Implementation

``step`` calls the accounting kernel of ``envs.kernel`` (numba) with one account;
``BatchedTradingEnv`` calls the same kernel with N, so both agree bit for bit.
Each ``step`` returns a fresh observation array (safe to keep). ``envs.accounting`` is
the same maths in plain Python (``tests/test_env_kernel.py`` holds the kernel to it).

Extreme settings and markets stay finite: a ruined account (equity at or below the ruin
level, negative after costs larger than the equity) terminates with a finite reward (the
log return's equity is floored at the ruin level) and finite numbers in the info;
absurd prices that would overflow the equity (e.g. 1e300 and 1e-300 in one series) raise
``FloatingPointError`` naming the cause instead of returning inf/nan.

## Version history

The gymnasium ids carry the version: ``TradingEnv-<preset>-v1`` (``envs.ENV_VERSION``).

* v0: initial version (the kernel replaced the pure-Python step without changing results,
  except float64 rewards may differ by 1 ulp: ``log`` is the C library's, see ``envs.kernel``).
* v1: adds ``decision_interval`` (action hold over k bars; ``episode_length`` counts bars).
  The default k=1 reproduces v0 bit for bit, so ``TradingEnv-<preset>-v0`` stays registered
  as v1 with k fixed to 1 (``decision_interval`` is refused there; gymnasium warns that v1
  exists). Also in v1: absurd option values are refused (ranges in the table above:
  e.g. ``fee_bps`` in [0, 10000], ``max_drawdown`` up to 1) and an equity overflow raises
  instead of returning inf/nan; every result v0 produced is unchanged. Later in v1: the action
  rules (``no_trade_band``, ``min_hold``, ``vol_target``, ``vol_window``, ``max_leverage``) and
  durations in time units; their defaults reproduce earlier v1 results bit for bit
  (``tests/test_actions_golden.py``).
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from envs import kernel as K
from envs.market import MarketData
from envs.params import EnvParams, EnvTables, options_table

__doc__ = (__doc__ or "").replace("<<OPTIONS_TABLE>>", options_table())  # options documented once
_step_one = K.step_one


class TradingEnv(gym.Env):
    """Single-account trading env; see the module docstring for the full spec.

    ``TradingEnv(market, split=(lo, hi), **options)``: options (``envs.params.EnvParams``):

    <<OPTIONS_TABLE>>
    """

    metadata: dict[str, Any] = {"render_modes": []}
    render_mode = None

    def __init__(
        self, market: MarketData, split: tuple[int, int] | None = None, **options: Any
    ) -> None:
        super().__init__()
        # durations in bars of this market ('1d' = 24 bars on 1h candles; envs.actions)
        self.params = EnvParams.from_kwargs(**options).in_bars(market.freq_ns)
        self.market = market
        self.tables = EnvTables(market, self.params, split or (0, market.n_bars))
        p, tb = self.params, self.tables
        self.window, self.n_features = tb.window, tb.n_features
        self.observation_space, self.action_space = tb.spaces(p.action)
        self._wf = tb.window * tb.n_features
        # the kernel's inputs (see envs.kernel): one account's state row, settings, per-bar
        # table, flat features
        self._state = np.zeros((1, K.N_STATE))
        self._state[0, K.S_T] = -1.0  # not reset yet
        self._consts = K.kernel_consts(p, tb)
        self._bars = K.bar_table(tb)
        self._feats = np.ascontiguousarray(market.features, dtype=np.float32).reshape(-1)
        self._ts = tb.timestamps.tolist()  # list: scalar indexing ~3x faster than an ndarray's
        self._targets = p.targets
        self._discrete = p.action == "discrete"
        self._long_only = p.long_only
        self._daily = tb.daily_window > 0
        self._seq_next = 0

    # ----------------------------------------------------------------- public helpers
    def episode_starts(self) -> np.ndarray:
        """First bar of each episode of a deterministic full-split pass (one per run)."""
        return self.tables.run_starts.copy()

    @property
    def t(self) -> int:
        """Current decision bar (index into ``market``); -1 before the first reset."""
        return int(self._state[0, K.S_T])

    # ----------------------------------------------------------------- gym API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode (see "Episodes" in the module docstring) -> ``(obs, info)``."""
        super().reset(seed=seed)
        length = self.params.episode_length
        max_steps = K.NO_STEP_LIMIT if length is None else length
        starts, ok = self.tables.starts, self.tables.step_ok
        if options and options.get("start") is not None:
            t0 = int(options["start"])
            if not (0 <= t0 < len(ok) and ok[t0]):
                raise ValueError(
                    f"start bar {t0} is not a valid decision bar of this split (needs a full "
                    f"valid window, a next bar in the same segment, inside rows "
                    f"[{self.tables.lo}, {self.tables.hi - 1})); see episode_starts()"
                )
        elif options and options.get("sequential"):
            runs = self.tables.run_starts
            t0 = int(runs[self._seq_next % len(runs)])
            self._seq_next += 1
            max_steps = K.NO_STEP_LIMIT
        else:
            t0 = int(starts[int(self.np_random.integers(len(starts)))])
        e0 = self.params.initial_equity
        self._state[0] = K.start_row(self.params, t0, float(self.tables.close[t0]), max_steps)
        obs = self.tables.window_row(t0)
        obs[self._wf : self.tables.base_dim] = 0.0
        info = {
            "equity": e0,
            "position": 0.0,
            "drawdown": 0.0,
            "bar": t0,
            "timestamp": self._ts[t0],
        }
        return obs, info

    def _target(self, action: Any) -> float:
        """Target position of ``action`` (validated)."""
        if self._discrete:
            try:
                a = int(action)
            except (TypeError, ValueError):
                a = -1
            if not 0 <= a <= 2:
                raise ValueError(
                    f"discrete action must be 0 (SELL), 1 (HOLD/flat) or 2 (BUY), got {action!r}"
                )
            return self._targets[a]
        a = np.asarray(action, dtype=np.float32).reshape(-1)
        if a.shape != (1,) or not np.isfinite(a[0]):
            raise ValueError(
                f"continuous action must be one finite number in [-1, 1], got {action!r}"
            )
        w = float(a[0])
        w = 1.0 if w > 1.0 else (-1.0 if w < -1.0 else w)
        if self._long_only and w < 0.0:
            w = 0.0
        return w

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Trade to ``action``'s target and hold it ``decision_interval`` bars ->
        ``(obs, reward, terminated, truncated, info)`` (the spec: module docstring)."""
        # The accounting is the kernel's; this wrapper only validates the action and boxes
        # the results (a few hundred ns of Python per step is the floor here).
        if action.__class__ is int and self._discrete and 0 <= action <= 2:
            w = self._targets[action]
        else:
            w = self._target(action)
        return self._step_target(w)

    def hold(self) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """One agent step without a decision: the position is kept (no trade, no cost, the
        action rules not consulted). What ``backtest.runner`` steps between the decisions of
        a policy with a decision interval, so that its per-bar pass is the k-bar env's."""
        return self._step_target(math.nan)

    def _step_target(self, w: float) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """One kernel step to target ``w`` (NaN: no decision) -> ``step``'s tuple."""
        try:
            obs, reward, done, eq, pos, fee, slip, fund, turnover, dd, bar = _step_one(
                self._state, self._consts, self._bars, self._feats, w
            )
        except IndexError:
            if self.t < 0:
                raise RuntimeError("call reset() before step()") from None
            raise
        if self._daily:  # multi-timeframe: the daily rows follow the kernel's row
            obs = self.tables.with_daily(obs[None, :], np.array([bar]))[0]
        info = {
            "equity": eq,
            "position": pos,
            "fee": fee,
            "slippage": slip,
            "funding": fund,
            "turnover": turnover,
            "drawdown": dd,
            "bar": bar,
            "timestamp": self._ts[bar],
        }
        return obs, reward, done == K.DONE_TERMINATED, done == K.DONE_TRUNCATED, info

    def close(self) -> None:
        """Nothing to release (arrays are shared with the MarketData)."""


TradingEnv.__doc__ = (TradingEnv.__doc__ or "").replace(
    "<<OPTIONS_TABLE>>", options_table().replace("\n", "\n    ")
)
