"""Shared fixtures. Synthetic candles live here and only here: they are for unit tests."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(autouse=True, scope="session")
def _ledger_in_tmp(tmp_path_factory):
    """Runs made by tests append to a throwaway trial ledger, never to runs/<market>/."""
    os.environ["RLTRADE_RUNS_ROOT"] = str(tmp_path_factory.mktemp("runs"))


def synthetic_candles(
    n: int = 500, seed: int = 0, start: str = "2020-01-01", freq: str = "1h", drift: float = 0.0
) -> pd.DataFrame:
    """A valid OHLCV frame in the loader's output contract (UTC DatetimeIndex named 'timestamp')."""
    rng = np.random.default_rng(seed)
    log_ret = drift + 0.01 * rng.standard_normal(n)
    close = 100.0 * np.exp(np.cumsum(log_ret))
    open_ = np.concatenate([[100.0], close[:-1]])
    spread = np.abs(rng.standard_normal(n)) * 0.004 * close
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread
    volume = rng.uniform(10.0, 100.0, n)
    index = pd.date_range(start, periods=n, freq=freq, tz="UTC", name="timestamp")
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index
    )


@pytest.fixture
def candles() -> pd.DataFrame:
    return synthetic_candles()


@pytest.fixture
def make_candles():
    return synthetic_candles
