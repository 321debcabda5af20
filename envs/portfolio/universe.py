"""A universe: N markets aligned on common timestamps, as plain arrays (no pandas after build).

Alignment takes the **union** of the members' bar open times (every member must have the same
bar size; their bars lie on one UTC grid). A member that has no bar at a union timestamp is
*absent* there: its prices are NaN, its features zero and every mask False. Nothing is
forward-filled, so an absent member can be neither observed nor traded nor marked.

Per member i and union bar t:

* ``present[i, t]``: member i has bar t.
* ``obs_ok[i, t]``: member i's own observation window ending at t is valid (one segment of its
  own, every feature finite: ``MarketData.obs_ok``). Consecutive bars of one segment are
  consecutive union rows (the union has no timestamp between two grid neighbours), so the
  member's window is the union rows ``t - window + 1 .. t``.
* ``tradable[i, t]``: a position in member i may be held from t's decision over bar t+1:
  ``obs_ok[i, t]`` and member i's next bar is union bar t+1 in the same segment
  (``MarketData.can_step``). A member stops being tradable before a gap, a delisting or the
  end of its data, and becomes tradable again once a full window of new bars exists.

``next_ok[t]``: union bar t+1 is the grid neighbour of t (no bar of any member is missing in
between), so a decision on t can be held over t+1. A universe-wide gap ends an episode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.market import MarketData


@dataclass(frozen=True, eq=False)
class Universe:
    """N aligned members (see module doc). Prices ``(N, T)`` float64, NaN where absent;
    features ``(N, T, F)`` float32 (zeros where absent), so a member's window is contiguous."""

    names: tuple[str, ...]
    timestamps: np.ndarray  # int64 (T,) bar open, ns UTC
    open: np.ndarray
    close: np.ndarray
    funding: np.ndarray  # (N, T) rate settled at bar t's close instant, 0 when absent
    features: np.ndarray
    present: np.ndarray
    obs_ok: np.ndarray
    tradable: np.ndarray
    next_ok: np.ndarray
    window: int
    feature_names: tuple[str, ...]
    freq_ns: int

    @property
    def n_assets(self) -> int:
        """Number of members N."""
        return int(self.close.shape[0])

    @property
    def n_bars(self) -> int:
        """Number of union bars T."""
        return int(self.timestamps.shape[0])

    @property
    def n_features(self) -> int:
        """Features per member and bar F."""
        return int(self.features.shape[2])

    @classmethod
    def align(cls, markets: list[MarketData], names: list[str] | tuple[str, ...]) -> Universe:
        """Align ``markets`` (one ``MarketData`` each, same bar size, window and feature names)
        on the union of their timestamps. Raises ValueError naming the member that differs."""
        _check_members(markets, names)
        ts = np.unique(np.concatenate([m.timestamps for m in markets]))
        n, t_len, f = len(markets), len(ts), markets[0].n_features
        nan = np.full((n, t_len), np.nan)
        open_, close = nan.copy(), nan.copy()
        funding = np.zeros((n, t_len))
        features: np.ndarray = np.zeros((n, t_len, f), dtype=np.float32)
        present: np.ndarray = np.zeros((n, t_len), dtype=bool)
        obs_ok: np.ndarray = np.zeros((n, t_len), dtype=bool)
        tradable: np.ndarray = np.zeros((n, t_len), dtype=bool)
        freq = markets[0].freq_ns
        for i, m in enumerate(markets):
            # member bar j -> union row rows[j]
            rows = np.asarray(np.searchsorted(ts, m.timestamps), dtype=np.int64)
            open_[i, rows], close[i, rows] = m.open, m.close
            funding[i, rows] = m.funding
            features[i, rows] = m.features
            present[i, rows] = True
            obs_ok[i, rows] = m.obs_ok
            # held over t+1 only when the member's next own bar is the union's next row
            next_is_neighbour: np.ndarray = np.zeros(len(rows), dtype=bool)
            next_is_neighbour[:-1] = rows[1:] == rows[:-1] + 1
            tradable[i, rows] = m.obs_ok & m.can_step & next_is_neighbour
        next_ok: np.ndarray = np.zeros(t_len, dtype=bool)
        next_ok[:-1] = np.diff(ts) == freq
        return cls(
            names=tuple(names),
            timestamps=ts,
            open=open_,
            close=close,
            funding=funding,
            features=features,
            present=present,
            obs_ok=obs_ok,
            tradable=tradable,
            next_ok=next_ok,
            window=markets[0].window,
            feature_names=markets[0].feature_names,
            freq_ns=freq,
        )


def _check_members(markets: list[MarketData], names: list[str] | tuple[str, ...]) -> None:
    """One line naming the first member whose bar size, window or features differ."""
    if not markets:
        raise ValueError("a universe needs at least one market")
    if len(names) != len(markets) or len(set(names)) != len(names):
        raise ValueError(f"universe names {list(names)} must be unique, one per market")
    first = markets[0]
    for name, m in zip(names, markets, strict=True):
        for what, a, b in (
            ("bar size (ns)", m.freq_ns, first.freq_ns),
            ("observation window", m.window, first.window),
            ("feature names", m.feature_names, first.feature_names),
        ):
            if a != b:
                raise ValueError(
                    f"universe member {name!r} has {what} {a!r}, the first member {names[0]!r} "
                    f"has {b!r}: build every member with the same bar size, window and feature set"
                )
