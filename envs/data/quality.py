"""Data-quality report for a candle frame, clean or dirty.

``quality_report(candles, freq)`` describes a frame without changing it; it
accepts the strict loader's output and the lenient ``read_candles_raw`` output
(unsorted rows, duplicate timestamps, NaN, invalid OHLC). Definitions:

* ``expected_bars``: ``freq`` slots from the first to the last timestamp, inclusive.
* ``gaps``: expected slots with no row; ``gap_runs``: separate runs of missing
  slots; ``longest_gap``: the longest run (bars); ``gap_list``: each run's first
  missing timestamp and length.
* ``duplicates``: rows whose timestamp already appeared (rows - unique timestamps).
  ``unsorted``: rows earlier than the row before them. ``off_grid``: rows whose
  timestamp is not first timestamp + a whole number of ``freq`` steps.
* ``nan``: rows with a NaN/inf in any of OHLCV. ``nonpositive``: a price <= 0.
  ``invalid_ohlc``: high < low, or open/close outside [low, high].
  ``negative_volume``: volume < 0. ``absurd``: a price above 1e12 or a volume above 1e16. ``zero_volume``: volume == 0. ``flat``: high == low.
* ``outliers`` (bad ticks): bars flagged by ``bad_tick_mask`` (a one-bar spike and
  back), ``wick`` (a high/low more than 10x beyond the bar's body: ``wick_mask``) or
  ``spike`` (a run of bars more than 10x away from the prices around it:
  ``price_jumps``); ``wick`` and ``spike`` are also counted on their own.
  ``level_shift``: a >10x price jump that never comes back (``price_jumps``).
* ``extra_columns``: columns in the file besides timestamp and OHLCV (not read).
* ``usable_bars``: timestamps with exactly one row that is on the grid and is
  none of nan, nonpositive, invalid_ohlc, negative_volume, zero_volume, flat, outlier.
* ``valid_fraction = usable_bars / expected_bars`` (0.0 for an empty frame):
  the share of the span's slots holding a bar one could trade on. Missing bars
  count against it as much as unusable ones.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from envs import barsize
from envs.data.reading import CANDLE_COLUMNS, iso
from envs.data.validation import MAX_PRICE, MAX_VOLUME

DEFAULT_OUTLIER_K = 10.0  # threshold in robust-scale units (see bad_tick_mask)
OUTLIER_WINDOW = 168  # trailing returns in the robust scale: one week of hourly bars
OUTLIER_MIN_PERIODS = 24  # fewer trailing returns than this: no judgement, never flagged
SCALE_FLOOR = 1e-4  # 1 bp: a floor so a dead-flat window does not make every tick an outlier
LIST_LIMIT = 20  # timestamps listed in the report when a count is at most this


def bad_tick_mask(
    ts_ns: np.ndarray,
    open_: np.ndarray,
    close: np.ndarray,
    step_ns: int,
    k: float = DEFAULT_OUTLIER_K,
    window: int = OUTLIER_WINDOW,
) -> np.ndarray:
    """Bad ticks among sorted, unique, valid, traded bars (arrays in time order).

    ``r_t = log(close_t / close_{t-1})`` for consecutive bars one ``step`` apart
    (no return spans a gap). ``s_t = max(1.4826 * median(|r|) over the
    ``window`` returns before t, SCALE_FLOOR)``, needing OUTLIER_MIN_PERIODS of them.
    Bar t, with both neighbours present and adjacent, is a bad tick when all hold:

    1. it jumps out: ``|r_t| > k * s_t``;
    2. it jumps back: ``|r_{t+1}| > k * s_t`` with the opposite sign;
    3. the jump is a discontinuity, not trading: the bar is cut off from a
       neighbour, ``|log(open_t / close_{t-1})| > k * s_t`` or
       ``|log(open_{t+1} / close_t)| > k * s_t``.

    Why 3: in a continuous market each bar opens at (about) the previous close,
    so a real crash or squeeze, however violent or quickly reversed, moves
    through the opens (Binance BTC 2020-03-12/13, 2018-10-15 USDT scare,
    2023-08-17 are spike-and-revert moves of 10-50 scales that rule 1-2 alone
    would flag). A corrupt print, a decimal shift or a stale/foreign price in
    one bar breaks that chain. Limitation: a lone bad wick (high/low only) is not
    flagged, because real Binance wicks reach ~40 scales (2023-10-16).

    Shipped files: 0 bad ticks in btcusdt_1h and ethusdt_1h at the default k=10
    (still 0 at k=2: their largest open-vs-previous-close jump is 0.78 scales for
    BTC, 1.03 for ETH), 0 in the Bitstamp 2011 file.
    """
    n = len(close)
    out: np.ndarray = np.zeros(n, dtype=bool)
    if n < 3:
        return out
    adjacent = np.diff(ts_ns) == step_ns  # adjacent[j]: bar j+1 follows bar j without a gap
    log_c = np.log(close)
    ret = np.full(n, np.nan)
    ret[1:] = np.where(adjacent, np.diff(log_c), np.nan)
    jump_in = np.full(n, np.nan)  # |log(open_t / close_{t-1})|
    jump_in[1:] = np.where(adjacent, np.abs(np.log(open_[1:]) - log_c[:-1]), np.nan)
    scale = (
        pd.Series(np.abs(ret)).rolling(window, min_periods=OUTLIER_MIN_PERIODS).median().shift(1)
    ).to_numpy() * 1.4826
    scale = np.maximum(scale, SCALE_FLOOR)  # NaN (too little history) stays NaN
    thr = k * scale
    r_next: np.ndarray = np.append(ret[1:], np.nan)
    jump_next: np.ndarray = np.append(jump_in[1:], np.nan)
    with np.errstate(invalid="ignore"):
        out_ = np.abs(ret) > thr
        back = (np.abs(r_next) > thr) & (np.sign(r_next) == -np.sign(ret))
        cut = (jump_in > thr) | (jump_next > thr)
    return out_ & back & cut


LEVEL_SHIFT_FACTOR = 10.0  # consecutive prices (open/close path) more than 10x apart
LEVEL_SHIFT_MAX_GAP_NS = 86_400_000_000_000  # judged across gaps of up to a day
WICK_FACTOR = 10.0  # a high above 10x the bar's body top, or a low below a tenth of its bottom


def wick_mask(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray
) -> np.ndarray:
    """Bars whose high is more than ``WICK_FACTOR`` x the top of the body (max of open and
    close), or whose low is below the bottom of the body / ``WICK_FACTOR``.

    Why 10x: the shipped files' largest wicks are 1.11x above / 1.25x below the body
    (Binance BTC, ETH 2018-2024) and 1.26x / 1.52x on Bitstamp 2011; the worst real
    flash crash on a thin book (Binance.US BTC 2021-10-21, 65k -> 8.2k) is 8x. A 10x wick is
    a corrupt print (a price with the wrong decimals, a fat-fingered tick), never the market.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return (high > WICK_FACTOR * np.maximum(open_, close)) | (
            low * WICK_FACTOR < np.minimum(open_, close)
        )


