"""BatchedTradingEnv: N trading accounts stepped in one vectorised numpy call.

Same maths as ``envs.trading_env.TradingEnv`` (see its docstring for the spec),
written over arrays of N accounts, with Stable-Baselines3's ``VecEnv`` semantics
implemented in plain numpy (``envs`` never imports SB3). The agents package
makes it an SB3 VecEnv with::

    class SB3BatchedTradingEnv(BatchedTradingEnv, VecEnv): pass

(``BatchedTradingEnv`` defines every VecEnv method and attribute, so VecEnv's
``__init__`` is not needed; ``tests/test_batched_sb3.py`` trains PPO on it).

Trajectories equal N ``TradingEnv`` seeded ``seed + i`` bit for bit: each
account has its own ``np.random.Generator`` made exactly as gymnasium's
``Env.reset(seed=...)`` does, used only to draw episode starts.

Returns of ``step_wait``: ``obs`` float32 (N, D), a fresh array every step;
``rewards`` float32 (N,); ``dones`` bool (N,); ``infos`` a list of N dicts.
For speed, the info dict of an env that is **not** done is an empty dict
reused across steps (treat infos as read-only); a done env gets a fresh dict
with the final step's numbers (same keys as ``TradingEnv``'s info),
``terminal_observation`` and ``TimeLimit.truncated``, and is reset
automatically (its row of ``obs`` is then the new episode's first observation).
Per-step numbers of all envs are in ``last_info`` (dict of (N,) arrays: the
info keys less ``timestamp``, which is ``market.timestamps[last_info["bar"]]``;
replaced by the next step).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from copy import deepcopy
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding

from envs.market import MarketData
from envs.params import UNREALISED_CLIP, EnvParams, EnvTables

INFO_KEYS = ("equity", "position", "fee", "slippage", "funding", "turnover", "drawdown", "bar",
             "timestamp")


class BatchedTradingEnv:
    """``n_envs`` independent accounts on one market split, stepped together."""

    metadata: dict[str, Any] = {"render_modes": []}
    render_mode = None

    def __init__(
        self,
        market: MarketData,
        n_envs: int,
        split: tuple[int, int] | None = None,
        seed: int | None = None,
        **options: Any,
    ) -> None:
        if n_envs < 1:
            raise ValueError(f"n_envs must be >= 1, got {n_envs}")
        self.params = p = EnvParams.from_kwargs(**options)
        self.market = market
        self.tables = tb = EnvTables(market, p, split or (0, market.n_bars))
        self.num_envs = n = int(n_envs)
        self.window, self.n_features = tb.window, tb.n_features
        self.observation_space = spaces.Box(tb.obs_low, tb.obs_high, dtype=np.float32)
        if p.action == "discrete":
            self.action_space: spaces.Space = spaces.Discrete(3)
        else:
            self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self._wf = tb.window * tb.n_features
        self._targets = np.array(p.targets, dtype=np.float64)
        self._floor = p.ruin_fraction * p.initial_equity
        self._max_dd = 2.0 if p.max_drawdown is None else p.max_drawdown
        self._max_steps = np.iinfo(np.int64).max if p.episode_length is None else p.episode_length
        # VecEnv bookkeeping (same names as SB3's VecEnv.__init__ sets)
        self.reset_infos: list[dict[str, Any]] = [{} for _ in range(n)]
        self._seeds: list[int | None] = [None if seed is None else seed + i for i in range(n)]
        self._options: list[dict[str, Any]] = [{} for _ in range(n)]
        self._rngs: list[np.random.Generator | None] = [None] * n
        self._empty_infos: list[dict[str, Any]] = [{} for _ in range(n)]
        self._actions: np.ndarray | None = None
        self.closed = False
        # account state, one entry per env
        self._t = np.zeros(n, dtype=np.int64)
        self._steps = np.zeros(n, dtype=np.int64)
        self._held = np.zeros(n, dtype=np.int64)
        z = lambda: np.zeros(n, dtype=np.float64)  # noqa: E731
        self._cash, self._units, self._pos, self._entry = z(), z(), z(), z()
        self._eq, self._peak, self._dd, self._dsr_a, self._dsr_b = z(), z(), z(), z(), z()
        self.last_info: dict[str, np.ndarray] = {}
        self._acct = np.zeros((n, 4), dtype=np.float32)
        # per decision bar t: fill price, slippage rate, close[t+1], funding[t+1], and 1.0 when
        # bar t+1 cannot be decided on (the episode must end there)
        nb = market.n_bars
        table = np.zeros((nb, 5))
        table[:, 0] = tb.fill_price
        table[:, 1] = tb.slip_rate
        table[:-1, 2] = tb.close[1:]
        table[:-1, 3] = tb.funding[1:]
        table[:-1, 4] = ~tb.step_ok[1:]
        table[-1, 4] = 1.0
        self._bar_table = table

    # ----------------------------------------------------------------- resets
    def _draw_start(self, i: int) -> int:
        seed = self._seeds[i]
        if seed is not None or self._rngs[i] is None:
            self._rngs[i], _ = seeding.np_random(seed)
            self._seeds[i] = None
        opts = self._options[i]
        ok = self.tables.step_ok
        if opts.get("start") is not None:
            t0 = int(opts["start"])
            if not (0 <= t0 < len(ok) and ok[t0]):
                raise ValueError(f"start bar {t0} is not a valid decision bar of this split")
            return t0
        starts = self.tables.starts
        return int(starts[int(self._rngs[i].integers(len(starts)))])

    def _reset_env(self, i: int) -> None:
        t0 = self._draw_start(i)
        e0 = self.params.initial_equity
        self._t[i] = t0
        self._steps[i] = 0
        self._held[i] = 0
        self._cash[i] = e0
        self._units[i] = 0.0
        self._pos[i] = 0.0
        self._entry[i] = self.tables.close[t0]
        self._eq[i] = e0
        self._peak[i] = e0
        self._dd[i] = 0.0
        self._dsr_a[i] = 0.0
        self._dsr_b[i] = self.params.dsr_var0

    def reset(self) -> np.ndarray:
        """Reset every env (seeds from ``seed()``/the constructor apply now) -> obs (N, D)."""
        for i in range(self.num_envs):
            self._reset_env(i)
        self._options = [{} for _ in range(self.num_envs)]
        self.reset_infos = [
            {"equity": self.params.initial_equity, "position": 0.0, "drawdown": 0.0,
             "bar": int(self._t[i]), "timestamp": int(self.tables.timestamps[self._t[i]])}
            for i in range(self.num_envs)
        ]
        tb = self.tables
        obs = tb.windows[self._t - tb.window_offset]
        obs[:, self._wf :] = 0.0
        return obs

    # ----------------------------------------------------------------- stepping
    def _as_targets(self, actions: np.ndarray) -> np.ndarray:
        a = np.asarray(actions)
        if self.params.action == "discrete":
            a = a.reshape(self.num_envs)
            if a.dtype.kind not in "iu":
                if not np.all(a == np.round(a)):
                    raise ValueError("discrete actions must be integers 0, 1 or 2")
                a = a.astype(np.int64)
            if a.min() < 0 or a.max() > 2:
                raise ValueError("discrete action must be 0 (SELL), 1 (HOLD/flat) or 2 (BUY)")
            return self._targets[a]
        a = a.astype(np.float32, copy=False).reshape(self.num_envs)
        if not np.isfinite(a).all():
            raise ValueError("continuous actions must be finite numbers in [-1, 1]")
        w = np.clip(a, -1.0, 1.0).astype(np.float64)
        if self.params.long_only:
            np.maximum(w, 0.0, out=w)
        return w

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        if self._actions is None:
            raise RuntimeError("step_wait() without step_async(actions)")
        actions, self._actions = self._actions, None
        w = self._as_targets(actions)
        tb, p = self.tables, self.params
        t = self._t
        pos, units, cash = self._pos, self._units, self._cash

        trade = w != pos
        # one gather of the per-bar table instead of five: columns are views
        row = self._bar_table[t]
        pf, slip_rate, c, fund_rate, end_next = row[:, 0], row[:, 1], row[:, 2], row[:, 3], row[:, 4]
        e_pre = cash + units * pf
        np.maximum(e_pre, 0.0, out=e_pre)
        u_new = np.where(trade, w * e_pre / pf, units)
        du = u_new - units
        turnover = np.abs(du) * pf
        fee = turnover * tb.fee_rate
        slip = turnover * slip_rate
        cash = cash - du * pf - fee - slip
        s_new = np.sign(w)
        changed = s_new != np.sign(pos)
        entry = np.where(changed, pf, self._entry)
        held = np.where(changed, 0, self._held)
        t1 = t + 1
        fund = fund_rate * u_new * c
        cash = cash - fund
        eq = cash + u_new * c
        held += s_new != 0.0
        peak = np.maximum(self._peak, eq)
        dd = 1.0 - eq / peak
        ruined = eq <= self._floor
        r_log = np.log(np.where(ruined, self._floor, eq) / self._eq)
        if p.reward == "drawdown":
            reward = r_log - p.dd_penalty * np.maximum(dd - self._dd, 0.0)
        elif p.reward == "log_return":
            reward = r_log
        else:
            a, b = self._dsr_a, self._dsr_b
            da = r_log - a
            db = r_log * r_log - b
            var = b - a * a
            pos_var = var > 1e-12
            safe = np.where(pos_var, var, 1.0)
            reward = np.where(pos_var, (b * da - 0.5 * a * db) / (safe * np.sqrt(safe)), 0.0)
            self._dsr_a = a + p.dsr_eta * da
            self._dsr_b = b + p.dsr_eta * db
        terminated = ruined | (dd > self._max_dd)
        if p.terminal_penalty:
            reward = np.where(terminated, reward - p.terminal_penalty, reward)
        reward = reward * p.reward_scale
        self._steps += 1
        truncated = ~terminated & ((end_next != 0.0) | (self._steps >= self._max_steps))

        self._t, self._pos, self._units, self._cash = t1, w, u_new, cash
        self._entry, self._held, self._eq, self._peak, self._dd = entry, held, eq, peak, dd

        obs = tb.windows[t1 - tb.window_offset]
        acct = obs[:, self._wf :]
        acct[:, 0] = w
        acct[:, 1] = np.minimum(np.maximum(s_new * (c / entry - 1.0), -UNREALISED_CLIP), UNREALISED_CLIP)
        acct[:, 2] = np.minimum(dd, 1.0)
        acct[:, 3] = tb.bars_scaled[held]
        self.last_info = {
            "equity": eq, "position": w, "fee": fee, "slippage": slip, "funding": fund,
            "turnover": turnover, "drawdown": dd, "bar": t1,
        }
        dones = terminated | truncated
        infos = self._empty_infos.copy()
        if dones.any():
            # last_info shares these arrays; resets must not overwrite the final step's numbers
            self._eq, self._pos, self._dd, self._t = eq.copy(), w.copy(), dd.copy(), t1.copy()
            for i in np.flatnonzero(dones).tolist():
                info = {k: v[i].item() for k, v in self.last_info.items()}
                info["timestamp"] = int(tb.timestamps[t1[i]])
                info["terminal_observation"] = obs[i].copy()
                info["TimeLimit.truncated"] = bool(truncated[i])
                infos[i] = info
                self._reset_env(i)
                t0 = int(self._t[i])
                obs[i] = tb.windows[t0 - tb.window_offset]
                obs[i, self._wf :] = 0.0
        return obs, reward.astype(np.float32), dones, infos

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        self.step_async(actions)
        return self.step_wait()

    # ----------------------------------------------------------------- VecEnv plumbing
    def _indices(self, indices: None | int | Iterable[int]) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        if isinstance(indices, (int, np.integer)):
            return [int(indices)]
        return [int(i) for i in indices]

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Seeds ``seed + i`` for the next ``reset()`` (SB3 semantics; None draws one)."""
        if seed is None:
            # the global RNG on purpose, as SB3's VecEnv.seed: seed_everything() controls it
            seed = int(np.random.randint(0, np.iinfo(np.uint32).max, dtype=np.uint32))  # noqa: NPY002
        self._seeds = [seed + i for i in range(self.num_envs)]
        return self._seeds

    def set_options(self, options: list[dict] | dict | None = None) -> None:
        """Reset options for the next ``reset()`` (``{"start": bar}`` is understood)."""
        if options is None:
            options = {}
        self._options = deepcopy([options] * self.num_envs if isinstance(options, dict) else options)

    def close(self) -> None:
        self.closed = True

    def get_attr(self, attr_name: str, indices: None | int | Iterable[int] = None) -> list[Any]:
        """The attribute of this (shared) object once per requested env index."""
        value = getattr(self, attr_name)
        return [value for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: None | int | Iterable[int] = None) -> None:
        """Sets the attribute on the batch (all envs share one object)."""
        self._indices(indices)
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any,
                   indices: None | int | Iterable[int] = None, **method_kwargs: Any) -> list[Any]:
        """Calls the batch's method once per requested index (all envs share one object)."""
        method = getattr(self, method_name)
        return [method(*method_args, **method_kwargs) for _ in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: None | int | Iterable[int] = None) -> list[bool]:
        """No env is wrapped in a gymnasium wrapper (wrap the batch with VecMonitor instead)."""
        return [False for _ in self._indices(indices)]

    def has_attr(self, attr_name: str) -> bool:
        return hasattr(self, attr_name)

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None for _ in range(self.num_envs)]

    def render(self, mode: str | None = None) -> None:
        """Nothing to render (no render modes)."""
        return None

    @property
    def unwrapped(self) -> BatchedTradingEnv:
        return self

    def getattr_depth_check(self, name: str, already_found: bool) -> str | None:
        if hasattr(self, name) and already_found:
            return f"{type(self).__module__}.{type(self).__name__}"
        return None
