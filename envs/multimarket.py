"""Several markets as one: a single-asset policy trained on episodes drawn across markets.

``load_market_set(["btc1h", "eth1h"], feature_set, window)`` loads each market as
``envs.load_market`` does (its features **normalised on its own train split**), then
``concat_markets`` lays each market's rows of one split end to end in ONE ``MarketData``, so the
batched env, its numba kernel and every accounting rule run unchanged:

* each market contributes its split's rows ``[lo, hi)`` plus the ``window - 1`` bars before
  ``lo`` that the first observation reads (never a decision bar there);
* a market's last row can take no step (``can_step`` False) and every market gets its own
  segment ids, so no episode, observation window or fill ever crosses from one market into
  the next: an episode is one market's history, its costs, its funding;
* the decision bars of the concatenation are exactly the union of each market's decision bars
  of that split (``tests/test_multimarket.py`` steps each market's bars both ways and compares
  equity, costs and rewards bit for bit).

Episodes start on a bar drawn uniformly over all markets' decision bars (each market weighted
by its length), or, with ``randomise.market_weights: equal``, on a market drawn uniformly first
(``BatchedTradingEnv.start_groups``). The markets must share the bar size and the feature
columns (a market without a funding file lacks the funding columns of ``flagtrader60``; such a
set is refused with one line), and the feature set must be scale-free (``check_scale_free``):
a feature in price or volume units would mean different things on BTC and ETH.

Several markets for ONE single-asset policy (``--env btc1h eth1h``, space-separated) are not a
portfolio universe (``envs.portfolio``, ``--env btc1h,eth1h``, comma-separated): there one
policy holds every member at once; here each account trades one market at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.features import feature_specs
from envs.market import MarketData
from envs.normalisers import MarketEntry, MarketNormalisers
from envs.presets import get_preset
from envs.registry import load_market, split_range

# units of a feature whose level depends on the asset's price or traded amount (not scale-free)
LEVEL_UNITS = ("price", "quote", "quote currency", "base", "base units", "volume", "usd")


@dataclass(frozen=True)
class MarketSet:
    """Markets laid end to end, one block per split (module doc).

    ``keys``: the market keys, in order; ``splits``: the split of each block (e.g. ``("train",
    "val")``: every market's train rows, then every market's val rows); ``market``: the
    concatenated ``MarketData``; ``normalisers``: each market's own (train-fitted)
    normaliser; part ``p`` (block ``p // len(keys)``, market ``p % len(keys)``) occupies rows
    ``offsets[p]:offsets[p + 1]`` and its first row is row ``source_rows[p]`` of that market's
    own ``MarketData``."""

    keys: tuple[str, ...]
    market: MarketData
    normalisers: tuple[Any, ...]
    offsets: tuple[int, ...]
    source_rows: tuple[int, ...]
    splits: tuple[str, ...] = ("train",)

    @property
    def rows(self) -> tuple[int, int]:
        """Every row of the concatenation (the env's split range for a one-block set)."""
        return 0, self.market.n_bars

    def rows_of(self, split: str) -> tuple[int, int]:
        """The row range of ``split``'s block (an env's split range)."""
        if split not in self.splits:
            raise ValueError(f"this market set holds {', '.join(self.splits)}, not {split!r}")
        b, n = self.splits.index(split), len(self.keys)
        return self.offsets[b * n], self.offsets[(b + 1) * n]

    def market_normalisers(self) -> MarketNormalisers:
        """Each market's normaliser with its key, name and candle sha256 (``normalisers.json``)."""
        entries = []
        for key, norm in zip(self.keys, self.normalisers, strict=True):
            p = get_preset(key)
            entries.append(MarketEntry(key, p.name, p.candles.sha256, norm))
        return MarketNormalisers(entries)

    def market_of_bar(self) -> np.ndarray:
        """int64 (T,): the index of the market each row belongs to."""
        out: np.ndarray = np.empty(self.market.n_bars, dtype=np.int64)
        for p in range(len(self.offsets) - 1):
            out[self.offsets[p] : self.offsets[p + 1]] = p % len(self.keys)
        return out

    def start_groups(self, starts: np.ndarray) -> list[np.ndarray]:
        """``starts`` (decision bars of the concatenation) split by market."""
        which = self.market_of_bar()[starts]
        return [starts[which == m] for m in range(len(self.keys))]


def check_scale_free(feature_set: str) -> None:
    """Refuse a feature set with a column in price or volume units (one line naming it): its
    level differs between markets, so one policy cannot read it on all of them."""
    for spec in feature_specs(feature_set):
        if str(spec.units).strip().lower() in LEVEL_UNITS:
            raise ValueError(
                f"feature set {feature_set}: column {spec.name} is in {spec.units} units, not "
                "scale-free, so it cannot be shared across markets; train on one market, or "
                "use a scale-free set (core17, flagtrader60: returns, ratios, z-scores)"
            )


def check_distinct(keys: list[str] | tuple[str, ...]) -> None:
    """Refuse a market named twice (it would silently double its weight)."""
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise ValueError(f"--env names {key} twice; name each market once")
        seen.add(key)


def _slice(market: MarketData, lo: int, hi: int) -> tuple[dict[str, np.ndarray], int]:
    """Market rows ``[lo - lookback, hi)`` (clamped at 0; the lookback is what bar ``lo``'s
    observation reads: its window and any daily rows) with no decision before ``lo`` and none
    on the last row; returns the arrays and the first row's index."""
    lookback = max(market.window - 1, (market.daily_window - 1) * market.daily_stride)
    first = max(0, lo - lookback)
    names = ("timestamps", "open", "high", "low", "close", "features", "feature_ok", "obs_ok")
    arrays = {k: np.array(getattr(market, k)[first:hi]) for k in names}
    for k in ("can_step", "funding", "segment", "range_frac", "vol"):
        arrays[k] = np.array(getattr(market, k)[first:hi])
    arrays["obs_ok"][: lo - first] = False  # warm-up rows: read by windows, never decided on
    arrays["can_step"][-1] = False  # the split's last bar: nothing after it in this market
    return arrays, first


def concat_markets(parts: list[tuple[MarketData, tuple[int, int]]]) -> tuple[MarketData, list[int]]:
    """One ``MarketData`` of each ``(market, (lo, hi))`` part's rows end to end (module doc),
    and each part's first source row. Parts must share window, bar size and feature names."""
    if not parts:
        raise ValueError("no market to concatenate")
    ref = parts[0][0]
    pieces, firsts = [], []
    seg_base = 0
    for market, (lo, hi) in parts:
        if market.window != ref.window or market.freq_ns != ref.freq_ns:
            raise ValueError("markets differ in observation window or bar size")
        if market.daily_layout != ref.daily_layout:
            raise ValueError("markets differ in their daily rows (daily_window)")
        if market.feature_names != ref.feature_names:
            raise ValueError("markets differ in their feature columns")
        arrays, first = _slice(market, int(lo), int(hi))
        seg = arrays["segment"]
        arrays["segment"] = seg - seg.min() + seg_base  # distinct ids: no segment spans two
        seg_base = int(arrays["segment"].max()) + 1
        pieces.append(arrays)
        firsts.append(first)
    joined = {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]}
    joined["features"] = np.ascontiguousarray(joined["features"], dtype=np.float32)
    market = MarketData(
        **joined,
        window=ref.window,
        feature_names=ref.feature_names,
        freq_ns=ref.freq_ns,
        funding_unmatched=sum(m.funding_unmatched for m, _ in parts),
        daily_window=ref.daily_window,
        daily_stride=ref.daily_stride,
    )
    return market, firsts


def _check_compatible(keys: list[str], markets: list[MarketData]) -> None:
    """One line naming the first market whose bar size or feature columns differ."""
    ref_key, ref = keys[0], markets[0]
    for key, m in zip(keys[1:], markets[1:], strict=True):
        if m.freq_ns != ref.freq_ns:
            raise ValueError(
                f"--env {key}: its bars are {get_preset(key).freq}, {ref_key}'s are "
                f"{get_preset(ref_key).freq}; train on markets of one bar size (--bar resamples "
                "a file)"
            )
        if m.feature_names != ref.feature_names:
            missing = sorted(set(ref.feature_names) ^ set(m.feature_names))
            raise ValueError(
                f"--env {key}: its features differ from {ref_key}'s ({len(m.feature_names)} vs "
                f"{len(ref.feature_names)} columns; not in both: {', '.join(missing[:4])}); a "
                "market without funding lacks the funding columns: give it --funding or train "
                "on markets that all have (or all lack) funding"
            )


def load_market_set(
    keys: list[str] | tuple[str, ...],
    feature_set: str,
    window: int,
    split: str = "train",
    normalisers: MarketNormalisers | list[Any] | tuple[Any, ...] | None = None,
    splits: tuple[str, ...] | None = None,
    daily_window: int = 0,
) -> MarketSet:
    """The markets ``keys`` (market keys, ``envs.marketspec``) laid end to end on ``split``
    (or one block per split of ``splits``: ``("train", "val")`` gives the training and the
    model-selection rows of one ``MarketData``); each normalised by its normaliser in
    ``normalisers`` (a list in key order, or a run's ``MarketNormalisers``) or, when None,
    fitted on its own train split."""
    keys = list(keys)
    check_distinct(keys)
    check_scale_free(feature_set)
    if isinstance(normalisers, MarketNormalisers):
        normalisers = [normalisers.for_market(get_preset(k)) for k in keys]
    norms_in = list(normalisers) if normalisers is not None else [None] * len(keys)
    if len(norms_in) != len(keys):
        raise ValueError(f"{len(norms_in)} normalisers for {len(keys)} markets")
    loaded = [
        load_market(k, feature_set, window, n, daily_window=daily_window)
        for k, n in zip(keys, norms_in, strict=True)
    ]
    markets = [m for m, _ in loaded]
    _check_compatible(keys, markets)
    blocks = tuple(splits) if splits else (split,)
    parts = [(m, split_range(m, k, s)) for s in blocks for m, k in zip(markets, keys, strict=True)]
    market, firsts = concat_markets(parts)
    sizes = [hi - f for (_, (_, hi)), f in zip(parts, firsts, strict=True)]
    offsets = tuple(int(x) for x in np.concatenate([[0], np.cumsum(sizes)]))
    return MarketSet(
        keys=tuple(keys),
        market=market,
        normalisers=tuple(n for _, n in loaded),
        offsets=offsets,
        source_rows=tuple(firsts),
        splits=blocks,
    )
