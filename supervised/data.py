"""Real-data arrays for the supervised baseline: exactly the env's ``MarketData``.

``load_supervised_data(env, feature_set, window)`` calls ``envs.load_market`` (sha256-checked,
cleaned candles -> gaps, causal per-segment features, ``RobustNormaliser`` fitted on TRAIN rows
only), so the classifier sees the very arrays the env observes. Per bar:

* ``features`` float32 (T, F): normalised, NaN (warm-up) replaced by 0 but flagged invalid;
* ``obs_ok``: the window ``[t-window+1, t]`` lies in one segment and every row is valid;
* ``can_step``: bar t+1 exists in t's segment (a next-open fill is possible);
* ``funding`` float64: the rate settled at bar t's close instant (0 if none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from envs import load_market
from envs.features import RobustNormaliser
from envs.presets import get_preset
from envs.splits import split_index_range


@dataclass
class SupervisedData:
    """Whole-series arrays (T bars) and the split index ranges ``[lo, hi)`` of decision bars."""

    env: str
    feature_set: str
    feature_names: list[str]
    window: int
    index: pd.DatetimeIndex
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    segment: np.ndarray
    features: np.ndarray
    obs_ok: np.ndarray
    can_step: np.ndarray
    funding: np.ndarray
    splits: dict[str, tuple[int, int]]
    split_dates: dict[str, tuple[str, str]]
    normaliser: RobustNormaliser
    data_files: list[Path] = field(default_factory=list)

    @property
    def n_features(self) -> int:
        """Number of feature columns."""
        return self.features.shape[1]


def load_supervised_data(env: str, feature_set: str, window: int) -> SupervisedData:
    """The env's own market arrays (``envs.load_market``: normaliser fitted on train rows)."""
    preset = get_preset(env)
    market, norm = load_market(env, feature_set, window)
    index = pd.DatetimeIndex(pd.to_datetime(market.timestamps, utc=True))
    splits = {name: split_index_range(index, preset, name) for name in preset.splits}
    files = [preset.candles.path] + ([preset.funding.path] if preset.funding is not None else [])
    return SupervisedData(
        env=env,
        feature_set=feature_set,
        feature_names=list(market.feature_names),
        window=int(window),
        index=index,
        open=market.open,
        high=market.high,
        low=market.low,
        close=market.close,
        segment=market.segment,
        features=market.features,
        obs_ok=market.obs_ok,
        can_step=market.can_step,
        funding=market.funding,
        splits=splits,
        split_dates={k: (str(v[0]), str(v[1])) for k, v in preset.splits.items()},
        normaliser=norm,
        data_files=files,
    )
