"""Resample candles to a coarser bar size: OHLCV aggregation on UTC boundaries, never invented.

``resample(candles, "4h")`` groups the source bars by the UTC-aligned target
bar they open in (``floor(open_time / 4h) * 4h``: 4h bars open at 00, 04, ...,
20 UTC; daily bars at 00:00 UTC) and aggregates each group:

* open = the first source bar's open, close = the last one's close,
* high = max of highs, low = min of lows, volume = sum of volumes.

A target bar is *complete* when every one of its source bars is present
(``target / source`` of them, e.g. 24 hourly bars for a day). A *partial* bar
(its span overlaps a gap in the source) is never filled or invented: by
default it is **dropped** and listed in the report (it becomes a gap at the
target size, which segments handle); with ``partial="keep"`` it is kept and a
``source_bars`` column says how many source bars it holds.

Funding is not resampled: it is a series of settlement instants, charged on
the bar whose span contains each one at any bar size (``envs.market``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

import envs.barsize as barsize
from envs.data.reading import CANDLE_COLUMNS, iso

PARTIAL_POLICIES = ("drop", "keep")


@dataclass
class ResampleReport:
    """What ``resample`` did: sizes, bar counts and every partial bar (target open times)."""

    source: str | None
    from_bar: str
    to_bar: str
    rows_in: int
    rows_out: int
    partial_policy: str
    partial: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        shown = ", ".join(self.partial[:5]) + (
            f", ... (+{len(self.partial) - 5:,})" if len(self.partial) > 5 else ""
        )
        verb = "dropped" if self.partial_policy == "drop" else "kept (column source_bars)"
        return (
            f"resampled {self.source or '<DataFrame>'}: {self.from_bar} -> {self.to_bar}, "
            f"{self.rows_in:,} -> {self.rows_out:,} bars; {len(self.partial):,} partial bar(s) "
            f"at gaps {verb}" + (f" [{shown}]" if self.partial else "")
        )


def resample(
    candles: pd.DataFrame,
    to: str,
    *,
    from_bar: str | None = None,
    partial: str = "drop",
    source: str | None = None,
) -> tuple[pd.DataFrame, ResampleReport]:
    """Aggregate ``candles`` (the loader's contract) to ``to`` bars; see the module doc.

    ``from_bar``: the source bar size (detected and checked when None). ``to``
    must be a whole multiple of it. Raises ``BarSizeError`` otherwise.
    """
    if partial not in PARTIAL_POLICIES:
        raise ValueError(f"partial={partial!r}; choose one of {', '.join(PARTIAL_POLICIES)}")
    source = source or candles.attrs.get("source")
    label = source or "<DataFrame>"
    index = pd.DatetimeIndex(candles.index)
    src = barsize.canonical(from_bar) if from_bar else barsize.detect_bar(index, label)
    src_ns, to_ns = barsize.bar_ns(src), barsize.bar_ns(to)
    if to_ns < src_ns or to_ns % src_ns:
        raise barsize.BarSizeError(
            f"{label}: cannot resample {src} bars to {barsize.canonical(to)}: the target must be "
            f"a whole multiple of {src} (e.g. {barsize.label(src_ns * 4)}); bars are never split"
        )
    ts = index.as_unit("ns").asi8
    bins = ts - ts % to_ns
    starts = np.flatnonzero(np.concatenate([[True], bins[1:] != bins[:-1]])) if len(ts) else ts
    counts: np.ndarray = np.diff(np.append(starts, len(ts)))
    o, h, lo, c, v = (candles[col].to_numpy(dtype=np.float64) for col in CANDLE_COLUMNS)
    out = pd.DataFrame(
        {
            "open": o[starts],
            "high": np.maximum.reduceat(h, starts) if len(ts) else h,
            "low": np.minimum.reduceat(lo, starts) if len(ts) else lo,
            "close": c[np.append(starts[1:], len(ts)) - 1] if len(ts) else c,
            "volume": np.add.reduceat(v, starts) if len(ts) else v,
        },
        index=pd.DatetimeIndex(pd.to_datetime(bins[starts], utc=True), name="timestamp"),
    )
    complete = counts == to_ns // src_ns
    report = ResampleReport(
        source=source,
        from_bar=src,
        to_bar=barsize.canonical(to),
        rows_in=len(ts),
        rows_out=int(complete.sum()) if partial == "drop" else len(out),
        partial_policy=partial,
        partial=[iso(t) for t in out.index[~complete]],
    )
    if partial == "drop":
        out = out.loc[complete]
    else:
        out["source_bars"] = counts.astype(np.int64)
    out.attrs = {**candles.attrs, "bar": report.to_bar, "resampled_from": src}
    return out, report