def _price_path(
    ts_ns: np.ndarray, open_: np.ndarray, close: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The prices in trading order (open_0, close_0, open_1, ...) as logs, and the indices k of
    the jumps ``path[k] -> path[k + 1]`` larger than ``LEVEL_SHIFT_FACTOR`` (a jump between two
    bars counts only when they are at most a day apart)."""
    n = len(close)
    with np.errstate(divide="ignore", invalid="ignore"):
        path = np.log(np.column_stack([open_, close]).ravel())
    judged: np.ndarray = np.ones(max(2 * n - 1, 0), dtype=bool)
    judged[1::2] = np.diff(ts_ns) <= LEVEL_SHIFT_MAX_GAP_NS
    with np.errstate(invalid="ignore"):
        big = judged & (np.abs(np.diff(path)) > np.log(LEVEL_SHIFT_FACTOR))
    return path, np.flatnonzero(big)


def price_jumps(
    ts_ns: np.ndarray, open_: np.ndarray, close: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(spike, shift)`` masks over sorted, valid bars, from the >10x jumps of the price path.

    A jump away from a level followed, later, by a jump back to within 10x of that level
    is a **spike**: every bar with a price in between is marked (a run of bars at 1000x, or
    a single bad bar; what the bad-tick rule misses when the run is longer than one bar).
    A jump that never comes back is a **level shift** (its first bar marked): a unit change
    (a wrong decimal, a redenomination, another market spliced in), refused by the cleaner.
    A continuous market never moves 10x between two consecutive prices (the shipped files'
    largest open-to-previous-close move is 1.1%, their largest bar 5.5x on Bitstamp 2011).
    """
    n = len(close)
    spike: np.ndarray = np.zeros(n, dtype=bool)
    shift: np.ndarray = np.zeros(n, dtype=bool)
    path, big = _price_path(ts_ns, open_, close)
    i = 0
    while i < len(big):
        k = int(big[i])
        back = next(
            (j for j in range(i + 1, len(big))
             if abs(path[big[j] + 1] - path[k]) < np.log(LEVEL_SHIFT_FACTOR)),
            None,
        )  # fmt: skip
        if back is None:
            shift[(k + 1) // 2] = True
            i += 1
            continue
        spike[(k + 1) // 2 : int(big[back]) // 2 + 1] = True
        i = back + 1
    return spike, shift


def level_shift_mask(ts_ns: np.ndarray, open_: np.ndarray, close: np.ndarray) -> np.ndarray:
    """Bars (sorted, valid) where the price jumps more than 10x and never comes back
    (``price_jumps``)."""
    return price_jumps(ts_ns, open_, close)[1]


def bar_flags(
    candles: pd.DataFrame,
    freq: str = "1h",
    *,
    outlier_k: float = DEFAULT_OUTLIER_K,
    outlier_window: int = OUTLIER_WINDOW,
) -> pd.DataFrame:
    """One boolean column per problem, one row per input row (same order and index).

    Columns: duplicate (every row of a repeated timestamp), off_grid, nan,
    nonpositive, invalid_ohlc, negative_volume, zero_volume, flat, outlier, usable.
    """
    step_ns = barsize.step_ns(freq)
    idx = pd.DatetimeIndex(candles.index)
    ts = idx.as_unit("ns").asi8 if len(idx) else np.zeros(0, dtype=np.int64)
    o, h, lo, c, v = (candles[col].to_numpy(dtype=np.float64) for col in CANDLE_COLUMNS)
    with np.errstate(invalid="ignore"):
        nan = (
            ~np.isfinite(np.column_stack([o, h, lo, c, v])).all(axis=1)
            if len(ts)
            else np.zeros(0, bool)
        )
        flags = {
            "duplicate": idx.duplicated(keep=False),
            "off_grid": (ts - ts.min()) % step_ns != 0 if len(ts) else np.zeros(0, bool),
            "nan": nan,
            "nonpositive": (o <= 0) | (h <= 0) | (lo <= 0) | (c <= 0),
            "invalid_ohlc": (h < lo) | (o < lo) | (o > h) | (c < lo) | (c > h),
            "negative_volume": v < 0,
            "absurd": (np.fmax.reduce([o, h, lo, c]) > MAX_PRICE) | (v > MAX_VOLUME),
            "zero_volume": v == 0,
            "flat": h == lo,
        }
    bad: np.ndarray = np.zeros(len(ts), dtype=bool)
    for mask in flags.values():
        bad |= mask
    outlier: np.ndarray = np.zeros(len(ts), dtype=bool)
    cand = np.flatnonzero(~bad)
    cand = cand[np.argsort(ts[cand], kind="stable")]
    outlier[cand] = bad_tick_mask(ts[cand], o[cand], c[cand], step_ns, outlier_k, outlier_window)
    spike: np.ndarray = np.zeros(len(ts), dtype=bool)
    shift: np.ndarray = np.zeros(len(ts), dtype=bool)
    spike[cand], shift[cand] = price_jumps(ts[cand], o[cand], c[cand])
    wick: np.ndarray = np.zeros(len(ts), dtype=bool)
    wick[cand] = wick_mask(o[cand], h[cand], lo[cand], c[cand])
    flags["wick"], flags["spike"] = wick, spike
    flags["outlier"] = outlier | wick | spike  # bad ticks, all three: dropped or kept together
    flags["level_shift"] = shift
    flags["usable"] = ~(bad | flags["outlier"])  # a level shift is a file-level problem
    return pd.DataFrame(flags, index=candles.index)


def _timestamps(index: pd.Index, mask: np.ndarray) -> list[str] | None:
    """ISO timestamps of flagged rows when there are at most LIST_LIMIT, else None."""
    if mask.sum() > LIST_LIMIT:
        return None
    return [iso(t) for t in index[mask]]


# size: one block per reported check (gaps, duplicates, zero volume, flat, invalid, ticks)
def quality_report(
    candles: pd.DataFrame,
    freq: str = "1h",
    *,
    outlier_k: float = DEFAULT_OUTLIER_K,
    outlier_window: int = OUTLIER_WINDOW,
) -> dict:
    """JSON-serialisable quality figures for ``candles`` (see the module docstring)."""
    flags = bar_flags(candles, freq, outlier_k=outlier_k, outlier_window=outlier_window)
    step_ns = barsize.step_ns(freq)
    idx = pd.DatetimeIndex(candles.index)
    ts = idx.as_unit("ns").asi8
    n = len(ts)
    sorted_ts = np.sort(ts)
    unique_ts = sorted_ts[np.concatenate([[True], np.diff(sorted_ts) != 0])] if n else sorted_ts
    on_grid = (unique_ts - unique_ts[0]) % step_ns == 0 if n else np.zeros(0, bool)
    grid = unique_ts[on_grid]  # sorted unique on-grid timestamps
    if n:
        expected = int((ts.max() - ts.min()) // step_ns + 1)
        missing = np.diff(grid) // step_ns - 1
        run_at = np.flatnonzero(missing > 0)
        gap_list = [
            {
                "first_missing": iso(pd.Timestamp(int(grid[j] + step_ns), tz="UTC")),
                "bars": int(missing[j]),
            }
            for j in run_at
        ]
    else:
        expected, missing, gap_list = 0, np.zeros(0, dtype=np.int64), []
    counts = {
        name: int(flags[name].sum())
        for name in flags.columns
        if name not in ("duplicate", "usable")
    }
    counts["outliers"] = counts.pop("outlier")
    zero, flat = flags["zero_volume"].to_numpy(), flags["flat"].to_numpy()
    usable = int(flags["usable"].sum())
    report = {
        "source": candles.attrs.get("source"),
        "freq": freq,
        "periods_per_year": barsize.YEAR_NS // step_ns,
        "rows": n,
        "start": iso(idx.min()) if n else None,
        "end": iso(idx.max()) if n else None,
        "expected_bars": expected,
        "unique_timestamps": int(len(unique_ts)),
        "gaps": int(missing.sum()),
        "gap_runs": len(gap_list),
        "longest_gap": int(missing.max()) if len(missing) and missing.max() > 0 else 0,
        "duplicates": int(n - len(unique_ts)),
        "unsorted": int((np.diff(ts) < 0).sum()) if n > 1 else 0,
        **counts,
        "zero_volume_and_flat": int((zero & flat).sum()),
        "usable_bars": usable,
        "valid_fraction": usable / expected if expected else 0.0,
        "outlier_k": float(outlier_k),
        "outlier_window": int(outlier_window),
        "zero_volume_timestamps": _timestamps(idx, zero),
        "flat_timestamps": _timestamps(idx, flat),
        "outlier_timestamps": _timestamps(idx, flags["outlier"].to_numpy()),
        "gap_list": gap_list,
    }
    report["level_shift_timestamps"] = _timestamps(idx, flags["level_shift"].to_numpy())
    if candles.attrs.get("transformations"):  # e.g. a newest-first file read oldest first
        report["transformations"] = list(candles.attrs["transformations"])
    if candles.attrs.get("extra_columns"):
        report["extra_columns"] = list(candles.attrs["extra_columns"])
    if "read_issues" in candles.attrs:
        report["read_issues"] = dict(candles.attrs["read_issues"])
    return report
