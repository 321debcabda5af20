"""Env settings and the per-bar tables derived from them (shared by single and batched env).

``EnvParams`` validates every option once, with an error naming the option and
the valid values. ``EnvTables`` precomputes, per decision bar, everything
``step`` needs (fill price, slippage rate, funding, can-decide mask), so the
single env and the batched env read identical float64 numbers and therefore
produce bit-identical trajectories.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
from gymnasium import spaces
from numpy.lib.stride_tricks import as_strided

from envs.market import MarketData

ACTIONS = ("discrete", "continuous")
FILLS = ("next_open", "close")
SLIPPAGE_MODELS = ("fixed", "range", "vol")
REWARDS = ("drawdown", "log_return", "dsr")
N_ACCOUNT = 4  # position, unrealised return, drawdown, bars held (scaled)
BARS_HELD_SCALE = 720  # bars_held_scaled = log1p(bars) / log1p(720): 1.0 after ~a month held
UNREALISED_CLIP = 10.0  # the unrealised-return observation is clipped to +-10 (+-1000 %)
FEATURE_BOUND_MIN = 10.0  # feature bounds: +-max(10, ceil(max |feature|)); normalised data is +-5


@dataclass(frozen=True)
class EnvParams:
    """Every trading/reward option of the env (documented in ``envs.trading_env``)."""

    action: str = "discrete"
    long_only: bool = False
    fill: str = "next_open"
    fee_bps: float = 10.0
    slippage_bps: float = 2.0
    slippage_model: str = "fixed"
    slippage_coef: float = 0.05
    funding: bool = True
    reward: str = "drawdown"
    dd_penalty: float = 0.5
    dsr_eta: float = 0.01
    dsr_var0: float = 1e-4
    reward_scale: float = 1.0
    episode_length: int | None = 720
    max_drawdown: float | None = 0.5
    ruin_fraction: float = 0.01
    terminal_penalty: float = 1.0
    initial_equity: float = 1.0
    decision_interval: int = 1

    def __post_init__(self) -> None:
        for name, value, valid in (
            ("action", self.action, ACTIONS),
            ("fill", self.fill, FILLS),
            ("slippage_model", self.slippage_model, SLIPPAGE_MODELS),
            ("reward", self.reward, REWARDS),
        ):
            if value not in valid:
                raise ValueError(f"{name}={value!r} is not valid; choose one of {', '.join(valid)}")
        for name in ("fee_bps", "slippage_bps", "slippage_coef", "dd_penalty", "terminal_penalty"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not 0 < self.dsr_eta < 1:
            raise ValueError(f"dsr_eta must be in (0, 1), got {self.dsr_eta!r}")
        if not (math.isfinite(self.dsr_var0) and self.dsr_var0 > 0):
            raise ValueError(f"dsr_var0 must be > 0, got {self.dsr_var0!r}")
        if not (math.isfinite(self.reward_scale) and self.reward_scale > 0):
            raise ValueError(f"reward_scale must be > 0, got {self.reward_scale!r}")
        if self.episode_length is not None and (
            isinstance(self.episode_length, bool)
            or int(self.episode_length) != self.episode_length
            or self.episode_length < 1
        ):
            raise ValueError(
                f"episode_length must be a positive int or None (run to the end of the "
                f"segment/split), got {self.episode_length!r}"
            )
        if self.max_drawdown is not None and not 0 < self.max_drawdown < 1:
            raise ValueError(f"max_drawdown must be in (0, 1) or None, got {self.max_drawdown!r}")
        if not 0 < self.ruin_fraction < 1:
            raise ValueError(f"ruin_fraction must be in (0, 1), got {self.ruin_fraction!r}")
        if not (math.isfinite(self.initial_equity) and self.initial_equity > 0):
            raise ValueError(f"initial_equity must be > 0, got {self.initial_equity!r}")
        k = self.decision_interval
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(
                f"decision_interval must be a positive int (bars per agent step), got {k!r}"
            )

    @classmethod
    def from_kwargs(cls, **kwargs: object) -> EnvParams:
        """``EnvParams(**kwargs)`` with an error that lists the valid option names."""
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - valid)
        if unknown:
            raise TypeError(f"unknown env option(s) {unknown}; valid options: {sorted(valid)}")
        return cls(**kwargs)  # type: ignore[arg-type]

    @property
    def targets(self) -> tuple[float, float, float]:
        """Target position of discrete actions 0 (SELL), 1 (HOLD = flat), 2 (BUY)."""
        return (0.0 if self.long_only else -1.0, 0.0, 1.0)


class EnvTables:
    """Per-bar arrays for one (market, params, split): what ``step`` indexes by bar.

    ``step_ok[t]``: t may be a decision bar: ``lo <= t``, ``t + 1 < hi`` (the bar the
    position is held over stays inside the split), ``can_step[t]`` (no gap after t),
    and ``obs_ok`` at t and t+1 (the observation before and after the step is
    valid). ``starts``: all such bars (random episode starts). ``run_starts``: the
    first bar of each maximal run of ``step_ok`` bars (a deterministic full-split
    pass starts one episode at each).
    """

    def __init__(self, market: MarketData, params: EnvParams, split: tuple[int, int]) -> None:
        n = market.n_bars
        lo, hi = int(split[0]), int(split[1])
        if not 0 <= lo < hi <= n:
            raise ValueError(f"split range [{lo}, {hi}) is not inside [0, {n})")
        self.lo, self.hi = lo, hi
        ok = np.zeros(n, dtype=bool)
        ok[lo : hi - 1] = True
        ok &= market.can_step & market.obs_ok
        ok[:-1] &= market.obs_ok[1:]
        ok[-1] = False
        self.step_ok = ok
        self.starts = np.flatnonzero(ok)
        if len(self.starts) == 0:
            raise ValueError(
                f"no decision bar in split rows [{lo}, {hi}): every bar lacks a valid "
                f"{market.window}-bar observation window or a next bar (window too long "
                "for the segments, or the features are still warming up)"
            )
        prev = np.concatenate([[False], ok[:-1]])
        self.run_starts = np.flatnonzero(ok & ~prev)

        # fill price and slippage rate (fraction of notional) per decision bar t
        fill = np.empty(n)
        if params.fill == "next_open":
            fill[:-1] = market.open[1:]
            fill[-1] = market.close[-1]  # never used: step_ok[-1] is False
            fill_bar_range = np.concatenate([market.range_frac[1:], market.range_frac[-1:]])
        else:
            fill[:] = market.close
            fill_bar_range = market.range_frac
        self.fill_price = fill
        extra = np.zeros(n)
        if params.slippage_model == "range":
            extra = params.slippage_coef * fill_bar_range
        elif params.slippage_model == "vol":
            extra = params.slippage_coef * market.vol
        self.slip_rate = params.slippage_bps / 1e4 + extra
        self.fee_rate = params.fee_bps / 1e4
        self.close = market.close
        self.funding = market.funding if params.funding else np.zeros(n)
        self.timestamps = market.timestamps
        # log1p(k)/log1p(720) for k = 0..n, stored as float32 values (the obs dtype)
        self.bars_scaled = (
            np.log1p(np.arange(n + 2, dtype=np.float64)) / math.log1p(BARS_HELD_SCALE)
        ).astype(np.float32)

        # windows[t] = flat features of bars t-window+1..t followed by N_ACCOUNT slots that
        # belong to the next bar(s) (or zero padding) and MUST be overwritten with the
        # account state: one gather gives the whole observation row (no concatenate).
        w, f = market.window, market.n_features
        self.window, self.n_features = w, f
        self.obs_dim = w * f + N_ACCOUNT
        flat = np.zeros(n * f + N_ACCOUNT, dtype=np.float32)
        flat[: n * f] = market.features.reshape(-1)
        self._flat = flat  # keeps the strided view's memory alive
        rows = n - w + 1
        view = as_strided(flat, shape=(rows, self.obs_dim), strides=(f * 4, 4), writeable=False)
        # windows[t - (w - 1)] is bar t's window; pad the index so windows_at[t] works for t >= w-1
        self.windows = view
        self.window_offset = w - 1
        # Finite Box bounds. Features: +-10 covers RobustNormaliser output (clipped to +-5),
        # so every normalised market (train/val/test/holdout) gets the same space.
        fmax = float(np.abs(market.features).max()) if market.features.size else 0.0
        fb = max(FEATURE_BOUND_MIN, math.ceil(fmax))
        bars_max = float(self.bars_scaled[-1])
        self.obs_low = np.concatenate(
            [np.full(w * f, -fb), [-1.0, -UNREALISED_CLIP, 0.0, 0.0]]
        ).astype(np.float32)
        self.obs_high = np.concatenate(
            [np.full(w * f, fb), [1.0, UNREALISED_CLIP, 1.0, max(10.0, bars_max)]]
        ).astype(np.float32)

    def spaces(self, action: str) -> tuple[spaces.Box, spaces.Space]:
        """(observation_space, action_space) for ``EnvParams.action``: one definition for the
        single and the batched env."""
        observation = spaces.Box(self.obs_low, self.obs_high, dtype=np.float32)
        if action == "discrete":
            return observation, spaces.Discrete(3)
        return observation, spaces.Box(-1.0, 1.0, (1,), np.float32)

    def window_row(self, t: int) -> np.ndarray:
        """A fresh float32 copy of bar t's observation row (account slots still to fill)."""
        return self.windows[t - self.window_offset].copy()
