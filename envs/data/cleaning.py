"""Clean validated candles: drop bars nobody traded on, never fill anything.

Policy
------
* Input must pass the loader's validation (sorted, unique, no NaN, positive
  prices, consistent OHLC); anything else raises ``DataValidationError``.
* Zero-volume bars (``volume == 0``) and flat bars (``high == low``) are
  **dropped**: no trade happened at those prices (exchanges print the last price
  for an empty interval), so an agent must not be filled there.
* Bad ticks (``envs.data.quality.bad_tick_mask``, plus wicks more than 10x beyond
  the bar's body and runs of bars more than 10x away from the prices around them:
  ``wick_mask``, ``price_jumps``) follow ``outliers=``:
  ``"drop"`` (default) removes them, ``"keep"`` leaves them and lists them in
  the report, ``"raise"`` refuses the frame with ``DataQualityError``.
* A dropped bar becomes a gap. Gaps are never bridged: nothing is forward
  filled or interpolated, ever. Segments come from the cleaned index alone via
  ``envs.segments.segment_ids``, so no window spans a gap.
* The bar size: ``freq`` must be the frame's bar size (``envs.barsize.check_frame_bar``);
  a mismatch (5-minute rows declared hourly, daily rows declared hourly)
  raises ``BarSizeError`` saying both, rather than grading them on the wrong grid.
* Level shifts (``envs.data.quality.level_shift_mask``: the price jumps more
  than 10x and never comes back) are refused with ``DataQualityError``:
  dropping one bar would not help, every later price is in another unit.
* The gate: if the quality report's ``valid_fraction`` (usable bars / expected
  bars over the span, see ``envs.data.quality``) is below ``min_valid_fraction``,
  ``clean`` raises ``DataQualityError`` and returns nothing.
* Each dropped row is listed once, under the first reason that applies in the
  order zero_volume, flat, outlier; a row that is both zero-volume and flat is
  counted under zero_volume.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from envs import barsize
from envs.data.errors import DataQualityError
from envs.data.loading import _signature, load_candles
from envs.data.quality import DEFAULT_OUTLIER_K, bar_flags, quality_report
from envs.data.reading import RowLocator, iso
from envs.data.validation import validate_candles
from envs.preset_table import PRESETS
from envs.preset_types import Preset
from envs.segments import segment_ids

DROP_REASONS = ("zero_volume", "flat", "outlier")
OUTLIER_POLICIES = ("drop", "keep", "raise")


@dataclass
class CleaningReport:
    """Everything ``clean`` changed, and the figures behind the gate."""

    source: str | None
    freq: str
    min_valid_fraction: float
    valid_fraction: float
    outlier_policy: str
    outlier_k: float
    rows_before: int
    rows_after: int
    segments_before: int
    segments_after: int
    longest_segment_after: int  # bars
    dropped: dict[str, list[str]] = field(default_factory=dict)  # reason -> ISO timestamps
    kept_outliers: list[str] = field(default_factory=list)  # outliers="keep": flagged, not dropped
    quality_before: dict = field(default_factory=dict)

    @property
    def n_dropped(self) -> int:
        return sum(len(v) for v in self.dropped.values())

    def to_dict(self) -> dict:
        """JSON-serialisable copy (plain str/int/float/list/dict)."""
        out = asdict(self)
        out["n_dropped"] = self.n_dropped
        return out

    def summary(self) -> str:
        """Readable multi-line text for humans and logs."""
        q = self.quality_before
        lines = [
            f"cleaning report: {self.source or '<DataFrame>'} (freq {self.freq})",
            f"  rows: {self.rows_before:,} -> {self.rows_after:,} ({self.n_dropped:,} dropped)",
        ]
        for reason in DROP_REASONS:
            stamps = self.dropped.get(reason, [])
            shown = ", ".join(stamps[:5]) + (
                f", ... (+{len(stamps) - 5:,})" if len(stamps) > 5 else ""
            )
            lines.append(
                f"  dropped {reason:<12}: {len(stamps):,}" + (f"  [{shown}]" if stamps else "")
            )
        if self.kept_outliers:
            lines.append(f"  kept outliers (outliers='keep'): {', '.join(self.kept_outliers[:5])}")
        lines += [
            f"  gaps before cleaning: {q.get('gaps', 0):,} missing bars in {q.get('gap_runs', 0):,} runs "
            f"(longest {q.get('longest_gap', 0):,}); nothing was filled",
            f"  segments: {self.segments_before:,} -> {self.segments_after:,} "
            f"(longest {self.longest_segment_after:,} bars)",
            f"  valid_fraction: {self.valid_fraction:.4f} (threshold {self.min_valid_fraction}); "
            f"bad-tick rule k={self.outlier_k:g}, policy {self.outlier_policy!r}",
        ]
        return "\n".join(lines)


def _causes(q: dict) -> str:
    rows = q["rows"]
    parts = [
        f"{q['zero_volume']:,} zero-volume",
        f"{q['flat']:,} flat (high == low)",
        f"{q['outliers']:,} bad ticks",
    ]
    return f"{', '.join(parts)} of {rows:,} rows; {q['gaps']:,} missing bars of {q['expected_bars']:,} expected"


def _segments(index: pd.DatetimeIndex, freq: str) -> tuple[int, int]:
    seg = segment_ids(index, freq)
    if len(seg) == 0:
        return 0, 0
    return int(seg[-1]) + 1, int(np.bincount(seg).max())


# size: the cleaning policy's steps in the order the module doc states them, each reported
def clean(
    candles: pd.DataFrame,
    *,
    freq: str = "1h",
    min_valid_fraction: float = 0.9,
    outlier_k: float = DEFAULT_OUTLIER_K,
    outliers: str = "drop",
    source: str | None = None,
) -> tuple[pd.DataFrame, CleaningReport]:
    """Drop zero-volume, flat and (per ``outliers``) bad-tick bars; return (cleaned copy, report).

    ``candles`` follows the loader contract. Raises ``DataValidationError`` if it
    does not, and ``DataQualityError`` when ``valid_fraction < min_valid_fraction``
    or when ``outliers="raise"`` and bad ticks exist. The input is never modified.
    """
    if outliers not in OUTLIER_POLICIES:
        raise ValueError(f"outliers={outliers!r}; choose one of {', '.join(OUTLIER_POLICIES)}")
    source = source or candles.attrs.get("preset") or candles.attrs.get("source")
    validate_candles(candles, RowLocator(source or "<DataFrame>"))
    barsize.check_frame_bar(pd.DatetimeIndex(candles.index), freq, source or "<DataFrame>")
    q = quality_report(candles, freq, outlier_k=outlier_k)
    if q["valid_fraction"] < min_valid_fraction:
        raise DataQualityError(
            f"{source or '<DataFrame>'}: refused by the cleaning gate: valid_fraction "
            f"{q['valid_fraction']:.4f} ({q['valid_fraction']:.1%}; {q['usable_bars']:,} usable of {q['expected_bars']:,} expected "
            f"{freq} bars) is below min_valid_fraction {min_valid_fraction}. Main causes: {_causes(q)}. "
            "Fix: use a better-traded market or period, or lower min_valid_fraction "
            "(--min-valid-fraction) if you accept training on a mostly-gap series."
        )
    flags = bar_flags(candles, freq, outlier_k=outlier_k)
    shifts = flags["level_shift"].to_numpy()
    if shifts.any():
        i = int(np.flatnonzero(shifts)[0])
        now, end = float(candles["open"].iat[i]), float(candles["close"].iat[i])
        prev = float(candles["close"].iat[i - 1]) if i else now
        what = f"open {now!r} after close {prev!r}"
        if abs(np.log(end / now)) > abs(np.log(now / prev)):  # the jump is inside the bar
            what, now, prev = f"close {end!r} after open {now!r} in one bar", end, now
        raise DataQualityError(
            f"{source or '<DataFrame>'}: level shift at {iso(candles.index[i])}: {what} "
            f"({now / prev:.4g}x; {int(shifts.sum()):,} such bar(s)); a price "
            "unit change (wrong decimals, a redenomination, another market spliced in): fix the "
            "file or split it at that bar"
        )
    zero, flat, bad = (flags[c].to_numpy() for c in ("zero_volume", "flat", "outlier"))
    if outliers == "raise" and bad.any():
        raise DataQualityError(
            f"{source or '<DataFrame>'}: {int(bad.sum()):,} bad tick(s) (k={outlier_k:g}): "
            f"{', '.join(iso(t) for t in candles.index[bad][:5])}. Pass outliers='drop' to remove "
            "them (they become gaps) or 'keep' to leave them, or fix the file."
        )
    reasons = {
        "zero_volume": zero,
        "flat": flat & ~zero,
        "outlier": (bad & ~zero & ~flat) if outliers == "drop" else np.zeros(len(bad), dtype=bool),
    }
    drop = reasons["zero_volume"] | reasons["flat"] | reasons["outlier"]
    cleaned = candles.loc[~drop].copy()
    cleaned.attrs = dict(candles.attrs)
    seg_before, _ = _segments(pd.DatetimeIndex(candles.index), freq)
    seg_after, longest = _segments(pd.DatetimeIndex(cleaned.index), freq)
    report = CleaningReport(
        source=source,
        freq=freq,
        min_valid_fraction=float(min_valid_fraction),
        valid_fraction=float(q["valid_fraction"]),
        outlier_policy=outliers,
        outlier_k=float(outlier_k),
        rows_before=len(candles),
        rows_after=len(cleaned),
        segments_before=seg_before,
        segments_after=seg_after,
        longest_segment_after=longest,
        dropped={r: [iso(t) for t in candles.index[m]] for r, m in reasons.items()},
        kept_outliers=[iso(t) for t in candles.index[bad]] if outliers == "keep" else [],
        quality_before=q,
    )
    return cleaned, report


_CLEAN_CACHE: dict[tuple, tuple[pd.DataFrame, CleaningReport]] = {}


def load_clean(preset: str | Preset, **kwargs) -> tuple[pd.DataFrame, CleaningReport]:
    """``clean(load_candles(preset), freq=preset.freq, **kwargs)``, cached in-process.

    ``preset``: a preset name (``envs.preset_table``) or a resolved market
    (``envs.presets.get_preset``: any market key).
    The file hash is checked on every call; callers get copies.
    """
    if isinstance(preset, str) and preset not in PRESETS:
        raise KeyError(
            f"load_clean: {preset!r} is not a preset name; resolve a market key with "
            "envs.presets.get_preset(key) and pass the market"
        )
    market = PRESETS[preset] if isinstance(preset, str) else preset
    candles = load_candles(market)  # verifies sha256 now even on a cache hit (parse is cached)
    key = (
        market.name,
        market.freq,
        market.file_bar,
        _signature(market.candles.path),
        candles.attrs["sha256"],
        tuple(sorted(kwargs.items())),
    )
    if key not in _CLEAN_CACHE:
        if len(_CLEAN_CACHE) >= 8:
            _CLEAN_CACHE.pop(next(iter(_CLEAN_CACHE)))
        _CLEAN_CACHE[key] = clean(candles, freq=market.freq, **kwargs)
    cleaned, report = _CLEAN_CACHE[key]
    return cleaned.copy(deep=True), copy.deepcopy(report)
