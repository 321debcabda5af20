"""The known edges of crypto trend following as baseline policies that decide once a day.

Three families, each a ``Policy`` (``bind`` / ``act``) stepped by the same runner and env as
every other policy, so they pay the same fee, slippage and funding, decide on a bar's close and
fill at the next bar's open (the env's ``fill``):

* ``DailyMomentumPolicy`` -- time-series momentum (Moskowitz, Ooi, Pedersen 2012, "Time series
  momentum", JFE 104): the sign of the trailing ``lookback_days`` return of the daily close;
  long/flat (``long_short=False``) or long/short.
* ``TrendEnsemblePolicy`` -- the average of several trend signals over lookbacks from 5 to 360
  days (``kind="ma"``: close above its simple moving average; ``kind="donchian"``: long from a
  breakout above the trailing high until a close below the trailing low), a position in [0, 1]
  (Zarattini, Pagani, Barbon 2025, "Catching crypto trends; a tactical approach for Bitcoin and
  altcoins", SSRN 5209907: Donchian ensembles beat buy-and-hold on crypto after costs).
* ``VolTargetPolicy`` -- buy-and-hold scaled to a volatility target (Moreira, Muir 2017,
  "Volatility-managed portfolios", JF 72; Harvey et al. 2018, "The impact of volatility
  targeting", JPM): exposure ``min(1, target / realised vol)`` of the trailing daily returns.

Daily closes on any bar size: the price as of each UTC midnight is the close of the last bar
whose close instant (open + bar) is at or before it (``daily_closes``). A bar whose close
crosses a midnight is that day's decision bar (hourly candles: the 23:00 bar; daily or longer
bars: every bar); on every other bar the policy re-submits the day's target, which the env
treats as no trade and no cost, so a policy trades at most once a day. A data gap does not reset
the daily series (the last known close stands), and before enough history exists the target is
flat. Ensemble and volatility-target positions are fractional: they need ``action="continuous"``
(``backtest.baseline_table`` sets it); momentum's {-1, 0, 1} fits the discrete env.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backtest.baselines import position_to_action

DAY_NS = 86_400 * 10**9
DAYS_PER_YEAR = 365.0  # crypto trades every calendar day: the volatility target's annualisation
ENSEMBLE_LOOKBACKS_DAYS = (5, 10, 20, 40, 80, 160, 360)


def daily_closes(
    timestamps: np.ndarray, close: np.ndarray, freq_ns: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(midnights_ns, close_as_of)``: every UTC midnight from the first bar's close to the
    last's, and the close of the last bar that had closed by then (known at that instant)."""
    close_at = np.asarray(timestamps, dtype=np.int64) + int(freq_ns)
    first = -(-int(close_at[0]) // DAY_NS) * DAY_NS  # ceil to a midnight
    last = int(close_at[-1]) // DAY_NS * DAY_NS
    # integer count: np.arange(first, last + 1, DAY_NS) loses the +1 in float64 at ~1e17 ns
    midnights: np.ndarray = first + DAY_NS * np.arange(
        max((last - first) // DAY_NS + 1, 0), dtype=np.int64
    )
    idx = np.searchsorted(close_at, midnights, side="right") - 1
    return midnights, np.asarray(close, dtype=np.float64)[idx]


def hold_daily(
    timestamps: np.ndarray, freq_ns: int, midnights: np.ndarray, daily: np.ndarray
) -> np.ndarray:
    """Per bar, the target of the last daily decision at or before it (0 before the first).

    Bar t decides on the midnight its close crosses (``daily[j]`` of that midnight), at t's
    close; the env fills it at t+1's open. Between decisions the target is held."""
    ts = np.asarray(timestamps, dtype=np.int64)
    open_day = ts // DAY_NS
    close_day = (ts + int(freq_ns)) // DAY_NS
    out = np.zeros(len(ts))
    if not len(midnights):  # shorter than a day: no daily close yet, flat
        return out
    decides = close_day > open_day  # the bar's close reaches or crosses a midnight
    j = (close_day * DAY_NS - midnights[0]) // DAY_NS
    bar_idx = np.where(decides & (j >= 0), np.arange(len(ts)), -1)
    last = np.maximum.accumulate(bar_idx)
    ok = last >= 0
    out[ok] = np.asarray(daily, dtype=np.float64)[j[last[ok]]]
    return out


def momentum_signal(daily: np.ndarray, lookback_days: int, long_short: bool) -> np.ndarray:
    """``sign(close[d] / close[d - L] - 1)`` per day (long/flat: negatives are 0); 0 before L."""
    lb = int(lookback_days)
    out = np.zeros(len(daily))
    if lb < len(daily):
        out[lb:] = np.sign(daily[lb:] / daily[:-lb] - 1.0)
    return out if long_short else np.maximum(out, 0.0)


def _rolling(daily: np.ndarray, lb: int, how: str) -> np.ndarray:
    """The trailing ``lb``-day mean / max / min ending at each day (NaN until ``lb`` days)."""
    out = np.full(len(daily), np.nan)
    if lb <= len(daily):
        win = np.lib.stride_tricks.sliding_window_view(daily, lb)
        out[lb - 1 :] = {"mean": win.mean, "max": win.max, "min": win.min}[how](axis=1)
    return out


def ma_signal(daily: np.ndarray, lookback_days: int) -> np.ndarray:
    """1 while the daily close is above its trailing ``lookback_days`` mean, else 0."""
    ma = _rolling(daily, int(lookback_days), "mean")
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(ma) & (daily > ma), 1.0, 0.0)


def donchian_signal(daily: np.ndarray, lookback_days: int) -> np.ndarray:
    """Long from a close above the previous ``lookback_days`` high until a close below the
    previous ``lookback_days`` low (the Donchian channel of the days before, not today)."""
    lb = int(lookback_days)
    hi = np.concatenate([[np.nan], _rolling(daily, lb, "max")[:-1]])
    lo = np.concatenate([[np.nan], _rolling(daily, lb, "min")[:-1]])
    out = np.zeros(len(daily))
    state = 0.0
    for d in range(len(daily)):  # stateful channel: ~2,000 days, a plain loop is fine
        if np.isfinite(hi[d]):
            if daily[d] > hi[d]:
                state = 1.0
            elif daily[d] < lo[d]:
                state = 0.0
        out[d] = state
    return out


def vol_target_exposure(daily: np.ndarray, window_days: int, target_vol: float) -> np.ndarray:
    """``min(1, target_vol / sigma)`` with sigma the annualised std (ddof 1) of the last
    ``window_days`` daily log returns; 0 until that many returns exist (or sigma is 0)."""
    n = int(window_days)
    rets = np.diff(np.log(daily), prepend=np.nan)
    out = np.zeros(len(daily))
    if n + 1 <= len(daily):
        win = np.lib.stride_tricks.sliding_window_view(rets[1:], n)  # days 1..: real returns
        sigma = win.std(axis=1, ddof=1) * np.sqrt(DAYS_PER_YEAR)
        with np.errstate(divide="ignore"):
            expo = np.where(sigma > 0, np.minimum(1.0, target_vol / sigma), 0.0)
        out[n:] = expo
    return out


@dataclass
class _DailyPolicy:
    """Shared ``bind``/``act``: ``daily_target`` maps the daily closes to a target per day."""

    space: Any = field(default=None, repr=False, kw_only=True)
    target: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False, kw_only=True)

    def daily_target(self, daily: np.ndarray) -> np.ndarray:
        """The target position of each day (overridden by each family)."""
        raise NotImplementedError

    def bind(self, market: Any, action_space: Any) -> None:
        """Compute the daily closes and hold each day's target on every bar of ``market``."""
        self.space = action_space
        ts = np.asarray(market.timestamps, dtype=np.int64)
        midnights, daily = daily_closes(ts, market.close, int(market.freq_ns))
        self.target = hold_daily(ts, int(market.freq_ns), midnights, self.daily_target(daily))

    def act(self, obs_batch: np.ndarray, bars: np.ndarray) -> np.ndarray:
        """The held daily target at each decision bar."""
        return position_to_action(self.target[np.asarray(bars)], self.space)


