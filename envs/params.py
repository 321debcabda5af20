"""Env settings and the per-bar tables derived from them (shared by single and batched env).

``EnvParams`` documents every option once (its field's metadata: meaning, units, valid
values; ``options_table`` renders them for the env docstring) and validates each with a
one-line error naming the option, the value and the valid range. ``EnvTables`` precomputes, per decision bar, everything
``step`` needs (fill price, slippage rate, funding, can-decide mask), so the
single env and the batched env read identical float64 numbers and therefore
produce bit-identical trajectories.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
from gymnasium import spaces
from numpy.lib.stride_tricks import as_strided

from envs.actions import DURATION_TEXT, duration_bars, duration_ns, realised_vol
from envs.barsize import label
from envs.market import MarketData
from envs.multiframe import append_daily
from envs.rewards import REWARD_DOC, REWARDS

ACTIONS = ("discrete", "continuous")
FILLS = ("next_open", "close")
SLIPPAGE_MODELS = ("fixed", "range", "vol")
N_ACCOUNT = 4  # position, unrealised return, drawdown, bars held (scaled)
BARS_HELD_SCALE = 720  # bars_held_scaled = log1p(bars) / log1p(720): 1.0 after ~a month held
UNREALISED_CLIP = 10.0  # the unrealised-return observation is clipped to +-10 (+-1000 %)
FEATURE_BOUND_MIN = 10.0  # feature bounds: +-max(10, ceil(max |feature|)); normalised data is +-5


DURATION_FIELDS = ("decision_interval", "min_hold", "vol_window")  # bars or a time (in_bars)


Check = Callable[[Any], bool]


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _choice(options: tuple[str, ...]) -> tuple[str, Check]:
    return "one of " + ", ".join(options), lambda x: isinstance(x, str) and x in options


def _boolean() -> tuple[str, Check]:
    return "true or false", lambda x: isinstance(x, (bool, np.bool_))


def _range(lo: float, hi: float, lo_open: bool = False, hi_open: bool = False) -> tuple[str, Check]:
    """A finite number in the interval; the text is its mathematical notation."""
    text = f"{'(' if lo_open else '['}{_num(lo)}, {_num(hi)}{')' if hi_open else ']'}"

    def check(x: Any) -> bool:
        if not (_is_number(x) and math.isfinite(x)):
            return False
        return (x > lo if lo_open else x >= lo) and (x < hi if hi_open else x <= hi)

    return text, check


def _num(x: float) -> str:
    """A bound as written in the docs: 0, 10000, 1e6."""
    return (
        str(int(x))
        if x == int(x) and abs(x) < 1e5
        else f"{x:.0e}".replace("e+0", "e").replace("e+", "e")
    )


def _positive_int(optional: bool = False, integral_float: bool = False) -> tuple[str, Check]:
    """An int >= 1 (``integral_float``: or a float with an integer value, e.g. 720.0)."""
    text = "an int >= 1" + (" or null (None: no limit)" if optional else "")

    def check(x: Any) -> bool:
        if optional and x is None:
            return True
        whole = _is_int(x) or (integral_float and _is_number(x) and float(x).is_integer())
        return whole and x >= 1

    return text, check


def _duration(min_bars: int) -> tuple[str, Check]:
    """Bars (an int >= ``min_bars``) or a time (``envs.actions``: '1d', '12h'), converted
    with the market's bar size when the env is built (``EnvParams.in_bars``)."""
    text = f"an int >= {min_bars} (bars) {DURATION_TEXT}"

    def check(x: Any) -> bool:
        ns = duration_ns(x)
        return (ns > 0 or min_bars == 0) if ns is not None else _is_int(x) and x >= min_bars

    return text, check


def _optional(spec: tuple[str, Check], none_means: str) -> tuple[str, Check]:
    text, check = spec
    return f"{text} or null (None: {none_means})", lambda x: x is None or check(x)


def _opt(default: Any, doc: str, valid: tuple[str, Check]) -> Any:
    """A dataclass field documented once: ``doc`` (meaning, units) and ``valid`` (the valid
    values, as text and as a check) in its metadata; the env docstring's table and every
    error message read them from here."""
    return field(default=default, metadata={"doc": doc, "valid": valid[0], "check": valid[1]})


