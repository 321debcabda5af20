"""PortfolioEnv: one account allocating across N markets bar by bar. The docstring is the spec.

## Description

An account with starting equity ``initial_equity`` (1.0) holds cash and positions in the N
members of a ``Universe`` (``envs.portfolio.universe``: markets aligned on common timestamps,
an absent bar never forward-filled). At each step the agent sees every member's feature window
and its account state at bar t's close and chooses **target weights** for the next bar.

## Action space (``mode=``; mapping in ``envs.portfolio.weights``)

* ``"long_only"`` (default): ``Box(0, 1, (N + 1,), float32)``, scores for each asset and cash,
  normalised to weights ``w_i >= 0``, ``sum w_i <= 1``.
* ``"long_short"``: ``Box(-1, 1, (N,), float32)``, signed exposures, scaled down to a gross
  exposure ``sum |w_i| <= gross_cap`` (1.0).
* ``action_map="logits"`` (either mode): ``Box(-10, 10)`` of the same length, unbounded scores
  for a Gaussian policy: a softmax with a cash logit (long-only) or ``tanh`` then the cap.
* ``action_map="choice"`` (long-only): ``Discrete(N + 1)``, all in one asset or all cash.
* ``rebalance_band=b`` (0: off): a tradable asset whose new target is within ``b`` of its
  previous target keeps the previous one (no trade), unless the mix breaks the mode's limits;
  a continuous policy's small wiggles then cost nothing.

A member that is not tradable at t (no next bar in its segment, or no valid window) gets weight
0: the agent cannot hold it, and a position left in it is sold at bar t's close (its last price).

## Observation space

``Box(float32)`` of length ``N * (window * F + 2) + 1``: per member, its window of normalised
features (row-major ``(window, F)``, oldest first; zeros when the member has no valid window),
its current weight ``u_i * close_i[t] / E_t`` (clipped to +-10) and 1.0 if it is tradable at t;
then the portfolio's drawdown (clipped at 1). No value uses a bar after t. Members keep the
order of the universe; the extractor reshapes with ``n_assets``, ``window``, ``n_features``.

## Timing and accounting (float64): ``envs.portfolio.kernel``

Decide on bar t's close, fill at bar t+1's open; per asset, fee ``fee_bps`` and slippage
``slippage_bps`` on the notional traded (only assets whose target changed are traded), funding
per asset from its own history at each settlement on the position held, mark at bar t+1's
close. With one member and ``mode="long_short"`` the equity, fee, slippage and funding of every
step equal ``TradingEnv(action="continuous")``'s bit for bit.

## Rewards, termination, truncation

As ``TradingEnv`` (``reward`` drawdown/log_return/dsr on the portfolio's equity; ruin and
``max_drawdown`` terminate; ``episode_length`` bars, the split's end or a bar at which no member
has a next bar truncate). Options are ``envs.params.EnvParams`` fields; the portfolio supports
``fill="next_open"``, ``slippage_model="fixed"`` and ``decision_interval=1`` (others refused).

## Info (numbers; per-asset arrays of length N)

``equity``, ``fee``, ``slippage``, ``funding``, ``turnover``, ``drawdown``, ``bar``,
``timestamp``, ``weights`` (targets held over the bar), and per asset ``asset_pnl``,
``asset_fee``, ``asset_slippage``, ``asset_funding``, ``asset_turnover`` (attribution: the
equity change is the sum of the P&L minus the costs).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

import envs.portfolio.kernel as PK
from envs.kernel import NO_STEP_LIMIT
from envs.params import EnvParams
from envs.portfolio.universe import Universe
from envs.portfolio.weights import (
    ACTION_MAPS,
    MODES,
    action_bounds,
    action_dim,
    keep_within_band,
    to_weights,
)
from envs.rewards import REWARD_CODES

UNSUPPORTED = {"fill": "next_open", "slippage_model": "fixed", "decision_interval": 1}
# the single-market action rules (envs.actions) are not the portfolio's: refused, not ignored
UNSUPPORTED |= {"no_trade_band": 0.0, "min_hold": 0, "vol_target": None, "max_leverage": 1.0}


def portfolio_params(options: dict[str, Any]) -> EnvParams:
    """``EnvParams`` of the portfolio (costs, reward, episodes), refusing what it lacks."""
    params = EnvParams.from_kwargs(**options)
    for name, only in UNSUPPORTED.items():
        if getattr(params, name) != only:
            raise ValueError(
                f"{name}={getattr(params, name)!r} is not supported by the portfolio env "
                f"(only {only!r})"
            )
    return params


class PortfolioAccounts:
    """n accounts on one universe split, stepped together by the kernel (no pandas in step)."""

    def __init__(
        self,
        universe: Universe,
        n_accounts: int,
        split: tuple[int, int] | None = None,
        mode: str = "long_only",
        gross_cap: float = 1.0,
        action_map: str = "scores",
        rebalance_band: float = 0.0,
        **options: Any,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode={mode!r} is not valid: expected one of {MODES}")
        if action_map not in ACTION_MAPS:
            raise ValueError(
                f"action_map={action_map!r} is not valid: expected one of {ACTION_MAPS}"
            )
        if action_map == "choice" and mode != "long_only":
            raise ValueError("action_map='choice' (all in one asset or cash) is long-only")
        self.action_map = action_map
        if not 0.0 <= float(rebalance_band) < 1.0:
            raise ValueError(f"rebalance_band={rebalance_band!r} is not valid: expected [0, 1)")
        self.rebalance_band = float(rebalance_band)
        if not 0.0 < float(gross_cap) <= 10.0:
            raise ValueError(f"gross_cap={gross_cap!r} is not valid: expected (0, 10]")
        self.params = p = portfolio_params(options)
        self.universe, self.mode, self.gross_cap = universe, mode, float(gross_cap)
        u, n = universe, int(n_accounts)
        lo, hi = split or (0, u.n_bars)
        if not 0 <= lo < hi <= u.n_bars:
            raise ValueError(f"split range [{lo}, {hi}) is not inside [0, {u.n_bars})")
        ok: np.ndarray = np.zeros(u.n_bars, dtype=bool)
        ok[max(lo, u.window - 1) : hi - 1] = True
        self.step_ok = ok & u.next_ok
        self.starts = np.flatnonzero(self.step_ok & u.tradable.any(axis=0))
        if len(self.starts) == 0:
            raise ValueError(f"no decision bar in split rows [{lo}, {hi}) with a tradable member")
        prev = np.concatenate([[False], self.step_ok[:-1]])
        self.run_starts = np.flatnonzero(self.step_ok & ~prev)
        self.end_next = np.ones(u.n_bars)
        self.end_next[:-1] = ~self.step_ok[1:]
        self.tab = PK.build_tables(u.open, u.close, u.funding, u.tradable, u.obs_ok, p.funding)
        self.feats = np.ascontiguousarray(u.features, dtype=np.float32)  # (N, T, F)
        self._feats_flat = self.feats.reshape(-1)
        self.cfg = PK.kernel_cfg(
            p.fee_bps, p.slippage_bps, p.ruin_fraction * p.initial_equity,
            2.0 if p.max_drawdown is None else p.max_drawdown, REWARD_CODES[p.reward],
            p.dd_penalty, p.dsr_eta, p.terminal_penalty, p.reward_scale,
        )  # fmt: skip
        self.max_steps = NO_STEP_LIMIT if p.episode_length is None else float(p.episode_length)
        self.scal = np.zeros((n, PK.N_PSTATE))
        self.units = np.zeros((n, u.n_assets))
        self.pos = np.zeros((n, u.n_assets))
        self.obs_dim = u.n_assets * (u.window * u.n_features + 2) + 1

    def spaces(self) -> tuple[spaces.Box, spaces.Box]:
        """(observation_space, action_space) of one account."""
        f_max = max(10.0, float(np.ceil(np.abs(self.feats).max(initial=0.0))))
        u = self.universe
        block_lo = [-f_max] * (u.window * u.n_features) + [-PK.WEIGHT_CLIP, 0.0]
        block_hi = [f_max] * (u.window * u.n_features) + [PK.WEIGHT_CLIP, 1.0]
        low = np.array(block_lo * u.n_assets + [0.0], dtype=np.float32)
        high = np.array(block_hi * u.n_assets + [1.0], dtype=np.float32)
        if self.action_map == "choice":
            return spaces.Box(low, high, dtype=np.float32), spaces.Discrete(u.n_assets + 1)
        lo_a, hi_a = action_bounds(self.mode, self.action_map)
        dim = action_dim(self.mode, u.n_assets)
        return spaces.Box(low, high, dtype=np.float32), spaces.Box(lo_a, hi_a, (dim,), np.float32)

    def reset_account(self, a: int, t0: int) -> None:
        """Account ``a`` flat (all cash) at ``initial_equity`` on decision bar ``t0``."""
        if not (0 <= t0 < len(self.step_ok) and self.step_ok[t0]):
            raise ValueError(f"start bar {t0} is not a valid decision bar of this split")
        e0 = self.params.initial_equity
        self.scal[a] = 0.0
        self.scal[a, PK.P_T], self.scal[a, PK.P_MAX_STEPS] = float(t0), self.max_steps
        self.scal[a, [PK.P_CASH, PK.P_EQ, PK.P_PEAK]] = e0
        self.scal[a, PK.P_DSR_B] = self.params.dsr_var0
        self.units[a], self.pos[a] = 0.0, 0.0

    def observe(self) -> np.ndarray:
        """Observations (n, obs_dim) float32 at every account's current bar."""
        obs: np.ndarray = np.empty((self.scal.shape[0], self.obs_dim), dtype=np.float32)
        u = self.universe
        PK.observe(self.scal, self.units, self.tab, self._feats_flat, u.n_features, u.window,
                   obs.reshape(-1))  # fmt: skip
        return obs

    def tradable_now(self) -> np.ndarray:
        """(n, N) float: 1.0 where each account's asset is tradable at its current bar."""
        t: np.ndarray = self.scal[:, PK.P_T].astype(np.int64)
        return self.tab[PK.T_TRADABLE, t]

    def step(
        self, actions: np.ndarray, rebalance: np.ndarray | bool = False
    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Map actions to weights, advance every account one bar: ``(rewards, done codes,
        info arrays)`` (done codes as ``envs.kernel``: 0 on, 1 terminated, 2 truncated).
        ``rebalance``: trade every tradable asset back to its target (per account or all)."""
        tradable = self.tradable_now()
        weights = to_weights(actions, tradable, self.mode, self.gross_cap, self.action_map)
        if self.rebalance_band > 0.0:
            weights = keep_within_band(
                weights, self.pos, tradable, self.rebalance_band, self.mode, self.gross_cap
            )
        return self.step_weights(weights, rebalance)

    def step_weights(
        self, weights: np.ndarray, rebalance: np.ndarray | bool = False
    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """``step`` with target weights (n, N) given directly (baselines); weights of assets
        that are not tradable must be 0 (they are refused otherwise)."""
        n = self.scal.shape[0]
        weights = np.ascontiguousarray(weights, dtype=np.float64).reshape(n, -1)
        if np.any((weights != 0.0) & (self.tradable_now() == 0.0)):
            raise ValueError("a target weight was given to an asset that is not tradable now")
        force = np.broadcast_to(np.asarray(rebalance, dtype=np.float64), (n,)).copy()
        out = np.empty((PK.N_QOUT, n))
        aout = np.zeros((n, self.universe.n_assets, PK.N_AOUT))
        PK.step_portfolio(
            self.scal, self.units, self.pos, weights, force, self.tab, self.end_next, self.cfg,
            out, aout,
        )  # fmt: skip
        bar: np.ndarray = out[PK.Q_BAR].astype(np.int64)
        info = {
            "equity": out[PK.Q_EQUITY], "fee": out[PK.Q_FEE], "slippage": out[PK.Q_SLIPPAGE],
            "funding": out[PK.Q_FUNDING], "turnover": out[PK.Q_TURNOVER],
            "drawdown": out[PK.Q_DRAWDOWN], "bar": bar,
            "timestamp": self.universe.timestamps[bar], "weights": self.pos.copy(),
            "asset_pnl": aout[:, :, PK.A_PNL], "asset_fee": aout[:, :, PK.A_FEE],
            "asset_slippage": aout[:, :, PK.A_SLIPPAGE],
            "asset_funding": aout[:, :, PK.A_FUNDING],
            "asset_turnover": aout[:, :, PK.A_TURNOVER],
        }  # fmt: skip
        return out[PK.Q_REWARD], out[PK.Q_DONE], info


class PortfolioEnv(gym.Env):
    """One account on a universe (see the module docstring: the spec)."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self, universe: Universe, split: tuple[int, int] | None = None, **options: Any
    ) -> None:
        self.accounts = PortfolioAccounts(universe, 1, split, **options)
        self.observation_space, self.action_space = self.accounts.spaces()
        self._sequential = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode: a random start bar, ``options={"start": t}``, or
        ``{"sequential": True}`` (the next run of the deterministic full-split pass)."""
        super().reset(seed=seed)
        opts = options or {}
        acc = self.accounts
        if opts.get("start") is not None:
            t0 = int(opts["start"])
        elif opts.get("sequential"):
            t0 = int(acc.run_starts[self._sequential % len(acc.run_starts)])
            self._sequential += 1
        else:
            t0 = int(acc.starts[int(self.np_random.integers(len(acc.starts)))])
        acc.reset_account(0, t0)
        if opts.get("sequential"):
            acc.scal[0, PK.P_MAX_STEPS] = NO_STEP_LIMIT  # a full pass runs to its run's end
        info = {"equity": acc.params.initial_equity, "bar": t0}
        return acc.observe()[0], info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Trade to the action's target weights, hold over the next bar (see the spec)."""
        rewards, done, info = self.accounts.step(np.asarray(action)[None])
        out: dict[str, Any] = {k: v[0] for k, v in info.items()}  # account 0's row
        for key, value in out.items():  # scalars as Python numbers, per-asset rows as arrays
            if np.ndim(value) == 0:
                out[key] = int(value) if key in ("bar", "timestamp") else float(value)
        obs = self.accounts.observe()[0]
        return obs, float(rewards[0]), bool(done[0] == 1.0), bool(done[0] == 2.0), out
