"""TradingEnv: one account trading one market bar by bar. The docstring is the spec.

## Description

An account with starting equity ``initial_equity`` (1.0) trades a single
instrument (spot prices, perpetual funding) on hourly bars. At each step the
agent sees a window of normalised features and its account state at bar t's
close, and chooses a **target position** for the next bar.

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

No value uses a bar after t (``tests/test_env_lookahead.py`` proves it by
building two markets that differ only after t).

## Execution timing and accounting (float64)

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

* ``"drawdown"`` (default): ``R - dd_penalty * max(0, DD_{t+1} - DD_t)``,
  ``DD = 1 - E / peak``; with ``dd_penalty=0`` rewards sum to ``log(E_T / E_0)``.
* ``"log_return"``: ``R``. Typical |R| on BTC hourly bars is ~1e-2 or less.
* ``"dsr"``: differential Sharpe ratio (Moody & Saffell 1998, 2001) of R:
  ``D = (B dA - A dB / 2) / (B - A^2)^{3/2}`` with ``dA = R - A``, ``dB = R^2 - B``,
  then ``A += eta dA``, ``B += eta dB`` (``eta = dsr_eta``, A starts 0, B starts
  ``dsr_var0``); D = 0 when ``B - A^2 <= 1e-12``. Order 1 per step.

On termination ``terminal_penalty`` (1.0) is subtracted from that step's reward.

## Episodes

* Start: ``reset()`` draws a decision bar uniformly (``self.np_random``) among the
  split's bars that have a valid observation window and a next bar in the same
  segment. ``reset(options={"start": i})`` starts at bar i;
  ``reset(options={"sequential": True})`` starts at the next run of the
  deterministic full-split pass (``episode_starts()``; cycles) and runs to its
  end regardless of ``episode_length``; ``episode_length=None`` runs every
  episode to the end of its segment/split.
* Truncation (``truncated=True``): ``episode_length`` steps done, the split ends
  (the last position is held over the split's last bar), or the next decision
  bar has no valid window/next bar (a gap follows): an episode never crosses a gap.
* Termination (``terminated=True``): ruin (``E <= ruin_fraction * initial_equity``)
  or drawdown ``> max_drawdown`` (0.5; None disables it).

## Info (numbers only)

``equity``, ``position`` (target w held over the bar), ``fee``, ``slippage``,
``funding`` (paid this step; negative = received), ``turnover`` (notional, equity
units), ``drawdown``, ``bar`` (index into the MarketData), ``timestamp`` (bar
open, ns UTC) of the new decision bar.

## Arguments

``TradingEnv(market, split=(lo, hi), **EnvParams fields)``; ``split`` is the
half-open range of decision-bar rows (default: the whole series). See
``envs.params.EnvParams`` for defaults; ``envs.make_env`` builds the market.

## Version history

* v0: initial version.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.market import MarketData
from envs.params import UNREALISED_CLIP as _UCLIP
from envs.params import EnvParams, EnvTables

_VAR_EPS = 1e-12  # DSR: no reward while the variance estimate B - A^2 is below this
_NO_LIMIT = 1 << 62  # episode_length=None
# numpy's log/sqrt, not math's: np.log on a scalar runs the same loop as on the batched
# env's arrays, math.log differs in the last bit for ~0.3 % of inputs.
_np_log, _np_sqrt = np.log, np.sqrt


class TradingEnv(gym.Env):
    """Single-account trading env; see the module docstring for the full spec."""

    metadata = {"render_modes": []}
    render_mode = None

    def __init__(
        self, market: MarketData, split: tuple[int, int] | None = None, **options: Any
    ) -> None:
        super().__init__()
        self.params = EnvParams.from_kwargs(**options)
        self.market = market
        self.tables = EnvTables(market, self.params, split or (0, market.n_bars))
        p, tb = self.params, self.tables
        self.window, self.n_features = tb.window, tb.n_features
        self.observation_space = spaces.Box(tb.obs_low, tb.obs_high, dtype=np.float32)
        if p.action == "discrete":
            self.action_space: spaces.Space = spaces.Discrete(3)
        else:
            self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self._wf = tb.window * tb.n_features
        # Python lists: scalar indexing of a list is ~3x faster than of an ndarray
        self._fill = tb.fill_price.tolist()
        self._close = tb.close.tolist()
        self._slip = tb.slip_rate.tolist()
        self._fund = tb.funding.tolist()
        self._ok = tb.step_ok.tolist()
        self._ts = tb.timestamps.tolist()
        self._bars_scaled = tb.bars_scaled.tolist()
        self._targets = p.targets
        self._fee_rate = tb.fee_rate
        self._floor = p.ruin_fraction * p.initial_equity
        self._max_dd = 2.0 if p.max_drawdown is None else p.max_drawdown
        self._reward_kind = p.reward
        self._discrete = p.action == "discrete"
        self._long_only = p.long_only
        self._dd_penalty, self._dsr_eta = p.dd_penalty, p.dsr_eta
        self._terminal_penalty, self._reward_scale = p.terminal_penalty, p.reward_scale
        self._windows, self._offset = tb.windows, tb.window_offset
        self._seq_next = 0
        self._t = -1

    # ----------------------------------------------------------------- public helpers
    def episode_starts(self) -> np.ndarray:
        """First bar of each episode of a deterministic full-split pass (one per run)."""
        return self.tables.run_starts.copy()

    @property
    def t(self) -> int:
        """Current decision bar (index into ``market``)."""
        return self._t

    # ----------------------------------------------------------------- gym API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        length = self.params.episode_length
        self._max_steps = _NO_LIMIT if length is None else length
        starts = self.tables.starts
        if options and options.get("start") is not None:
            t0 = int(options["start"])
            if not (0 <= t0 < len(self._ok) and self._ok[t0]):
                raise ValueError(
                    f"start bar {t0} is not a valid decision bar of this split (needs a full "
                    f"valid window, a next bar in the same segment, inside rows "
                    f"[{self.tables.lo}, {self.tables.hi - 1})); see episode_starts()"
                )
        elif options and options.get("sequential"):
            runs = self.tables.run_starts
            t0 = int(runs[self._seq_next % len(runs)])
            self._seq_next += 1
            self._max_steps = _NO_LIMIT
        else:
            t0 = int(starts[int(self.np_random.integers(len(starts)))])
        e0 = self.params.initial_equity
        self._t = t0
        self._steps = 0
        self._cash = e0
        self._units = 0.0
        self._pos = 0.0
        self._entry = self._close[t0]
        self._held = 0
        self._eq = e0
        self._peak = e0
        self._dd = 0.0
        self._dsr_a = 0.0
        self._dsr_b = self.params.dsr_var0
        obs = self.tables.window_row(t0)
        obs[self._wf :] = 0.0
        info = {"equity": e0, "position": 0.0, "drawdown": 0.0, "bar": t0, "timestamp": self._ts[t0]}
        return obs, info

    def _target(self, action: Any) -> float:
        """Target position of ``action`` (validated)."""
        if self._discrete:
            try:
                a = int(action)
            except (TypeError, ValueError):
                a = -1
            if not 0 <= a <= 2:
                raise ValueError(f"discrete action must be 0 (SELL), 1 (HOLD/flat) or 2 (BUY), got {action!r}")
            return self._targets[a]
        a = np.asarray(action, dtype=np.float32).reshape(-1)
        if a.shape != (1,) or not np.isfinite(a[0]):
            raise ValueError(f"continuous action must be one finite number in [-1, 1], got {action!r}")
        w = float(a[0])
        w = 1.0 if w > 1.0 else (-1.0 if w < -1.0 else w)
        if self._long_only and w < 0.0:
            w = 0.0
        return w

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        # Written for speed (a Python step is the env's floor): locals, lists, no numpy
        # except the log (numpy's, so that the batched env matches bit for bit) and the obs copy.
        t = self._t
        if t < 0:
            raise RuntimeError("call reset() before step()")
        if action.__class__ is int and self._discrete and 0 <= action <= 2:
            w = self._targets[action]
        else:
            w = self._target(action)
        pos, units, cash = self._pos, self._units, self._cash
        fee = slip = turnover = 0.0
        if w != pos:
            pf = self._fill[t]
            e_pre = cash + units * pf
            if e_pre < 0.0:  # bankrupt between close and the next open: nothing left to size
                e_pre = 0.0
            u_new = w * e_pre / pf
            du = u_new - units
            turnover = abs(du) * pf
            fee = turnover * self._fee_rate
            slip = turnover * self._slip[t]
            cash = cash - du * pf - fee - slip
            if ((w > 0.0) - (w < 0.0)) != ((pos > 0.0) - (pos < 0.0)):
                self._entry = pf  # opened or flipped: a new entry
                self._held = 0
            units = u_new
            self._pos = w
        t1 = t + 1
        c = self._close[t1]
        fund = self._fund[t1] * units * c
        cash = cash - fund
        eq = cash + units * c
        if w != 0.0:
            self._held += 1
        peak = self._peak
        if eq > peak:
            peak = eq
        dd = 1.0 - eq / peak
        floor = self._floor
        r_log = float(_np_log((floor if eq <= floor else eq) / self._eq))
        kind = self._reward_kind
        if kind == "drawdown":
            d = dd - self._dd
            reward = r_log - self._dd_penalty * (d if d > 0.0 else 0.0)
        elif kind == "log_return":
            reward = r_log
        else:
            a, b = self._dsr_a, self._dsr_b
            da = r_log - a
            db = r_log * r_log - b
            var = b - a * a
            reward = float((b * da - 0.5 * a * db) / (var * _np_sqrt(var))) if var > _VAR_EPS else 0.0
            self._dsr_a = a + self._dsr_eta * da
            self._dsr_b = b + self._dsr_eta * db
        terminated = eq <= floor or dd > self._max_dd
        if terminated:
            reward = reward - self._terminal_penalty
        reward = reward * self._reward_scale
        steps = self._steps + 1
        self._steps = steps
        truncated = (not terminated) and (not self._ok[t1] or steps >= self._max_steps)
        self._t = t1
        self._cash, self._units, self._eq, self._peak, self._dd = cash, units, eq, peak, dd

        obs = self._windows[t1 - self._offset].copy()
        unreal = ((w > 0.0) - (w < 0.0)) * (c / self._entry - 1.0)
        k = self._wf
        obs[k] = w
        obs[k + 1] = _UCLIP if unreal > _UCLIP else (-_UCLIP if unreal < -_UCLIP else unreal)
        obs[k + 2] = dd if dd < 1.0 else 1.0
        obs[k + 3] = self._bars_scaled[self._held]
        info = {
            "equity": eq, "position": w, "fee": fee, "slippage": slip, "funding": fund,
            "turnover": turnover, "drawdown": dd, "bar": t1, "timestamp": self._ts[t1],
        }
        return obs, reward, terminated, truncated, info

    def close(self) -> None:
        """Nothing to release (arrays are shared with the MarketData)."""