@dataclass
class DailyMomentumPolicy(_DailyPolicy):
    """Time-series momentum on daily closes over ``lookback_days`` (see the module doc)."""

    lookback_days: int = 50
    long_short: bool = False

    def daily_target(self, daily: np.ndarray) -> np.ndarray:
        """Sign of the trailing return (long/flat or long/short)."""
        return momentum_signal(daily, self.lookback_days, self.long_short)


@dataclass
class TrendEnsemblePolicy(_DailyPolicy):
    """The mean of ``kind`` trend signals over ``lookbacks_days`` (a position in [0, 1])."""

    kind: str = "ma"
    lookbacks_days: tuple[int, ...] = ENSEMBLE_LOOKBACKS_DAYS

    def daily_target(self, daily: np.ndarray) -> np.ndarray:
        """The average of the moving-average or Donchian signals."""
        if self.kind not in ("ma", "donchian"):
            raise ValueError(f"trend ensemble kind {self.kind!r}: choose ma or donchian")
        fn = ma_signal if self.kind == "ma" else donchian_signal
        return np.mean([fn(daily, lb) for lb in self.lookbacks_days], axis=0)


@dataclass
class VolTargetPolicy(_DailyPolicy):
    """Long, scaled to ``target_vol`` annualised over a ``window_days`` estimate (cap 1x)."""

    window_days: int = 30
    target_vol: float = 0.4

    def daily_target(self, daily: np.ndarray) -> np.ndarray:
        """The volatility-targeted exposure of each day."""
        return vol_target_exposure(daily, self.window_days, self.target_vol)
