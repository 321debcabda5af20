"""Portfolio trading: one account allocating across N markets (issue 21, first part).

    from envs.portfolio import make_portfolio_env
    env = make_portfolio_env(["btc1h", "eth1h"], split="val", mode="long_only")

* ``envs.portfolio.universe``: ``Universe.align`` puts N markets on common timestamps, never
  forward-filling; members enter and leave the tradable set.
* ``envs.portfolio.weights``: actions -> target weights (long-only simplex with cash, or
  long/short with a gross-exposure cap).
* ``envs.portfolio.kernel``: the numba accounting (per-asset fees, slippage, funding; the single
  env's reward), one-asset parity with ``TradingEnv`` bit for bit, conservation per asset.
* ``envs.portfolio.env``: ``PortfolioEnv`` (gymnasium; the docstring is the spec) and
  ``PortfolioAccounts`` (n accounts stepped together: the batched core).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from envs.markets import MarketSpecError
from envs.portfolio.env import PortfolioAccounts, PortfolioEnv
from envs.portfolio.universe import Universe
from envs.registry import DEFAULT_FEATURE_SET, DEFAULT_WINDOW, load_market
from envs.splits import split_bounds
from lab.config import ConfigError

__all__ = ["PortfolioAccounts", "PortfolioEnv", "Universe", "load_universe", "make_portfolio_env"]


def load_universe(
    specs: list[str], feature_set: str = DEFAULT_FEATURE_SET, window: int = DEFAULT_WINDOW
) -> Universe:
    """A ``Universe`` of market specs (presets, files, catalog keys); each member's features
    are normalised by its own train-fitted normaliser, as its single env would be."""
    markets = []
    for spec in specs:
        try:
            markets.append(load_market(spec, feature_set, window)[0])
        except MarketSpecError as err:  # a member naming no preset, file or catalog entry
            raise ConfigError(f"universe member {spec!r}: {' '.join(str(err).split())}") from None
    return Universe.align(markets, [str(s) for s in specs])


def split_rows(universe: Universe, spec: str, split: str | None) -> tuple[int, int]:
    """Union rows ``[lo, hi)`` whose bars open inside ``split`` of ``spec``'s market."""
    if split is None:
        return 0, universe.n_bars
    start, end = split_bounds(spec, split)
    ts = universe.timestamps
    lo = int(np.searchsorted(ts, pd.Timestamp(start).value))
    hi = int(np.searchsorted(ts, pd.Timestamp(end).value))
    return lo, hi


def make_portfolio_env(
    specs: list[str],
    split: str | None = "train",
    feature_set: str = DEFAULT_FEATURE_SET,
    window: int = DEFAULT_WINDOW,
    **options: Any,
) -> PortfolioEnv:
    """A ``PortfolioEnv`` on the members ``specs``; the split's dates are the first member's."""
    universe = load_universe(specs, feature_set, window)
    return PortfolioEnv(universe, split_rows(universe, specs[0], split), **options)
