"""The hand-made 7-bar market that the accounting tests compute by hand (one definition)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from envs import MarketData

#            bar:   0      1      2      3      4      5      6
OPEN = np.array([100.0, 101.0, 103.0, 105.0, 99.0, 97.0, 96.0])
CLOSE = np.array([100.0, 102.0, 104.0, 100.0, 98.0, 96.0, 95.0])
INDEX = pd.date_range("2021-01-01", periods=7, freq="1h", tz="UTC", name="timestamp")


def hand_market(funding: pd.Series | None = None, window: int = 1) -> MarketData:
    """OPEN/CLOSE above, high/low 1 beyond them, 2 features (bar index, minus bar index)."""
    candles = pd.DataFrame(
        {
            "open": OPEN,
            "high": np.maximum(OPEN, CLOSE) + 1.0,
            "low": np.minimum(OPEN, CLOSE) - 1.0,
            "close": CLOSE,
            "volume": 1.0,
        },
        index=INDEX,
    )
    feats = np.arange(7, dtype=np.float64)[:, None] * np.array([[1.0, -1.0]])
    return MarketData.build(candles, feats, funding, window=window)
