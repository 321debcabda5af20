"""Presets -> envs: ``make_env`` / ``make_batched_env`` and the gymnasium registrations (made in ``envs/__init__``).

``make_env("btc1h", split="train")`` loads the cleaned candles (``envs.data``),
computes the features (with funding features when the preset has funding,
``envs.features``), normalises them with a ``RobustNormaliser`` fitted on the
TRAIN split's valid rows (or the one given, e.g. loaded from a run folder),
builds one ``MarketData`` for the whole series and restricts the env to the
split's decision bars. Loading + features + normalisation + arrays are cached
in-process, keyed by (preset, feature set, window, normaliser state), so
building 16 envs costs one load.

``make_env`` takes any market key (``envs.marketspec``: ``"eth4h"``, ``"btc1h?bar=1d"``, a candle
file path); the cache key holds the market's name, bar size and every file's sha256.

Defaults ``feature_set="core17"`` (15 columns) and ``window=32`` (32 bars; 32 hours on 1h bars):
a 484-float observation keeps the transformer's sequence short (fast PPO on
2 CPU cores) and the batched env's per-step memory traffic small; a day and a
third of hourly context plus the features' own 168-bar lookbacks.

Registered ids (at ``import envs``): ``TradingEnv-btc1h-v1``, ``TradingEnv-eth1h-v1``
(``gymnasium.make(id, split="val", ...)``; kwargs as ``make_env``); the ``-v0`` ids are
``make_env_v0`` (v1 with ``decision_interval`` fixed to 1, bit-identical to v0).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from envs.batched import BatchedTradingEnv
from envs.data import load_clean, load_funding
from envs.data.errors import DataValidationError
from envs.features import RobustNormaliser, compute_features, valid_rows
from envs.market import MarketData, check_window
from envs.marketspec import make_key, market_key, split_key
from envs.multiframe import check_daily_window
from envs.normalisers import pick_normaliser
from envs.presets import get_preset
from envs.splits import split_bounds, split_index_range
from envs.trading_env import TradingEnv

DEFAULT_FEATURE_SET = "core17"
DEFAULT_WINDOW = 32
_CACHE: dict[tuple[Any, ...], tuple[MarketData, Any]] = {}


def _normaliser_key(normaliser: Any) -> str:
    return "train-fit" if normaliser is None else json.dumps(normaliser.to_dict(), sort_keys=True)


def context_market(context: str | Any, freq: str) -> Any:
    """The context market (a preset, any market key) at the traded market's bar size ``freq``
    (``eth1h`` beside a 4h market reads ``eth1h?bar=4h``, resampled on load)."""
    ctx = get_preset(context)
    if ctx.freq == freq:
        return ctx
    base, opts = split_key(str(context))
    opts["bar"] = freq
    return get_preset(make_key(base, **opts))  # the same key with the traded market's bar


def load_context(context: str | Any | None, freq: str) -> Any:
    """Cleaned candles of the ``context`` market at bar size ``freq`` (None: None)."""
    return None if context is None else load_clean(context_market(context, freq))[0]


def load_market(
    preset: str | Any,
    feature_set: str = DEFAULT_FEATURE_SET,
    window: int = DEFAULT_WINDOW,
    normaliser: Any = None,
    context: str | None = None,
    daily_window: int = 0,
) -> tuple[MarketData, Any]:
    """``(MarketData of the whole series, the fitted RobustNormaliser)``; cached in-process.

    ``normaliser``: a fitted ``envs.features.RobustNormaliser`` to reuse (its feature
    names must match), an ``envs.normalisers.MarketNormalisers`` (a several-market run's: the
    one for this market is used), or None to fit one on the train split's valid rows.
    ``context``: another market (a preset or market key) whose returns the ``daily``/``daily30``
    sets read as cross-asset context (``envs.features.daily``), at this market's bar size.
    ``daily_window``: daily-sampled feature rows appended to each observation
    (``envs.multiframe``; 0 = the bar window only).
    """

    check_window(window)  # before any data is loaded
    check_daily_window(daily_window)
    p = get_preset(preset)  # a preset name, any market key (envs.marketspec) or a Preset
    normaliser = pick_normaliser(normaliser, p)
    files = tuple(sorted(p.files.items()))  # paths + sha256: a changed file is a new entry
    ctx = None if context is None else context_market(context, p.freq)
    ctx_files = None if ctx is None else (ctx.name, ctx.freq, tuple(sorted(ctx.files.items())))
    key: tuple[Any, ...] = (p.name, p.freq, files, feature_set, int(window))
    key += (_normaliser_key(normaliser), ctx_files)
    key += (int(daily_window),) if daily_window else ()
    if key in _CACHE:  # an equal normaliser may have filled it: the given one is returned as is
        market, cached = _CACHE[key]
        return market, (cached if normaliser is None else normaliser)
    candles, _report = load_clean(p)
    funding = load_funding(p) if p.funding is not None else None
    ctx_candles = None if ctx is None else load_clean(ctx)[0]
    raw = compute_features(candles, feature_set, funding=funding, freq=p.freq, context=ctx_candles)
    if normaliser is None:
        lo, hi = split_index_range(candles.index, p, "train")
        mask = valid_rows(raw)
        mask[:lo] = False
        mask[hi:] = False
        normaliser = RobustNormaliser().fit(raw, mask)
    values = normaliser.transform(raw)
    market = MarketData.build(
        candles,
        values,
        funding,
        window=window,
        freq=p.freq,
        feature_names=tuple(raw.columns),
        daily_window=daily_window,
    )
    if ctx is not None:  # what filled the ctx_* columns (a trainer checks its config against it)
        market = dataclasses.replace(market, context=ctx.name)
    _CACHE[key] = (market, normaliser)
    return market, normaliser


def split_range(market: MarketData, preset: Any, split: str | None) -> tuple[int, int]:
    """Row range ``[lo, hi)`` of ``split`` (None: the whole series) in ``market``."""
    if split is None:
        return 0, market.n_bars
    import pandas as pd

    index = pd.DatetimeIndex(pd.to_datetime(market.timestamps, utc=True))
    lo, hi = split_index_range(index, preset, split)
    if lo >= hi and len(index):  # e.g. --start after the data's last bar: one line, not the
        # env's ValueError traceback

        start, end = split_bounds(preset, split)
        raise DataValidationError(
            f"split {split!r} [{start:%Y-%m-%d %H:%M}, {end:%Y-%m-%d %H:%M}) holds no bars of "
            f"{getattr(preset, 'name', preset)} (its data: {index[0]:%Y-%m-%d %H:%M} .. "
            f"{index[-1]:%Y-%m-%d %H:%M}); choose dates inside the data"
        )
    return lo, hi


def make_env(
    preset: str = "btc1h",
    split: str | None = "train",
    feature_set: str = DEFAULT_FEATURE_SET,
    window: int = DEFAULT_WINDOW,
    normaliser: Any = None,
    seed: int | None = None,
    context: str | None = None,
    daily_window: int = 0,
    **options: Any,
) -> TradingEnv:
    """A ``TradingEnv`` on ``preset``'s ``split`` (train/val/test; None = all rows).

    ``options`` are ``envs.params.EnvParams`` fields (fee_bps, reward, ...). ``seed``
    seeds the env's generator now (``reset(seed=seed)`` is equivalent). The fitted
    normaliser is ``env.normaliser`` (save it with the run). ``context``: the cross-asset
    context market of the ``daily`` sets and ``daily_window`` the daily rows of a
    multi-timeframe observation (``load_market``).
    """
    market, norm = load_market(preset, feature_set, window, normaliser, context, daily_window)
    env = TradingEnv(market, split_range(market, preset, split), **options)
    env.normaliser = norm
    env.preset, env.split = preset, split
    if seed is not None:
        env.reset(seed=seed)
    return env


def make_market_env(
    market: str = "btc1h",
    *,
    funding: str | None = None,
    catalog: str | None = None,
    bar: str | None = None,
    **kwargs: Any,
) -> TradingEnv:
    """``gymnasium.make("TradingEnv-v1", market=SPEC, ...)``: ``make_env`` on any market spec
    (a preset, a candle file with optional ``funding`` file, a ``catalog`` entry) at bar size
    ``bar`` (resampled on load); other kwargs as ``make_env``."""

    return make_env(market_key(market, funding=funding, catalog=catalog, bar=bar), **kwargs)


def make_env_v0(preset: str = "btc1h", **kwargs: Any) -> TradingEnv:
    """``TradingEnv-<preset>-v0``: ``make_env`` with ``decision_interval`` 1, which is v0 bit
    for bit; v0 had no ``decision_interval``, so another value is refused."""
    k = kwargs.pop("decision_interval", 1)
    if k != 1:
        raise ValueError(
            f"decision_interval={k!r} is not a v0 option (v0 steps one bar); "
            f"use TradingEnv-{preset}-v1"
        )
    return make_env(preset, **kwargs)


def make_batched_env(
    preset: str = "btc1h",
    n_envs: int = 16,
    split: str | None = "train",
    feature_set: str = DEFAULT_FEATURE_SET,
    window: int = DEFAULT_WINDOW,
    normaliser: Any = None,
    seed: int | None = None,
    context: str | None = None,
    daily_window: int = 0,
    **options: Any,
) -> BatchedTradingEnv:
    """A ``BatchedTradingEnv`` of ``n_envs`` accounts; env i is seeded ``seed + i``
    (``context``, ``daily_window``: as ``make_env``)."""
    market, norm = load_market(preset, feature_set, window, normaliser, context, daily_window)
    venv = BatchedTradingEnv(
        market, n_envs, split_range(market, preset, split), seed=seed, **options
    )
    venv.normaliser = norm
    venv.preset, venv.split = preset, split
    return venv
