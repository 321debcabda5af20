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

from evaluate.walkforward.verdict import MethodResult, Verdict, sharpe_text

PRETTY = {"buy_and_hold": "buy-and-hold"}


def _f(v: float, fmt: str = "{:+.2f}") -> str:
    return fmt.format(v) if isinstance(v, int | float) and math.isfinite(v) else "n/a"


def pretty(name: str) -> str:
    """``buy_and_hold`` -> ``buy-and-hold``; other names as they are."""
    return PRETTY.get(name, name.replace("_", " "))


def _bsharpe(v: float) -> str:
    """A baseline's Sharpe; an undefined one (never trades) is compared as 0 and says so."""
    return _f(v) if math.isfinite(v) else "never trades: Sharpe taken as 0"


def method_sentence(r: MethodResult, n_folds: int, baseline_sharpes: dict[str, float]) -> str:
    """``PPO (3 seeds x 6 folds): out-of-sample IQM Sharpe -0.32 [-0.61, +0.05]; beats
    buy-and-hold (+0.54) with probability 0.00, ...; turnover ..., costs ... of equity a year.``"""
    s = r.summary
    head = f"{r.method.upper()} ({len(r.curves)} seed{'s' if len(r.curves) != 1 else ''} x {n_folds} folds"
    head += f", {len(r.failed)} seed(s) failed)" if r.failed else ")"
    if s is None:
        why = "; ".join(f"seed {k}: {v}" for k, v in r.failed.items())
        return f"{head}: no seed finished every fold ({why}); nothing to evaluate."
    ci = f" [{_f(s.iqm_low)}, {_f(s.iqm_high)}]" if s.n_seeds > 1 else " (one seed: no interval)"
    parts = [f"{head}: out-of-sample IQM Sharpe {_f(s.iqm)}{ci}"]
    beats = [
        f"{pretty(b)} ({_bsharpe(baseline_sharpes[b])}) with probability {_f(p, '{:.2f}')}"
        for b, p in s.p_improve.items()
    ]
    if beats:
        parts.append("beats " + ", ".join(beats))
    if r.collapse:
        kinds = sorted(set(r.collapse.values()))
        parts.append(
            f"{len(r.collapse)} of {s.n_seeds} seeds collapsed ({', '.join(kinds)}; "
            "a flat seed counts as Sharpe 0)"
        )
    c = r.costs
    if c:
        parts.append(
            f"turnover {c['turnover_annual']:.0f}x a year, costs {c['costs_pct_year']:.1f}% of "
            f"equity a year (fees {c['fees_pct_year']:.1f}%, slippage {c['slippage_pct_year']:.1f}%, "
            f"funding {c['funding_pct_year']:.1f}%)"
        )
    parts.append(f"{r.n_trials} trials counted")
    return "; ".join(parts) + "."


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