@dataclass(frozen=True)
class EnvParams:
    """Every trading/reward option of the env, each documented in its field's metadata
    (``options_table()`` renders them; the spec is ``envs.trading_env``'s docstring)."""

    action: str = _opt("discrete", "discrete: Discrete(3) SELL/HOLD/BUY target positions -1/0/+1; continuous: Box target exposure in [-1, 1] (SAC)", _choice(ACTIONS))  # fmt: skip
    long_only: bool = _opt(False, "no shorts: SELL means flat, continuous targets clipped to [0, 1]", _boolean())  # fmt: skip
    fill: str = _opt("next_open", "next_open: fill at bar t+1's open (honest); close: at bar t's close (optimistic)", _choice(FILLS))  # fmt: skip
    fee_bps: float = _opt(10.0, "fee per unit of notional traded, basis points (10 = 0.1 %)", _range(0.0, 1e4))  # fmt: skip
    slippage_bps: float = _opt(2.0, "fixed slippage per unit of notional traded, basis points", _range(0.0, 1e4))  # fmt: skip
    slippage_model: str = _opt("fixed", "extra slippage rate: fixed 0; range slippage_coef * (high - low) / open of the fill bar; vol slippage_coef * 24-bar volatility", _choice(SLIPPAGE_MODELS))  # fmt: skip
    slippage_coef: float = _opt(0.05, "coefficient of the range/vol slippage models", _range(0.0, 10.0))  # fmt: skip
    funding: bool = _opt(True, "charge perpetual funding at each settlement on the position held (longs pay positive rates)", _boolean())  # fmt: skip
    reward: str = _opt("drawdown", REWARD_DOC, _choice(REWARDS))  # envs.rewards: the reward table
    dd_penalty: float = _opt(0.5, "weight of the drawdown increase in the drawdown reward", _range(0.0, 1e3))  # fmt: skip
    dsr_eta: float = _opt(0.01, "DSR moving-average rate eta", _range(0.0, 1.0, lo_open=True, hi_open=True))  # fmt: skip
    dsr_var0: float = _opt(1e-4, "DSR second moment B at the start of an episode", _range(0.0, 1.0, lo_open=True))  # fmt: skip
    reward_scale: float = _opt(1.0, "every reward is multiplied by it", _range(0.0, 1e6, lo_open=True))  # fmt: skip
    episode_length: int | None = _opt(720, "episode length in bars (truncation); None runs to the end of the segment/split", _positive_int(optional=True, integral_float=True))  # fmt: skip
    max_drawdown: float | None = _opt(0.5, "terminate when the drawdown exceeds it", _optional(_range(0.0, 1.0, lo_open=True), "never"))  # fmt: skip
    ruin_fraction: float = _opt(0.01, "terminate (ruin) when equity <= ruin_fraction * initial_equity", _range(0.0, 1.0, lo_open=True, hi_open=True))  # fmt: skip
    terminal_penalty: float = _opt(1.0, "subtracted from the reward of the terminating step", _range(0.0, 1e3))  # fmt: skip
    initial_equity: float = _opt(1.0, "starting equity of every episode (equity units)", _range(0.0, 1e12, lo_open=True))  # fmt: skip
    decision_interval: int | str = _opt(1, "bars per agent step, or a time ('1d' = 24 bars on 1h candles): the action is held k bars (one fill), rewards summed", _duration(1))  # fmt: skip
    no_trade_band: float = _opt(0.0, "no-trade band: a decision trades only when abs(target - position) > band (fraction of equity), else the position is kept, no cost; 0: off", _range(0.0, 2.0))  # fmt: skip
    min_hold: int | str = _opt(0, "minimum hold: for this many bars after a trade (or a time, '3d') decisions keep the position, no cost; 0: off", _duration(0))  # fmt: skip
    vol_target: float | None = _opt(None, "annualised volatility target (0.5 = 50 %/yr): target exposure = action * vol_target / realised volatility (vol_window, bars <= t), capped at max_leverage", _optional(_range(0.0, 10.0, lo_open=True), "off"))  # fmt: skip
    vol_window: int | str = _opt("30d", "window of vol_target's realised volatility: bars or a time (in-segment log close returns, ddof 0)", _duration(2))  # fmt: skip
    max_leverage: float = _opt(1.0, "cap on abs(target exposure) after the vol_target scaling (the position observation's bound)", _range(0.0, 10.0, lo_open=True))  # fmt: skip

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not f.metadata["check"](value):
                raise ValueError(
                    f"{f.name}={value!r} is not valid: expected {f.metadata['valid']} "
                    f"({f.metadata['doc']})"
                )

    @classmethod
    def from_kwargs(cls, **kwargs: object) -> EnvParams:
        """``EnvParams(**kwargs)`` with an error that lists the valid option names."""
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - valid)
        if unknown:
            raise TypeError(f"unknown env option(s) {unknown}; valid options: {sorted(valid)}")
        return cls(**kwargs)  # type: ignore[arg-type]

    def in_bars(self, bar_ns: int) -> EnvParams:
        """These settings with every duration (``DURATION_FIELDS``) in bars of ``bar_ns`` ns (the
        market's bar size); a time that is not a whole number of bars is refused (one line)."""
        bars = {n: duration_bars(n, getattr(self, n), bar_ns) for n in DURATION_FIELDS}
        if bars["vol_window"] < 2:
            raise ValueError(
                f"vol_window={self.vol_window!r} is 1 bar of {label(bar_ns)}: the realised "
                "volatility needs >= 2 returns; give a longer window (e.g. 30d)"
            )
        if all(bars[n] == getattr(self, n) and _is_int(getattr(self, n)) for n in bars):
            return self
        return replace(self, **bars)  # type: ignore[arg-type]  # every value an int

    @property
    def targets(self) -> tuple[float, float, float]:
        """Target position of discrete actions 0 (SELL), 1 (HOLD = flat), 2 (BUY)."""
        return (0.0 if self.long_only else -1.0, 0.0, 1.0)


