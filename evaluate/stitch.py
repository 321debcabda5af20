"""Stitch per-fold out-of-sample backtests into one account (walk-forward), pure numpy.

Each fold's backtest starts flat at the env's initial equity (``equity[0]``). The stitched account
carries its equity from fold to fold multiplicatively, exactly like ``backtest.runner`` stitches
the episodes of a split with gaps:

* fold k's marks are rescaled by ``level_k / fold_k.equity[0]``, with ``level_k`` the stitched
  equity at the end of fold k-1 (``level_0`` = fold 0's starting equity); fees, slippage and
  funding (equity units) are rescaled by the same factor, positions are unchanged;
* hence the stitched per-bar returns are the folds' returns, concatenated, and the stitched total
  growth is the product of the folds' growths;
* every fold opens a fresh position (paying the entry cost); the last position of a fold is marked
  at its last close without an exit cost (the runner's convention at the end of a split), so a
  stitched curve omits one exit cost per fold boundary where a position was open;
* ruin is permanent: if a fold's account was ruined (``meta['ruined_at']``), every later fold is
  recorded flat (position 0, no cost, equity frozen), so all policies still cover the same bars.

``segment_starts`` concatenates the folds' own segment starts (offset by the bars before them);
``meta['fold_starts']`` holds the bar index where each fold begins.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backtest.record import Backtest


def _empty_lists(k: int) -> list[list[np.ndarray]]:
    """``k`` fresh lists of arrays (the stitched columns, one fold appended at a time)."""
    return [[] for _ in range(k)]


# size: one pass over the folds carrying the equity level and the ruin state across them
def stitch(parts: list[Backtest], name: str, meta: dict[str, Any] | None = None) -> Backtest:
    """One ``Backtest`` from per-fold backtests in time order (see module doc).

    Raises ValueError for no parts, an empty fold, differing ``periods_per_year`` or folds whose
    bars overlap or are out of order.
    """
    if not parts:
        raise ValueError(f"stitch {name!r}: no fold backtests")
    ppy = parts[0].periods_per_year
    ts, eq, pos, fee, slip, fund, segs = _empty_lists(7)
    starts: list[int] = []
    level = float(parts[0].equity[0])
    eq.append(np.array([level]))
    offset, last_ts, dead, ruined_at = 0, None, False, None
    for k, bt in enumerate(parts):
        n = len(bt)
        if n == 0:
            raise ValueError(f"stitch {name!r}: fold {k} has no bars")
        if bt.periods_per_year != ppy:
            raise ValueError(
                f"stitch {name!r}: fold {k} has periods_per_year {bt.periods_per_year}, "
                f"fold 0 has {ppy}"
            )
        if last_ts is not None and bt.timestamps[0] <= last_ts:
            raise ValueError(
                f"stitch {name!r}: fold {k} starts at or before the previous fold's "
                "last bar; folds must be disjoint and in time order"
            )
        starts.append(offset)
        ts.append(bt.timestamps)
        if dead:
            eq.append(np.full(n, level))
            pos.append(np.zeros(n))
            for lst in (fee, slip, fund):
                lst.append(np.zeros(n))
            segs.append(np.array([offset], dtype=np.int64))
        else:
            scale = level / float(bt.equity[0])
            eq.append(scale * bt.equity[1:])
            pos.append(bt.positions)
            fee.append(scale * bt.fees)
            slip.append(scale * bt.slippage)
            fund.append(scale * bt.funding)
            segs.append(np.asarray(bt.segment_starts, dtype=np.int64) + offset)
            level = float(eq[-1][-1])
            if bt.meta.get("ruined_at") is not None:
                dead, ruined_at = True, bt.meta["ruined_at"]
        offset += n
        last_ts = int(bt.timestamps[-1])
    out_meta = {
        **(parts[0].meta or {}),
        **(meta or {}),
        "ruined_at": ruined_at,
        "fold_starts": starts,
        "n_folds": len(parts),
    }
    return Backtest(
        name=name,
        timestamps=np.concatenate(ts).astype(np.int64),
        equity=np.concatenate(eq),
        positions=np.concatenate(pos),
        fees=np.concatenate(fee),
        slippage=np.concatenate(slip),
        funding=np.concatenate(fund),
        periods_per_year=ppy,
        segment_starts=np.concatenate(segs),
        meta=out_meta,
    )
