"""Walk-forward per-fold outputs: the fold table, its CSV and the per-fold Sharpe plot."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evaluate.wf_data import WFData

if TYPE_CHECKING:  # annotations only: wf_folds imports this module
    from evaluate.wf_folds import WalkForward


def fold_rows(wf: WalkForward, data: WFData) -> list[dict[str, Any]]:
    """One dict per fold: dates, sizes, what was selected, candidate and buy-and-hold metrics."""
    rows = []
    for f in wf.folds:
        d = f.plan.describe(data.index)
        cand, bh = f.backtests[wf.candidate].summary(), f.backtests["buy_and_hold"].summary()
        rows.append(
            {
                "fold": f.plan.index,
                "train_from": d["train"][0][:10],
                "test_from": d["test"][0][:10],
                "test_to": d["test"][1][:10],
                "n_train": d["n_train"],
                "n_test_bars": len(f.backtests[wf.candidate]),
                "selected": ", ".join(
                    f"{k}={v}"
                    for k, v in f.selection.items()
                    if k in ("lookback", "best_model_step", "best_epoch")
                ),
                "sharpe": cand["sharpe"],
                "total_return": cand["total_return"],
                "max_drawdown": cand["max_drawdown"],
                "n_trades": cand["n_trades"],
                "bh_sharpe": bh["sharpe"],
                "bh_total_return": bh["total_return"],
                "train_s": round(f.train_s, 1),
                "eval_s": round(f.eval_s, 1),
                "rows": d,
                "selection": f.selection,
            }
        )
    return rows


def format_fold_table(rows: list[dict[str, Any]], candidate: str) -> str:
    """The per-fold table printed on stdout."""
    head = (
        f"{'fold':>4}  {'train from':>10}  {'test from':>10}  {'test to':>10}  {'n_train':>7}  "
        f"{'bars':>6}  {candidate + ' Sharpe':>18}  {'return':>8}  {'max DD':>7}  {'trades':>6}  "
        f"{'B&H Sharpe':>10}  {'B&H ret':>8}  {'train s':>7}  selected"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"{r['fold']:>4}  {r['train_from']:>10}  {r['test_from']:>10}  {r['test_to']:>10}  "
            f"{r['n_train']:>7}  {r['n_test_bars']:>6}  {r['sharpe']:>18.3f}  {100 * r['total_return']:>7.2f}%  "
            f"{100 * r['max_drawdown']:>6.2f}%  {int(r['n_trades']):>6}  {r['bh_sharpe']:>10.3f}  "
            f"{100 * r['bh_total_return']:>7.2f}%  {r['train_s']:>7.1f}  {r['selected']}"
        )
    return "\n".join(lines)


def write_folds_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    """The per-fold rows as folds.csv; returns the path."""
    keys = [k for k in rows[0] if k not in ("rows", "selection")]
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(keys)
        for r in rows:
            w.writerow([r[k] for k in keys])
    return path


def plot_folds(wf: WalkForward, path: Path) -> Path:
    """Stitched equity (start 1, log scale) of every policy, fold boundaries dashed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(f"Walk-forward out-of-sample equity ({len(wf.folds)} folds, stitched; start = 1)")
    for bt in wf.stitched:
        ax.plot(
            bt.timestamps.astype("datetime64[ns]"),
            bt.equity[1:] / bt.equity[0],
            lw=1.0,
            label=bt.name,
        )
    for k in wf.stitched[0].meta["fold_starts"][1:]:
        ax.axvline(
            wf.stitched[0].timestamps[k].astype("datetime64[ns]"), color="gray", ls="--", lw=0.8
        )
    ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.savefig(path)
    return path