def options_table() -> str:
    """The env's options as a markdown table (option, default, valid values, meaning),
    generated from the ``EnvParams`` fields: the one place they are documented."""
    rows = ["| option | default | valid | meaning |", "|---|---|---|---|"]
    for f in fields(EnvParams):
        m = f.metadata
        rows.append(f"| ``{f.name}`` | ``{f.default!r}`` | {m['valid']} | {m['doc']} |")
    return "\n".join(rows)


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
        params = params.in_bars(market.freq_ns)
        self._decision_bars(market, lo, hi)
        self._costs(market, params)
        self._observation_layout(market, max(1.0, params.max_leverage))
        # vol_target's annualised realised volatility per decision bar (envs.actions); zeros
        # (never read) without a volatility target
        self.sigma = (
            np.zeros(market.n_bars)
            if params.vol_target is None
            else realised_vol(market.close, market.segment, int(params.vol_window), market.freq_ns)
        )

    def _decision_bars(self, market: MarketData, lo: int, hi: int) -> None:
        """``step_ok``, ``starts`` and ``run_starts`` of the split ``[lo, hi)``."""
        n = market.n_bars
        ok: np.ndarray = np.zeros(n, dtype=bool)
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

    def _costs(self, market: MarketData, params: EnvParams) -> None:
        """Per-bar fill price, slippage rate and funding; the fee rate; close and timestamps."""
        n = market.n_bars
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

    def _observation_layout(self, market: MarketData, max_position: float) -> None:
        """The strided observation windows, the bars-held scale and the Box bounds (the
        position slot's: +-``max_position``)."""
        n = market.n_bars
        # log1p(k)/log1p(720) for k = 0..n, stored as float32 values (the obs dtype)
        self.bars_scaled = (
            np.log1p(np.arange(n + 2, dtype=np.float64)) / math.log1p(BARS_HELD_SCALE)
        ).astype(np.float32)

        # windows[t] = flat features of bars t-window+1..t followed by N_ACCOUNT slots that
        # belong to the next bar(s) (or zero padding) and MUST be overwritten with the
        # account state: one gather gives the whole observation row (no concatenate).
        w, f = market.window, market.n_features
        self.window, self.n_features = w, f
        # base_dim: what the kernel writes (window + account); the daily rows follow it
        self.base_dim = w * f + N_ACCOUNT
        self.daily_window, self.daily_stride = market.daily_layout
        self._features = market.features
        self.obs_dim = self.base_dim + self.daily_window * f
        flat: np.ndarray = np.zeros(n * f + N_ACCOUNT, dtype=np.float32)
        flat[: n * f] = market.features.reshape(-1)
        self._flat = flat  # keeps the strided view's memory alive
        rows = n - w + 1
        view = as_strided(flat, shape=(rows, self.base_dim), strides=(f * 4, 4), writeable=False)
        # windows[t - (w - 1)] is bar t's window; pad the index so windows_at[t] works for t >= w-1
        self.windows = view
        self.window_offset = w - 1
        # Finite Box bounds. Features: +-10 covers RobustNormaliser output (clipped to +-5),
        # so every normalised market (train/val/test/holdout) gets the same space.
        fmax = float(np.abs(market.features).max()) if market.features.size else 0.0
        fb = max(FEATURE_BOUND_MIN, math.ceil(fmax))
        bars_max = float(self.bars_scaled[-1])
        daily = self.daily_window * f
        self.obs_low = np.concatenate(
            [np.full(w * f, -fb), [-max_position, -UNREALISED_CLIP, 0.0, 0.0], np.full(daily, -fb)]
        ).astype(np.float32)
        self.obs_high = np.concatenate(
            [
                np.full(w * f, fb),
                [max_position, UNREALISED_CLIP, 1.0, max(10.0, bars_max)],
                np.full(daily, fb),
            ]
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
        row = self.windows[t - self.window_offset].copy()
        return self.with_daily(row[None, :], np.array([t]))[0] if self.daily_window else row

    def with_daily(self, rows: np.ndarray, bars: np.ndarray) -> np.ndarray:
        """``(n, base_dim)`` kernel rows of ``bars`` -> full ``(n, obs_dim)`` observations (the
        daily rows appended, ``envs.multiframe``); the rows themselves without daily rows."""
        if not self.daily_window:
            return rows
        return append_daily(rows, self._features, bars, self.daily_window, self.daily_stride)
