"""Market arrays: everything the env reads, as plain numpy, built once per series.

``MarketData`` is the contract of docs/ARCHITECTURE.md ("Market arrays and the
env"): it covers the **whole** series (all splits); an env is restricted to a
split by an index range of decision bars. After ``MarketData.build`` no pandas
object is touched again, so ``step`` never pays for pandas.

Timing conventions (all instants UTC, nanoseconds):

* bar t opens at ``timestamps[t]`` and closes at ``timestamps[t] + freq``; the
  decision for bar t is taken at its close, so the observation may use bars <= t;
* ``funding[t]`` is the sum of the rates of the settlements whose instant lies
  in bar t's span ``(open, close]`` (on hourly bars: the one settlement at its
  close; on a daily bar: the three of that day, summed); it is charged on the
  position held over bar t (longs pay positive rates). A settlement that lies
  in no bar's span (outside the series, or inside a gap where bars are
  missing) is not charged: no episode holds a position across a gap, so
  nothing could owe it. Their count is kept in ``funding_unmatched`` so
  nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from envs.barsize import step_ns
from envs.multiframe import append_daily, check_daily_window, daily_ok, daily_stride
from envs.segments import bars_since_segment_start, segment_ids

VOL_BARS = 24  # trailing bars of the realised volatility used by slippage_model="vol"


def check_window(window: object) -> None:
    """Refuse an observation window that is not an int >= 1 (one line naming the value)."""
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(
            f"window={window!r} is not valid: expected an int >= 1 (observation window in bars)"
        )


@dataclass(frozen=True, eq=False)
class MarketData:
    """Float arrays of one bar series plus the masks the env needs (see module doc).

    Fields (T bars, F features):

    ============  ==============  ==========================================================
    timestamps    int64 (T,)      bar open time, ns UTC
    open..close   float64 (T,)    prices (``open, high, low, close``); accounting is float64
    features      float32 (T, F)  normalised features; invalid (NaN) rows replaced by 0
    feature_ok    bool (T,)       every feature of bar t is finite
    obs_ok        bool (T,)       window ``[t-window+1, t]`` in one segment, all rows feature_ok
                                  (and the ``daily_window`` daily rows, ``envs.multiframe``)
    can_step      bool (T,)       bar t+1 exists and is in bar t's segment
    funding       float64 (T,)    rate settled at bar t's close instant (0 if none)
    segment       int64 (T,)      segment id (a new one after every gap)
    range_frac    float64 (T,)    ``(high - low) / open`` of bar t (range slippage model)
    vol           float64 (T,)    std (ddof 0) of the last <= 24 in-segment log close returns
                                  ending at bar t; 0 when fewer than 2 exist (vol slippage)
    ============  ==============  ==========================================================
    """

    timestamps: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    features: np.ndarray
    feature_ok: np.ndarray
    obs_ok: np.ndarray
    can_step: np.ndarray
    funding: np.ndarray
    segment: np.ndarray
    range_frac: np.ndarray
    vol: np.ndarray
    window: int
    feature_names: tuple[str, ...]
    freq_ns: int
    funding_unmatched: int = 0
    daily_window: int = 0  # daily-sampled rows appended to the observation (envs.multiframe)
    daily_stride: int = 1  # bars between two daily rows: one day of bars
    context: str | None = None  # the market whose candles filled the ctx_* columns (load_market)

    def observation(self, t: int, account: np.ndarray) -> np.ndarray:
        """Bar t's flat float32 observation with the 4 ``account`` values: the layout the env
        returns (``envs.trading_env``; daily rows appended when ``daily_window`` > 0)."""
        w = self.window
        acct = np.asarray(account, dtype=np.float32).reshape(-1)
        base = np.concatenate([self.features[t - w + 1 : t + 1].reshape(-1), acct])
        if not self.daily_window:
            return base.astype(np.float32, copy=False)
        bars = np.array([t], dtype=np.int64)
        return append_daily(base[None, :], self.features, bars, *self.daily_layout)[0]

    @property
    def daily_layout(self) -> tuple[int, int]:
        """``(daily_window, daily_stride)``."""
        return self.daily_window, self.daily_stride

    @property
    def n_bars(self) -> int:
        """Number of bars T of the series."""
        return int(self.close.shape[0])

    @property
    def n_features(self) -> int:
        """Number of features F per bar."""
        return int(self.features.shape[1])

    @property
    def obs_dim(self) -> int:
        """Length of the flat observation: ``window * n_features + 4`` account values
        (+ ``daily_window * n_features`` daily rows)."""
        return (self.window + self.daily_window) * self.n_features + 4

    @classmethod
    def build(
        cls,
        candles: pd.DataFrame,
        features: pd.DataFrame | np.ndarray,
        funding: pd.Series | None = None,
        window: int = 32,
        freq: str = "1h",
        feature_names: tuple[str, ...] | list[str] | None = None,
        daily_window: int = 0,
    ) -> MarketData:
        """Arrays from a cleaned candle frame, its (normalised) features and funding.

        ``candles``: DatetimeIndex (UTC, sorted, bar open time) with columns
        ``open, high, low, close``. ``features``: one row per candle (a DataFrame
        must share the candles' index); NaN marks an invalid (warm-up) row.
        ``funding``: settlement-instant-indexed rates (``envs.data.load_funding``)
        or None (then ``funding`` is all zeros). ``daily_window``: daily-sampled feature rows
        appended to every observation (``envs.multiframe``; 0 = none).
        """
        check_window(window)
        check_daily_window(daily_window)
        index = candles.index
        prices = _prices(candles)
        ts = index.tz_convert("UTC").as_unit("ns").asi8.astype(np.int64)
        values, names = _feature_values(features, index, feature_names)
        feature_ok = np.isfinite(values).all(axis=1)
        feats = np.where(feature_ok[:, None], values, 0.0).astype(np.float32)
        # inf rows are invalid too; float32 overflow of a finite huge value is refused
        if not np.isfinite(feats).all():
            raise ValueError("features overflow float32; normalise them first (RobustNormaliser)")

        seg = segment_ids(index, freq)
        obs_ok, can_step = _masks(seg, feature_ok, window)
        n = len(index)
        freq_ns = step_ns(freq)
        stride = daily_stride(freq_ns)
        if daily_window:
            obs_ok &= daily_ok(bars_since_segment_start(seg), feature_ok, daily_window, stride)
        fund: np.ndarray = np.zeros(n, dtype=np.float64)
        unmatched = 0
        if funding is not None:
            fund, unmatched = _align_funding(funding, ts + freq_ns, freq_ns)

        o, h, lo_p, c = prices["open"], prices["high"], prices["low"], prices["close"]
        range_frac = _range_fraction(o, h, lo_p, index)
        return cls(
            timestamps=ts,
            open=o,
            high=h,
            low=lo_p,
            close=c,
            features=np.ascontiguousarray(feats),
            feature_ok=feature_ok,
            obs_ok=obs_ok,
            can_step=can_step,
            funding=fund,
            segment=seg,
            range_frac=range_frac,
            vol=trailing_vol(c, seg, VOL_BARS),
            window=int(window),
            feature_names=names,
            freq_ns=freq_ns,
            funding_unmatched=unmatched,
            daily_window=int(daily_window),
            daily_stride=stride,
        )


def _masks(seg: np.ndarray, feature_ok: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """``(obs_ok, can_step)``: bar t's window lies in one segment with every row valid; bar
    t+1 exists in t's segment."""
    pos = bars_since_segment_start(seg)
    n = len(seg)
    # invalid rows inside the window [t-window+1, t] via a cumulative count
    bad_cum = np.concatenate([[0], np.cumsum(~feature_ok)])
    t = np.arange(n)
    lo = np.maximum(t - window + 1, 0)
    bad_in_window = bad_cum[t + 1] - bad_cum[lo]
    obs_ok = (pos >= window - 1) & (bad_in_window == 0)
    can_step: np.ndarray = np.zeros(n, dtype=bool)
    can_step[:-1] = seg[1:] == seg[:-1]
    return obs_ok, can_step


def _prices(candles: pd.DataFrame) -> dict[str, np.ndarray]:
    """The four price columns as float64 copies; a bad index, a missing column or a
    non-positive or non-finite price is refused."""
    index = candles.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise ValueError("candles must have a tz-aware (UTC) DatetimeIndex of bar open times")
    if not index.is_monotonic_increasing or index.has_duplicates:
        raise ValueError("candles index must be sorted ascending without duplicates")
    missing = [c for c in ("open", "high", "low", "close") if c not in candles.columns]
    if missing:
        raise ValueError(f"candles lack columns {missing}; expected open, high, low, close")
    prices = {
        c: candles[c].to_numpy(dtype=np.float64).copy() for c in ("open", "high", "low", "close")
    }
    for name, arr in prices.items():
        if not (np.isfinite(arr).all() and (arr > 0).all()):
            bad = int(np.flatnonzero(~(np.isfinite(arr) & (arr > 0)))[0])
            raise ValueError(
                f"candles column {name!r} has a non-positive or non-finite price at "
                f"{candles.index[bad]} ({arr[bad]!r}); clean the candles first (envs.data.clean)"
            )
    return prices


def _feature_values(
    features: pd.DataFrame | np.ndarray,
    index: pd.DatetimeIndex,
    feature_names: tuple[str, ...] | list[str] | None,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """``(float64 (T, F) values, F names)`` of the features, checked against the candles."""
    if isinstance(features, pd.DataFrame):
        if not features.index.equals(index):
            raise ValueError(
                "features index differs from the candles index; compute the features on "
                "the same cleaned candles (envs.features.compute_features)"
            )
        names = tuple(str(c) for c in features.columns)
        values = features.to_numpy(dtype=np.float64)
    else:
        values = np.asarray(features, dtype=np.float64)
        names = (
            tuple(feature_names)
            if feature_names is not None
            else tuple(f"f{j}" for j in range(values.shape[1] if values.ndim == 2 else 0))
        )
    if values.ndim != 2 or values.shape[0] != len(index):
        raise ValueError(f"features must have shape (n_bars={len(index)}, F), got {values.shape}")
    if len(names) != values.shape[1]:
        raise ValueError(f"{len(names)} feature names for {values.shape[1]} columns")
    return values, names


def _range_fraction(
    o: np.ndarray, h: np.ndarray, lo: np.ndarray, index: pd.DatetimeIndex
) -> np.ndarray:
    """``(high - low) / open`` per bar; a bar where it overflows float64 is refused."""
    with np.errstate(over="ignore"):
        frac = (h - lo) / o
    if not np.isfinite(frac).all():
        bad = int(np.flatnonzero(~np.isfinite(frac))[0])
        raise ValueError(
            f"candles at {index[bad]}: (high - low) / open overflows (high={h[bad]!r}, "
            f"low={lo[bad]!r}, open={o[bad]!r}): absurd prices; clean the candles first "
            "(envs.data.clean)"
        )
    return frac


def _align_funding(funding: pd.Series, close_ns: np.ndarray, bar_ns: int) -> tuple[np.ndarray, int]:
    """Rates summed on the bar whose span ``(close - bar, close]`` holds the instant; count the rest."""
    if not isinstance(funding, pd.Series):
        raise TypeError(f"funding must be a pandas Series or None, got {type(funding).__name__}")
    if not isinstance(funding.index, pd.DatetimeIndex) or funding.index.tz is None:
        raise ValueError("funding must have a tz-aware (UTC) DatetimeIndex of settlement instants")
    s_ns = funding.index.tz_convert("UTC").as_unit("ns").asi8
    rates = funding.to_numpy(dtype=np.float64)
    if not np.isfinite(rates).all():
        raise ValueError("funding has non-finite rates; the loader should have refused them")
    if len(s_ns) and not (np.diff(s_ns) > 0).all():
        raise ValueError("funding index must be strictly increasing (one row per settlement)")
    out: np.ndarray = np.zeros(len(close_ns), dtype=np.float64)
    pos = np.asarray(np.searchsorted(close_ns, s_ns))  # first bar closing at or after the instant
    inside = pos < len(close_ns)
    matched: np.ndarray = np.zeros(len(s_ns), dtype=bool)
    matched[inside] = close_ns[pos[inside]] - bar_ns < s_ns[inside]  # and opening before it
    np.add.at(out, pos[matched], rates[matched])
    return out, int((~matched).sum())


def trailing_vol(close: np.ndarray, seg: np.ndarray, bars: int) -> np.ndarray:
    """Std (ddof 0) of the last <= ``bars`` log returns inside the segment, ending at t."""
    n = len(close)
    r = np.zeros(n)
    with np.errstate(over="ignore", under="ignore"):
        ratio = close[1:] / close[:-1]
    extreme = ~((ratio > 0) & (ratio < np.inf))
    r[1:] = np.log(np.where(extreme, 1.0, ratio))
    # a ratio beyond float64 (absurd prices, e.g. 1e-200 then 1e200): the difference of logs
    r[1:][extreme] = np.log(close[1:][extreme]) - np.log(close[:-1][extreme])
    same: np.ndarray = np.zeros(n, dtype=bool)
    same[1:] = seg[1:] == seg[:-1]
    r[~same] = 0.0
    # number of in-segment returns ending at t, capped at `bars`
    count = np.minimum(bars_since_segment_start(seg), bars)
    s1 = np.concatenate([[0.0], np.cumsum(r)])
    s2 = np.concatenate([[0.0], np.cumsum(r * r)])
    t = np.arange(n)
    lo = t + 1 - count
    k = np.maximum(count, 1).astype(np.float64)
    mean = (s1[t + 1] - s1[lo]) / k
    var = (s2[t + 1] - s2[lo]) / k - mean * mean
    vol = np.sqrt(np.maximum(var, 0.0))
    vol[count < 2] = 0.0
    return vol
