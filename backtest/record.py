"""The ``Backtest`` record: what one policy did over one split, as plain numpy arrays.

Layout (see ``backtest.metrics`` for the equity convention):

* ``timestamps[i]`` (int64 ns UTC) is the open time of bar ``i``, the bar over which
  ``positions[i]`` is held (the decision was taken at the previous bar's close);
* ``equity`` has ``N + 1`` marks: ``equity[0]`` the starting capital, ``equity[i + 1]`` the mark at
  bar ``i``'s close;
* ``returns[i] = equity[i + 1] / equity[i] - 1``; ``fees``, ``slippage``, ``funding`` are the
  amounts paid inside bar ``i`` in equity units (funding received is negative);
* ``segment_starts``: bar indices where a new contiguous segment (a new env episode) begins. The
  split is run one segment at a time; a segment's equity continues multiplicatively from the last
  mark of the one before, so equity is flat across a data gap (no bar, no return).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backtest.metrics import alpha_annual, beta_correlation, returns_from_equity, summarize


@dataclass
class Backtest:
    """One policy's pass over one split (arrays described in the module docstring)."""

    name: str
    timestamps: np.ndarray  # int64 (N,) ns UTC, open time of the bar held
    equity: np.ndarray  # float64 (N + 1,)
    positions: np.ndarray  # float64 (N,)
    fees: np.ndarray  # float64 (N,)
    slippage: np.ndarray  # float64 (N,)
    funding: np.ndarray  # float64 (N,)
    periods_per_year: float
    segment_starts: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.positions)
        for key in ("timestamps", "fees", "slippage", "funding"):
            if len(getattr(self, key)) != n:
                raise ValueError(
                    f"Backtest {self.name!r}: {key} has {len(getattr(self, key))} "
                    f"values, positions has {n}"
                )
        if len(self.equity) != n + 1:
            raise ValueError(
                f"Backtest {self.name!r}: equity needs {n + 1} marks, got {len(self.equity)}"
            )

    @property
    def returns(self) -> np.ndarray:
        """Simple per-bar returns (N,)."""
        return returns_from_equity(self.equity)

    def __len__(self) -> int:
        return len(self.positions)

    def summary(self, benchmark: Backtest | None = None) -> dict[str, float]:
        """``backtest.metrics.summarize`` of this backtest; beta, correlation and alpha against
        ``benchmark`` over the bars both have (matched on timestamps; ``n_bars_vs_benchmark``)."""
        out = summarize(
            self.equity,
            self.positions,
            periods_per_year=self.periods_per_year,
            fees=self.fees,
            slippage=self.slippage,
            funding=self.funding,
        )
        if benchmark is not None:
            ra, rb = aligned_returns(self, benchmark)
            out["beta"], out["correlation"] = beta_correlation(ra, rb)
            out["alpha_annual"] = alpha_annual(ra, rb, self.periods_per_year)
            out["n_bars_vs_benchmark"] = float(ra.size)
        return out


def aligned_returns(a: Backtest, b: Backtest) -> tuple[np.ndarray, np.ndarray]:
    """Returns of ``a`` and ``b`` on the bars both hold (same timestamps), for paired statistics."""
    common, ia, ib = np.intersect1d(
        a.timestamps, b.timestamps, assume_unique=True, return_indices=True
    )
    return a.returns[ia], b.returns[ib]
