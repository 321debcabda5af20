"""BatchedTradingEnv: N trading accounts stepped in one compiled kernel call.

Same maths as ``envs.trading_env.TradingEnv`` (see its docstring for the spec):
both call the accounting kernel ``envs.kernel.step_accounts`` (numba), this one
with N accounts, with Stable-Baselines3's ``VecEnv`` semantics implemented in
plain numpy (``envs`` never imports SB3). The agents package
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

Training-only options (``randomise=``, ``envs.randomise``): random episode lengths, Gaussian
noise on the normalised feature window, per-episode fee/slippage multipliers and, over several
markets (``envs.multimarket``), how episodes are spread across them. Off by default (then the
env is the plain one bit for bit); never given to an evaluation env.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envs import kernel as K
from envs.actions import NEVER_TRADED
from envs.market import MarketData
from envs.params import EnvParams, EnvTables
from envs.randomise import Randomisation, add_noise, draw_episode
from envs.vecenv_api import VecEnvMethods, generator_from_state

INFO_KEYS = (
    "equity",
    "position",
    "fee",
    "slippage",
    "funding",
    "turnover",
    "drawdown",
    "bar",
    "timestamp",
)


class BatchedTradingEnv(VecEnvMethods):
    """``n_envs`` independent accounts on one market split, stepped together."""

    metadata: dict[str, Any] = {"render_modes": []}
    render_mode = None
    # set by envs.registry.make_batched_env: the fitted normaliser, the preset and split names
    normaliser: Any
    preset: str
    split: str | None

    def __init__(
        self,
        market: MarketData,
        n_envs: int,
        split: tuple[int, int] | None = None,
        seed: int | None = None,
        randomise: Randomisation | dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        n = self._init_batch(n_envs, seed)
        # durations in bars of this market ('1d' = 24 bars on 1h candles; envs.actions)
        self.params = p = EnvParams.from_kwargs(**options).in_bars(market.freq_ns)
        self.randomise = Randomisation.coerce(randomise)
        self.randomise.check_length(p.episode_length)
        # start bars per market (envs.multimarket sets them for market_weights="equal")
        self.start_groups: list[np.ndarray] | None = None
        self.market = market
        self.tables = tb = EnvTables(market, p, split or (0, market.n_bars))
        self.window, self.n_features = tb.window, tb.n_features
        self.observation_space, self.action_space = tb.spaces(p.action)
        self._wf = tb.window * tb.n_features
        self._targets = np.array(p.targets, dtype=np.float64)
        self._max_steps = K.NO_STEP_LIMIT if p.episode_length is None else p.episode_length
        # VecEnv bookkeeping (same names as SB3's VecEnv.__init__ sets)
        self._empty_infos: list[dict[str, Any]] = [{} for _ in range(n)]
        # the kernel's inputs (see envs.kernel): one state row per account, settings,
        # per-bar table, flat features
        self._state = np.zeros((n, K.N_STATE))
        self._consts = K.kernel_consts(p, tb)
        self._bars = K.bar_table(tb)
        self._feats = np.ascontiguousarray(market.features, dtype=np.float32).reshape(-1)
        self.last_info: dict[str, np.ndarray] = {}

    @property
    def _t(self) -> np.ndarray:
        """Current decision bar of every env (int64 (N,), a copy)."""
        return self._state[:, K.S_T].astype(np.int64)

    # ----------------------------------------------------------------- resets
    def _draw_start(self, i: int) -> int:
        rng = self._start_rng(i)
        opts = self._options[i]
        ok = self.tables.step_ok
        if opts.get("start") is not None:
            t0 = int(opts["start"])
            if not (0 <= t0 < len(ok) and ok[t0]):
                raise ValueError(f"start bar {t0} is not a valid decision bar of this split")
            return t0
        if self.start_groups is not None:  # a market first, then one of its bars
            group = self.start_groups[int(rng.integers(len(self.start_groups)))]
            return int(group[int(rng.integers(len(group)))])
        starts = self.tables.starts
        return int(starts[int(rng.integers(len(starts)))])

    def _reset_env(self, i: int) -> int:
        """Start env i's next episode (state only); returns its first decision bar."""
        t0 = self._draw_start(i)
        row = K.start_row(self.params, t0, float(self.tables.close[t0]), self._max_steps)
        if self.randomise.active:  # drawn after the start, from the same generator
            rng = self._rngs[i]
            assert rng is not None  # made by _draw_start
            length, row[K.S_FEE_MULT], row[K.S_SLIP_MULT] = draw_episode(
                self.randomise, rng, self.params.episode_length
            )
            if length is not None:
                row[K.S_MAX_STEPS] = length
        self._state[i] = row
        return t0

    def _add_noise(self, obs: np.ndarray, rows: list[int]) -> None:
        """Observation noise (``randomise.obs_noise_std``) on ``rows`` of ``obs``, in place,
        each from its account's generator."""
        std = self.randomise.obs_noise_std
        if std <= 0.0:
            return
        bound = float(self.tables.obs_high[0])
        for i in rows:
            rng = self._rngs[i]
            assert rng is not None  # every account has been reset
            add_noise(obs[i], self._wf, std, rng, bound, self.tables.base_dim)

    def reset(self) -> np.ndarray:
        """Reset every env (seeds from ``seed()``/the constructor apply now) -> obs (N, D)."""
        t0 = np.array([self._reset_env(i) for i in range(self.num_envs)], dtype=np.int64)
        self._options = [{} for _ in range(self.num_envs)]
        self.reset_infos = [
            {
                "equity": self.params.initial_equity,
                "position": 0.0,
                "drawdown": 0.0,
                "bar": int(t0[i]),
                "timestamp": int(self.tables.timestamps[t0[i]]),
            }
            for i in range(self.num_envs)
        ]
        tb = self.tables
        obs = tb.windows[t0 - tb.window_offset]
        obs[:, self._wf :] = 0.0
        obs = tb.with_daily(obs, t0)
        self._add_noise(obs, list(range(self.num_envs)))
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

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """Step every account with the stored actions -> ``(obs, rewards, dones, infos)``
        (done envs are reset; see the module docstring)."""
        if self._actions is None:
            raise RuntimeError("step_wait() without step_async(actions)")
        actions, self._actions = self._actions, None
        w = self._as_targets(actions)
        tb, n = self.tables, self.num_envs
        self._state[:, K.S_TARGET] = w
        obs: np.ndarray = np.empty((n, tb.base_dim), dtype=np.float32)
        out = np.empty((K.N_OUT, n))  # fresh: last_info's arrays are views of its rows
        n_done = K.step_accounts(
            self._state, self._consts, self._bars, self._feats, obs.reshape(-1), out.reshape(-1)
        )
        bar: np.ndarray = out[K.O_BAR].astype(np.int64)
        obs = tb.with_daily(obs, bar)  # multi-timeframe rows (the same array without them)
        self.last_info = {
            "equity": out[K.O_EQUITY],
            "position": out[K.O_POSITION],
            "fee": out[K.O_FEE],
            "slippage": out[K.O_SLIPPAGE],
            "funding": out[K.O_FUNDING],
            "turnover": out[K.O_TURNOVER],
            "drawdown": out[K.O_DRAWDOWN],
            "bar": bar,
        }
        done_code = out[K.O_DONE]
        dones = done_code != 0.0
        infos = self._empty_infos.copy()
        self._add_noise(obs, list(range(n)))
        if n_done:
            done_rows = np.flatnonzero(dones).tolist()
            for i in done_rows:
                info: dict[str, Any] = {k: v[i].item() for k, v in self.last_info.items()}
                info["timestamp"] = int(tb.timestamps[bar[i]])
                info["terminal_observation"] = obs[i].copy()
                info["TimeLimit.truncated"] = bool(done_code[i] == K.DONE_TRUNCATED)
                infos[i] = info
                t0 = self._reset_env(i)
                obs[i] = tb.window_row(t0)
                obs[i, self._wf : tb.base_dim] = 0.0
            self._add_noise(obs, done_rows)  # the new episodes' first observations
        return obs, out[K.O_REWARD].astype(np.float32), dones, infos

    # ----------------------------------------------------------------- resume
    def get_state(self) -> dict[str, Any]:
        """What the env's future depends on: the accounts (positions, episode clocks), each
        env's start-drawing RNG and any pending seeds. Plain arrays and JSON-able values."""
        rngs = [None if g is None else g.bit_generator.state for g in self._rngs]
        return {"accounts": self._state.copy(), "rngs": rngs, "seeds": list(self._seeds)}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore ``get_state()`` (a resumed run continues exactly where the saved one was)."""
        accounts = np.asarray(state["accounts"], dtype=np.float64)
        if accounts.ndim == 2 and accounts.shape[1] == K.S_SINCE == self._state.shape[1] - 1:
            # saved before the minimum hold existed: those accounts were free to trade
            accounts = np.column_stack([accounts, np.full(len(accounts), NEVER_TRADED)])
        if accounts.shape != self._state.shape:
            raise ValueError(f"env state of shape {accounts.shape}, this env {self._state.shape}")
        bars = accounts[:, K.S_T]
        if np.isnan(accounts).any() or not ((bars >= 0) & (bars < self.market.n_bars)).all():
            raise ValueError("env state holds NaN values or a bar outside the market")
        # an account always stands on a whole decision bar of its own split
        outside = (bars != np.floor(bars)) | ~self.tables.step_ok[bars.astype(np.int64)]
        if outside.any():
            raise ValueError(
                f"env state holds bar {bars[outside][0]:g}, not a decision bar of this env's split "
                f"(bars {self.tables.starts[0]}..{self.tables.starts[-1]}): the state belongs "
                "to another split or was edited"
            )
        self._state[...] = accounts
        self._rngs = [None if s is None else generator_from_state(s) for s in state["rngs"]]
        self._seeds = [None if s is None else int(s) for s in state["seeds"]]
