"""The walk-forward's words and tables: verdict sentences, the method and fold tables, CSVs.

Everything a reader sees on the terminal comes from here, and the HTML report reuses the same
sentences (``evaluate.walkforward.html``). A Sharpe that is undefined is written as ``n/a``
with its reason (``verdict.why_undefined``), never ``nan``.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from backtest.aggregate import TrialCount
from evaluate.report_verdict import method_verdict
from evaluate.walkforward.verdict import MethodResult, Verdict, sharpe_text

PRETTY = {"buy_and_hold": "buy-and-hold"}


def _f(v: float, fmt: str = "{:+.2f}") -> str:
    return fmt.format(v) if isinstance(v, int | float) and math.isfinite(v) else "n/a"


def pretty(name: str) -> str:
    """``buy_and_hold`` -> ``buy-and-hold``; other names as they are."""
    return PRETTY.get(name, name.replace("_", " "))


def period(v: Verdict, n_folds: int) -> str:
    """``2023-06-17 to 2024-01-01 out of sample (6 folds stitched)``."""
    first = next(iter(v.baselines.values()))
    lo, hi = (
        str(np.datetime64(int(first.timestamps[i]), "ns").astype("datetime64[D]")) for i in (0, -1)
    )
    if v.n_paths:
        return f"{lo} to {hi} out of sample ({v.n_paths} CPCV paths of {n_folds} splits)"
    return f"{lo} to {hi} out of sample ({n_folds} folds stitched)"


def cost_sentence(r: MethodResult) -> str:
    """``Turnover 139x a year; costs 12.3% of equity a year (fees ..., slippage ..., funding ...).``"""
    c = r.costs
    if not c:
        return ""
    return (
        f" Turnover {c['turnover_annual']:.0f}x a year; costs {c['costs_pct_year']:.1f}% of "
        f"equity a year (fees {c['fees_pct_year']:.1f}%, slippage {c['slippage_pct_year']:.1f}%, "
        f"funding {c['funding_pct_year']:.1f}%), median over seeds."
    )


def cpcv_sentence(r: MethodResult) -> str:
    """`` CPCV: 5 paths x 3 seeds: path Sharpe median +0.31 (10%-90% -0.52 to +1.05); 27% of
    paths beat buy-and-hold on the same path.`` (empty for a walk-forward)."""
    allp = [x for v in r.path_sharpes.values() for x in v]
    if not allp:
        return ""
    n_paths = len(next(iter(r.path_sharpes.values())))
    pct: np.ndarray = np.asarray(np.percentile(allp, [10, 50, 90]))
    lo, mid, hi = float(pct[0]), float(pct[1]), float(pct[2])
    return (
        f" CPCV: {n_paths} paths x {len(r.path_sharpes)} seed(s): path Sharpe median {mid:+.2f} "
        f"(10%-90% {lo:+.2f} to {hi:+.2f}); {100 * r.share_beat_bh:.0f}% of paths beat "
        "buy-and-hold on the same path (a seed's Sharpe above is its median path)."
    )


def method_sentence(r: MethodResult, n_folds: int, v: Verdict | None) -> str:
    """The verdict builder's sentence (``evaluate.report_verdict.method_verdict``) over the
    stitched out-of-sample seeds, then turnover and costs; a method with no finished seed says
    which fold failed and why."""
    if r.summary is None or v is None:
        why = "; ".join(f"seed {k}: {e}" for k, e in r.failed.items())
        return f"{r.method.upper()}: no seed finished every fold ({why}); nothing to evaluate."
    ppy = next(iter(r.curves.values())).periods_per_year
    trials = TrialCount(
        r.n_trials, r.trials_sharpe_var * ppy, "walk-forward: folds x configurations"
    )
    text = method_verdict(
        r.summary, v.baseline_sharpes, trials, r.dsr, len(r.failed), period=period(v, n_folds)
    )
    return text + cost_sentence(r) + cpcv_sentence(r)


def headline(v: Verdict) -> str:
    """The one-sentence answer: does any method beat buy-and-hold out of sample?"""
    scored = {m: r.summary for m, r in v.methods.items() if r.summary is not None}
    bh = v.baseline_sharpes.get("buy_and_hold", math.nan)
    if not scored:
        return "No method finished every fold: nothing to compare."
    best = max(scored, key=lambda m: scored[m].iqm)  # type: ignore[union-attr]
    s = scored[best]
    p = s.p_improve.get("buy_and_hold", math.nan)  # type: ignore[union-attr]
    winners = [m for m, x in scored.items() if x.p_improve.get("buy_and_hold", 0) > 0.5]  # type: ignore[union-attr]
    if not winners:
        return (
            f"No method beats buy-and-hold out of sample: the best, {best}, has IQM Sharpe "
            f"{_f(s.iqm)} against buy-and-hold's {_f(bh)} (P(beat) {_f(p, '{:.2f}')})."  # type: ignore[union-attr]
        )
    return (
        f"{', '.join(winners)} beat{'s' if len(winners) == 1 else ''} buy-and-hold ({_f(bh)}) "
        f"out of sample in most seeds; the best, {best}, has IQM Sharpe {_f(s.iqm)} "  # type: ignore[union-attr]
        f"(P(beat) {_f(p, '{:.2f}')})."
    )


def baseline_line(v: Verdict) -> str:
    """``baselines on the same stitched blocks: buy-and-hold +0.54, momentum -0.10, flat n/a``."""
    if v.n_paths:
        return f"baselines on the same {v.n_paths} CPCV paths (median path Sharpe): " + ", ".join(
            f"{pretty(b)} {_f(x)}" for b, x in v.baseline_sharpes.items()
        )
    return "baselines on the same stitched test blocks: " + ", ".join(
        f"{pretty(b)} {sharpe_text(bt)}" for b, bt in v.baselines.items()
    )


FOLD_COLS = (
    ("fold", "{:>4}"), ("method", "{:<10}"), ("test_from", "{:>10}"), ("test_to", "{:>10}"),
    ("n_train", "{:>7}"), ("seeds", "{:>5}"), ("val_sharpe_median", "{:>+9.2f}"),
    ("sharpe_median", "{:>+9.2f}"), ("sharpe_min", "{:>+8.2f}"), ("sharpe_max", "{:>+8.2f}"),
    ("bh_sharpe", "{:>+8.2f}"), ("trades_median", "{:>7.0f}"),
)  # fmt: skip
FOLD_HEAD = ("fold", "method", "test from", "test to", "n_train", "seeds", "val Shrp",
             "test Shrp", "min", "max", "B&H", "trades")  # fmt: skip


def _cell(fmt: str, v: Any) -> str:
    if isinstance(v, float) and not math.isfinite(v):
        width = "".join(ch for ch in fmt if ch.isdigit())[:1] or "4"
        return f"{'n/a':>{int(width)}}"
    return fmt.format(v)


def format_fold_table(rows: list[dict[str, Any]]) -> str:
    """Fold by fold, method by method: median test Sharpe over seeds and why any is n/a."""
    widths = [len(_cell(f, rows[0][k])) if rows else 6 for k, f in FOLD_COLS]
    lines = ["  ".join(f"{h:>{w}}" for h, w in zip(FOLD_HEAD, widths, strict=True)) + "  note"]
    for r in rows:
        cells = [_cell(f, r[k]) for k, f in FOLD_COLS]
        note = r["note"] + (f"; buy-and-hold: {r['bh_note']}" if r["bh_note"] else "")
        lines.append(
            "  ".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True)) + f"  {note}"
        )
    return "\n".join(lines)


def method_rows(v: Verdict) -> list[dict[str, Any]]:
    """One row per method (methods.csv, the report's table)."""
    out = []
    for m, r in v.methods.items():
        s = r.summary
        row: dict[str, Any] = {
            "method": m,
            "seeds": len(r.curves),
            "failed_seeds": len(r.failed),
            "iqm_sharpe": s.iqm if s else math.nan,
            "iqm_low": s.iqm_low if s else math.nan,
            "iqm_high": s.iqm_high if s else math.nan,
            "worst_seed_sharpe": s.worst if s else math.nan,
            "collapsed_seeds": len(r.collapse),
            **{
                f"p_beat_{b}": (s.p_improve.get(b, math.nan) if s else math.nan)
                for b in v.baselines
            },
            **r.costs,
            "n_trials": r.n_trials,
            "config": r.settings.describe(),
        }
        if r.path_sharpes:  # CPCV: the distribution over paths and seeds
            allp = [x for xs in r.path_sharpes.values() for x in xs]
            row["path_sharpe_median"] = float(np.median(allp))
            row["share_paths_beat_buy_and_hold"] = r.share_beat_bh
            row["n_paths"] = len(allp)
        out.append(row)
    return out


def write_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    """``rows`` (dicts with the same keys) as a CSV; non-finite numbers as empty cells."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(list(rows[0]) if rows else [])
        for r in rows:
            w.writerow(
                ["" if isinstance(x, float) and not math.isfinite(x) else x for x in r.values()]
            )
    return path
