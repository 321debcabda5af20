"""The planted-signal markets by name, their oracle positions, cached in-process.

``MARKET_NAMES``: the three single markets. ``XS_MARKET_NAMES``: the planted cross-sectional
market (``XS_UNIVERSE``, a portfolio universe): one member with a regime-switching drift
(``synth-xs-regime``) among random walks; docstring of ``envs.synthetic``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

import envs.synthetic.generators as gen
import envs.synthetic.oracles as oracles

MARKET_NAMES = ("synth-regime", "synth-meanrev", "synth-rw")
XS_MARKET_NAMES = ("synth-xs-regime", "synth-xs-rw1", "synth-xs-rw2")
XS_UNIVERSE = ",".join(XS_MARKET_NAMES)  # the --env of the planted cross-sectional market
ALL_MARKET_NAMES = MARKET_NAMES + XS_MARKET_NAMES
SEED_RW1, SEED_RW2 = 40, 41  # the first two seeds >= 32 under synth-rw's rule (docstring)
XS_REGIME = gen.RegimeParams(seed=31, drift=0.0009)  # 0.15 noise sd per bar, regimes 480 bars
ORACLE_KINDS = ("hidden", "filter")  # (a) knows the hidden state, (b) past closes only
TRAIN_END = "2023-01-01"  # the presets' train split is [2018-01-01, 2023-01-01)
REGIME_GRID = tuple((h, 0.0) for h in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6))
_C = oracles.COST_DEFAULT
MEANREV_GRID = tuple((k * _C, f * k * _C) for k in (0.5, 1, 2, 3, 4, 6, 8) for f in (0.0, 0.5))


@dataclass(frozen=True)
class MarketSpec:
    """A synthetic market: its generator and the parameters it was generated with."""

    name: str
    generate: Callable[[], gen.SyntheticSeries]
    params: object


SPECS: dict[str, MarketSpec] = {
    "synth-regime": MarketSpec("synth-regime", gen.generate_regime, gen.RegimeParams()),
    "synth-meanrev": MarketSpec("synth-meanrev", gen.generate_meanrev, gen.MeanRevParams()),
    "synth-rw": MarketSpec("synth-rw", gen.generate_walk, gen.WalkParams()),
    "synth-xs-regime": MarketSpec("synth-xs-regime", gen.generate_regime, XS_REGIME),
    "synth-xs-rw1": MarketSpec("synth-xs-rw1", gen.generate_walk, gen.WalkParams(seed=SEED_RW1)),
    "synth-xs-rw2": MarketSpec("synth-xs-rw2", gen.generate_walk, gen.WalkParams(seed=SEED_RW2)),
}


def has_edge(name: str) -> bool:
    """True for a market with a planted signal (regime or mean reversion), False for a walk."""
    return not isinstance(_spec(name).params, gen.WalkParams)


def filter_params(name: str) -> gen.RegimeParams:
    """The regime model the filter oracle runs on market ``name`` (a walk: the regime market's
    of its family, as a detector that must find nothing)."""
    params = _spec(name).params
    if isinstance(params, gen.RegimeParams):
        return params
    return XS_REGIME if name in XS_MARKET_NAMES else gen.RegimeParams()


def _spec(name: str) -> MarketSpec:
    if name not in SPECS:
        raise KeyError(f"unknown synthetic market {name!r}; choose one of {', '.join(SPECS)}")
    return SPECS[name]


@lru_cache(maxsize=8)
def series(name: str) -> gen.SyntheticSeries:
    """The generated market ``name`` (deterministic; cached)."""
    spec = _spec(name)
    return spec.generate(spec.params)  # type: ignore[call-arg]


@lru_cache(maxsize=8)
def csv_bytes(name: str) -> bytes:
    """The canonical CSV bytes of market ``name`` (what its preset file holds)."""
    return gen.canonical_csv(series(name).candles)


def _train_rows(n: int) -> slice:
    index = gen.hourly_index()[:n]
    return slice(1, int(index.searchsorted(pd.Timestamp(TRAIN_END, tz="UTC"))))


def signals(name: str, log_close: np.ndarray, hidden: np.ndarray | None) -> np.ndarray:
    """The oracle signal per bar: expected next move in units the band thresholds read.

    regime: ``2 q_t - 1`` (filter) or ``s_t`` (hidden); meanrev: ``-E[x_t | ...]`` (the expected
    log reversion still to come); rw: the filter of the regime model run on the walk (it must
    find nothing), hidden = 0.
    """
    r = np.diff(log_close, prepend=log_close[0])
    if isinstance(_spec(name).params, gen.MeanRevParams):
        p: gen.MeanRevParams = SPECS[name].params  # type: ignore[assignment]
        x = (
            hidden
            if hidden is not None
            else oracles.kalman_deviation(log_close, p.phi, p.sd_eta, p.sigma_walk)
        )
        return -np.asarray(x, dtype=np.float64)
    if hidden is not None:
        return np.asarray(hidden, dtype=np.float64)
    rp = filter_params(name)  # rw: the regime filter with the regime market's parameters
    q = oracles.hamilton_filter(r, rp.drift, rp.sigma, rp.switch_prob)
    return 2.0 * q - 1.0


def filter_positions(name: str, close: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    """Oracle (b) targets from closes alone (causal: entry t uses ``close[:t+1]``)."""
    log_close = np.log(np.asarray(close, dtype=np.float64))
    return oracles.band_positions(signals(name, log_close, None), *band)


@lru_cache(maxsize=16)
def oracle_band(name: str, kind: str) -> tuple[float, float]:
    """The no-trade band of oracle ``kind`` on ``name``, fitted on the train rows after costs."""
    s = series(name)
    log_close = np.log(s.candles["close"].to_numpy())
    hidden = s.hidden if kind == "hidden" else None
    if not has_edge(name) and kind == "hidden":
        return (0.0, 0.0)  # nothing hidden: the signal is 0, the position flat
    sig = signals(name, log_close, hidden)
    meanrev = isinstance(_spec(name).params, gen.MeanRevParams)
    grid = MEANREV_GRID if meanrev else REGIME_GRID
    r = np.diff(log_close, prepend=log_close[0])
    return oracles.fit_band(sig, r, _train_rows(len(r)), grid)


def oracle_positions(name: str, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """``(bar open times in ns, target position per bar)`` of oracle ``kind`` on market ``name``.

    Fresh copies of cached arrays: a caller cannot corrupt the cache."""
    times_ns, positions = _oracle_positions(name, kind)
    return times_ns.copy(), positions.copy()


@lru_cache(maxsize=16)
def _oracle_positions(name: str, kind: str) -> tuple[np.ndarray, np.ndarray]:
    if kind not in ORACLE_KINDS:
        raise ValueError(f"unknown oracle kind {kind!r}; choose one of {', '.join(ORACLE_KINDS)}")
    s = series(name)
    close = s.candles["close"].to_numpy()
    band = oracle_band(name, kind)
    if kind == "filter":
        pos = filter_positions(name, close, band)
    elif not has_edge(name):
        pos = np.zeros(len(close))
    else:
        pos = oracles.band_positions(signals(name, np.log(close), s.hidden), *band)
    return s.candles.index.asi8.copy(), pos


@lru_cache(maxsize=8)
def _blind_positions(names: tuple[str, ...]) -> np.ndarray:
    signals_, returns = [], []
    for name in names:
        log_close = np.log(series(name).candles["close"].to_numpy())
        r = np.diff(log_close, prepend=log_close[0])
        rp = filter_params(name)
        signals_.append(2.0 * oracles.hamilton_filter(r, rp.drift, rp.sigma, rp.switch_prob) - 1.0)
        returns.append(r)
    rows = _train_rows(len(returns[0]))
    pooled_sig = np.concatenate([s[rows] for s in signals_])  # one band for every member
    pooled_ret = np.concatenate([r[rows] for r in returns])
    band = oracles.fit_band(pooled_sig, pooled_ret, slice(0, None), REGIME_GRID)
    return np.stack([oracles.band_positions(s, *band) for s in signals_])


def blind_positions(names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``(bar open times ns, positions (N, T))`` of the order-blind filter oracle: the regime
    filter run on EVERY member (it does not know which one carries the drift), with one no-trade
    band fitted on all members' train rows pooled. The best a policy that treats the members
    alike (a permutation-equivariant one) can compute from past closes, given the model."""
    for name in names:
        _spec(name)
    return series(names[0]).candles.index.asi8.copy(), _blind_positions(tuple(names)).copy()
