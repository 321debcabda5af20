"""Oracle allocations on a universe that holds planted-signal markets (``envs.synthetic``).

A universe of synthetic presets (``synth-regime,synth-rw,synth-meanrev``) is a planted
cross-sectional market: only the members with a planted signal can be exploited, and the known
allocation is each such member's single-market oracle position (``envs.synthetic.
oracle_positions``: ``hidden`` reads the generator's state, ``filter`` past closes only), split
equally among them, every other member at 0. In ``long_only`` mode a short oracle position is
cash. ``blind`` (``envs.synthetic.blind_positions``) does not know which member carries the
signal: the regime filter on every member, one band for all, the members it holds split equally
(what a permutation-equivariant policy can at best compute from past closes). The oracles
decide at bar t's close like every policy; the portfolio env fills and charges.
"""

from __future__ import annotations

import numpy as np

from envs.portfolio.universe import Universe
from envs.synthetic import ALL_MARKET_NAMES, blind_positions, has_edge, oracle_positions


def planted_members(universe: Universe) -> list[int]:
    """Indices of the members that are planted-signal presets with an edge (not the random
    walk, whose oracle is always flat)."""
    return [i for i, n in enumerate(universe.names) if n in ALL_MARKET_NAMES and has_edge(n)]


class OracleAllocator:
    """``decide(t, tradable, first)`` of the oracle ``kind`` ("hidden"/"filter"/"blind")."""

    def __init__(self, universe: Universe, kind: str, mode: str) -> None:
        members = planted_members(universe)
        if not members:
            raise ValueError(
                f"oracle_{kind} needs a planted-signal member ({', '.join(ALL_MARKET_NAMES)}); "
                f"the universe is {', '.join(universe.names)}"
            )
        self.targets = np.zeros((universe.n_bars, universe.n_assets))
        if kind == "blind":
            self._blind(universe, mode)
            return
        for i in members:
            times_ns, positions = oracle_positions(universe.names[i], kind)
            rows = np.searchsorted(times_ns, universe.timestamps).clip(0, len(times_ns) - 1)
            found = times_ns[rows] == universe.timestamps
            pos = np.where(found, positions[rows], 0.0)
            self.targets[:, i] = (np.maximum(pos, 0.0) if mode == "long_only" else pos) / len(
                members
            )

    def _blind(self, universe: Universe, mode: str) -> None:
        """The order-blind filter's targets: members held split equally (long-only: longs)."""
        outside = [n for n in universe.names if n not in ALL_MARKET_NAMES]
        if outside:
            raise ValueError(f"oracle_blind needs every member synthetic; {outside} is not")
        times_ns, pos = blind_positions(tuple(universe.names))
        rows = np.searchsorted(times_ns, universe.timestamps).clip(0, len(times_ns) - 1)
        found = times_ns[rows] == universe.timestamps
        held = np.where(found[:, None], pos[:, rows].T, 0.0)
        held = np.maximum(held, 0.0) if mode == "long_only" else held
        count = np.abs(held).sum(axis=1, keepdims=True)
        self.targets = np.where(count > 0, held / np.maximum(count, 1.0), 0.0)

    def decide(self, t: int, tradable: np.ndarray, first: bool) -> tuple[np.ndarray, bool]:
        """The oracle's targets at bar t (0 for members not tradable)."""
        return self.targets[t] * tradable, False
