"""Trades derived from a position series, and per-trade statistics (pure numpy).

A **trade** starts at a bar whose position is non-zero and differs in sign from the previous
bar's (the series starts flat), and lasts while the sign stays the same. Resizing within the
same sign (continuous actions) does not start a new trade; going flat or flipping ends it.

Attribution of bars to a trade (``positions[i]`` is held over bar ``i`` and the cost of moving
to it is paid inside bar ``i``):

* the trade owns the bars it is held over, so its entry cost is included;
* when it ends by going **flat**, the flat bar right after it is also the trade's, because that
  bar carries the exit cost (and nothing else, since the position is 0);
* when it ends by a **flip**, the flip bar belongs to the *new* trade, so the old trade's exit
  cost is charged to the new one (the bar cannot be split without per-leg costs);
* a trade still open at the end is closed at the last mark (no exit cost).

The trade's return is ``equity[exit] / equity[entry] - 1`` over its attributed bars.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Trades:
    """Trades as parallel arrays (one entry per trade)."""

    entry: np.ndarray  # int64: first bar held
    exit: np.ndarray  # int64: one past the last attributed bar (an equity mark index)
    side: np.ndarray  # int8: +1 long, -1 short
    returns: np.ndarray  # float64: compounded return over the attributed bars
    bars_held: np.ndarray  # int64: bars with the position on (excludes the flat exit bar)

    def __len__(self) -> int:
        return int(self.entry.size)


def extract_trades(positions: np.ndarray, equity: np.ndarray) -> Trades:
    """Trades from ``positions`` (N,) and ``equity`` (N + 1,) marks; see the module docstring."""
    pos = np.asarray(positions, dtype=np.float64)
    eq = np.asarray(equity, dtype=np.float64)
    if eq.size != pos.size + 1:
        raise ValueError(f"equity needs N + 1 = {pos.size + 1} marks, got {eq.size}")
    n = pos.size
    sign = np.sign(pos).astype(np.int8)
    prev = np.concatenate([[0], sign[:-1]]).astype(np.int8)
    starts = np.flatnonzero((sign != 0) & (sign != prev))
    if starts.size == 0:
        empty_i: np.ndarray = np.zeros(0, dtype=np.int64)
        return Trades(empty_i, empty_i, np.zeros(0, dtype=np.int8), np.zeros(0), empty_i)
    # Where does each run of constant sign end? change[i]: bar i differs in sign from bar i - 1.
    # n is a sentinel change point: a run still open at the end ends there.
    change = np.concatenate([np.flatnonzero(sign[1:] != sign[:-1]) + 1, [n]])
    # The end (exclusive) of the run that starts at s is the first change point after s.
    run_end = change[np.searchsorted(change, starts, side="right")]
    ends_flat = (run_end < n) & (sign[np.minimum(run_end, n - 1)] == 0)
    exit_ = np.where(ends_flat, run_end + 1, run_end).astype(np.int64)
    rets = eq[exit_] / eq[starts] - 1.0
    held = (run_end - starts).astype(np.int64)
    return Trades(starts.astype(np.int64), exit_, sign[starts], rets, held)


def _max_run(mask: np.ndarray) -> int:
    if not mask.any():
        return 0
    padded = np.concatenate([[0], mask.astype(np.int8), [0]])
    edges = np.diff(padded)
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())


def trade_stats(trades: Trades) -> dict[str, float]:
    """Per-trade statistics on trade returns (fractions, scale-free).

    ``win_rate`` = wins / trades (a zero-return trade is neither win nor loss); ``profit_factor`` =
    sum of winning returns / |sum of losing returns| (nan without a losing trade); ``expectancy`` =
    mean trade return; ``avg_win`` / ``avg_loss`` (negative) = mean return of winners / losers;
    ``risk_reward`` = avg_win / |avg_loss|; ``max_consecutive_losses`` counts trades. With no trades
    every ratio is nan and the counts are 0.
    """
    r = trades.returns
    n = r.size
    nan = float("nan")
    wins, losses = r[r > 0], r[r < 0]
    avg_win = float(wins.mean()) if wins.size else nan
    avg_loss = float(losses.mean()) if losses.size else nan
    return {
        "n_trades": float(n),
        "win_rate": float(wins.size / n) if n else nan,
        "profit_factor": float(wins.sum() / -losses.sum()) if losses.size else nan,
        "expectancy": float(r.mean()) if n else nan,
        "avg_win": avg_win,
        "avg_loss": avg_loss,
        "risk_reward": avg_win / -avg_loss if wins.size and losses.size else nan,
        "max_consecutive_losses": float(_max_run(r < 0)),
        "avg_bars_held": float(trades.bars_held.mean()) if n else nan,
    }
