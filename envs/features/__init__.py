"""Causal feature sets computed per segment, and their registry.

``compute_features(candles, feature_set, funding=None)`` returns a float64
DataFrame on the candles' index, one named column per feature. Guarantees:

* causal: row t uses bar t and earlier bars only (and funding settlements
  published by bar t's close, see ``envs.features.funding``); computing on
  ``candles[:t+1]`` gives the same rows <= t (the truncation tests);
* per segment: no window, EMA, shift or return spans a gap (a missing bar
  starts a new segment, ``envs.segments``); EMAs restart in every segment;
* warm-up: in every segment the first ``spec.warmup`` rows of a column are NaN
  (never filled), so a row is valid (``valid_rows``) exactly when its
  position in its segment is >= ``warmup_bars(feature_set)``. Funding columns
  never need warm-up (see their docs for what happens before listing).

Feature sets and their documented tables: ``envs.features.flagtrader60``
(60 columns), ``envs.features.core17`` (15 columns; ``OMITTED`` names the
two order-flow features that OHLCV cannot provide) and ``envs.features.daily``
(``daily``: 28 columns over 1-200 days; ``daily30``: 20 columns up to 30 days;
windows in days at any bar size, optional cross-asset ``context`` candles).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from envs.barsize import HOUR_NS, bar_ns, canonical
from envs.features import core17, daily, flagtrader60
from envs.features.bars import Bars
from envs.features.funding import funding_features
from envs.features.normaliser import RobustNormaliser
from envs.features.specs import FeatureSpec

__all__ = [
    "FEATURE_SETS",
    "FeatureSet",
    "FeatureSpec",
    "RobustNormaliser",
    "compute_features",
    "feature_names",
    "feature_specs",
    "valid_rows",
    "warmup_bars",
]


def _core17_funding(
    index: pd.DatetimeIndex, funding: pd.Series | None, bar_ns: int = HOUR_NS
) -> dict[str, np.ndarray]:
    f = funding_features(index, funding, bar_ns)
    return {"funding_rate": f["funding_last"], "funding_momentum_1h": f["funding_change"]}


@dataclass(frozen=True)
class FeatureSet:
    """A registered set: its specs (column order, 1h bars), omitted names and compute functions.

    ``specs_for(bar)`` gives the specs at another bar size (windows and warm-ups
    in bars of that size; ``specs == specs_for("1h")``).
    """

    name: str
    specs: tuple[FeatureSpec, ...]
    omitted: tuple[str, ...]
    compute_ohlcv: Callable[[Bars], dict[str, np.ndarray]]
    compute_funding: Callable[[pd.DatetimeIndex, pd.Series | None, int], dict[str, np.ndarray]]
    specs_for: Callable[[str], tuple[FeatureSpec, ...]]
    # another market's candles -> the ctx_* columns (None: the set has no context columns)
    compute_context: (
        Callable[[pd.DatetimeIndex, pd.DataFrame | None, str], dict[str, np.ndarray]] | None
    ) = None


def _daily_set(name: str) -> FeatureSet:
    specs_for, ohlcv, context = daily.variant(daily.MAX_DAYS[name])
    return FeatureSet(
        name, specs_for("1h"), daily.OMITTED, ohlcv, daily.compute_funding, specs_for, context
    )


FEATURE_SETS: dict[str, FeatureSet] = {
    "flagtrader60": FeatureSet(
        "flagtrader60",
        flagtrader60.SPECS,
        flagtrader60.OMITTED,
        flagtrader60.compute,
        funding_features,
        flagtrader60.specs,
    ),
    "core17": FeatureSet(
        "core17", core17.SPECS, core17.OMITTED, core17.compute, _core17_funding, core17.specs
    ),
    "daily": _daily_set("daily"),
    "daily30": _daily_set("daily30"),
}


def _get(feature_set: str) -> FeatureSet:
    try:
        return FEATURE_SETS[feature_set]
    except KeyError:
        raise KeyError(
            f"unknown feature set {feature_set!r}; valid sets: {', '.join(sorted(FEATURE_SETS))}"
        ) from None


def feature_specs(feature_set: str, bar: str = "1h") -> tuple[FeatureSpec, ...]:
    """The documented specs of ``feature_set`` at bar size ``bar``, in column order."""
    fs = _get(feature_set)
    return fs.specs if canonical(bar) == "1h" else fs.specs_for(canonical(bar))


def feature_names(feature_set: str) -> list[str]:
    """Column names of ``feature_set``, in order."""
    return [s.name for s in _get(feature_set).specs]


def warmup_bars(feature_set: str, bar: str = "1h") -> int:
    """Leading rows of every segment that are not valid (the longest column warm-up), in bars."""
    return max(s.warmup for s in feature_specs(feature_set, bar))


def compute_features(
    candles: pd.DataFrame,
    feature_set: str,
    *,
    funding: pd.Series | None = None,
    freq: str = "1h",
    context: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Features of ``candles`` (``load_candles``/``clean`` output) as a float64 DataFrame.

    ``funding``: settlement-instant-indexed rates (``load_funding``) or None.
    ``freq``: the bar size (``envs.barsize``: 1m .. 1d); time-based windows
    scale with it (see ``FeatureSpec.basis``). ``context``: another market's
    candles of the same bar size, for the sets with ``ctx_*`` columns (``daily``,
    ``daily30``; see ``envs.features.daily`` for the alignment). Raises ValueError
    for invalid candles (see ``Bars.from_candles``), bar size or context (also a
    context given to a set without context columns: it would be ignored), KeyError
    for an unknown set.
    """
    fs = _get(feature_set)
    if context is not None and fs.compute_context is None:
        with_ctx = sorted(k for k, v in FEATURE_SETS.items() if v.compute_context is not None)
        raise ValueError(
            f"feature set {feature_set!r} has no cross-asset context columns; a context market "
            f"is read by {', '.join(with_ctx)} only (choose one of them or drop the context)"
        )
    bars = Bars.from_candles(candles, freq)
    specs = feature_specs(feature_set, bars.bar)
    columns = fs.compute_ohlcv(bars)
    columns.update(fs.compute_funding(bars.index, funding, bar_ns(bars.bar)))
    if fs.compute_context is not None:
        columns.update(fs.compute_context(bars.index, context, bars.bar))
    names = [s.name for s in specs]
    if set(columns) != set(names):  # a programming error in a feature-set module
        raise RuntimeError(f"{feature_set}: computed {sorted(set(columns) ^ set(names))} mismatch")
    # Fortran order: each column is contiguous, which is also pandas' block layout (no copy).
    data: np.ndarray = np.empty((len(bars), len(names)), dtype=np.float64, order="F")
    for j, spec in enumerate(specs):
        col = np.asarray(columns[spec.name], dtype=np.float64)
        data[:, j] = col
        data[bars.pos < spec.warmup, j] = np.nan  # enforce the documented warm-up exactly
    return pd.DataFrame(data, index=candles.index, columns=names, copy=False)


def valid_rows(features: pd.DataFrame | np.ndarray) -> np.ndarray:
    """Boolean mask of rows whose every feature is finite (past warm-up)."""
    values = features.to_numpy() if isinstance(features, pd.DataFrame) else np.asarray(features)
    if values.ndim != 2:
        raise ValueError(f"features must be 2-D (rows, columns), got shape {values.shape}")
    return np.isfinite(values).all(axis=1)
