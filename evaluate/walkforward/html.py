"""The walk-forward's HTML report: the verdict first, then interactive charts and the tables.

Self-contained (plotly.js inlined, no network). Order: the headline sentence, one sentence per
method, the baselines' line, which configuration each method trained with (in words, not a
raw dump), the stitched out-of-sample equity and drawdown (median seed inside the worst-best
band per method; fold boundaries dotted), the per-method table and the fold-by-fold table.
TODO(verdict): swap for the reusable verdict builder of ``evaluate.report*`` once it lands.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import plotly.io as pio
from plotly.offline import get_plotlyjs

from evaluate.charts import drawdown_figure, equity_figure
from evaluate.walkforward.tables import FOLD_HEAD, baseline_line, headline, method_sentence
from evaluate.walkforward.verdict import Verdict

CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1300px;color:#222}
table{border-collapse:collapse;font-size:13px;margin:.5em 0}td,th{border:1px solid #ccc;
padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
.verdict{font-size:1.15em;background:#eef4fb;border-left:5px solid #1f77b4;padding:.5em .8em}
.method{background:#f6f8fa;padding:.4em .8em;border-left:4px solid #999}
.note{background:#fff6d5;padding:.6em;border-left:4px solid #e0b000}.chart{margin:1em 0}"""
SELECTION = (
    "Every fold retrains each method on its own training rows and selects (checkpoint, early "
    "stopping, decision rule, lookback) on that fold's validation block only; the test blocks "
    "are seen once, stitched per seed into one out-of-sample account. Baselines pay the same "
    "costs on the same blocks."
)


def _esc(v: Any) -> str:
    return html.escape(str(v))


def _num(v: Any, fmt: str = "{:.2f}") -> str:
    if isinstance(v, float) and not math.isfinite(v):
        return "n/a"
    return fmt.format(v) if isinstance(v, int | float) else _esc(v)


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{_esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _charts(v: Verdict) -> str:
    curves = [c for r in v.methods.values() for c in r.curves.values()]
    curves += list(v.baselines.values())
    figs = {"equity": equity_figure(curves), "drawdown": drawdown_figure(curves)}
    first = next(iter(v.baselines.values()))
    for k in first.meta.get("fold_starts", [])[1:]:
        figs["equity"].add_vline(x=float(first.timestamps[k]) / 1e6, line_dash="dot", line_width=1)
    return "".join(
        '<div class="chart">'
        + pio.to_html(f, full_html=False, include_plotlyjs=False, div_id=f"plot-{k}")
        + "</div>"
        for k, f in figs.items()
    )


def _method_table(rows: list[dict[str, Any]], baselines: list[str]) -> str:
    head = ["method", "seeds", "IQM Sharpe", "95% CI", "worst seed", "collapsed"]
    head += [f"P(beat {b.replace('_', '-')})" for b in baselines] + [
        "turnover /yr",
        "costs % equity /yr",
        "trials",
    ]
    body = [
        [
            _esc(r["method"]),
            f"{r['seeds']}" + (f" ({r['failed_seeds']} failed)" if r["failed_seeds"] else ""),
            _num(r["iqm_sharpe"]),
            f"[{_num(r['iqm_low'])}, {_num(r['iqm_high'])}]",
            _num(r["worst_seed_sharpe"]),
            str(r["collapsed_seeds"]),
            *[_num(r[f"p_beat_{b}"]) for b in baselines],
            _num(r.get("turnover_annual", math.nan), "{:.0f}"),
            _num(r.get("costs_pct_year", math.nan), "{:.1f}"),
            str(r["n_trials"]),
        ]
        for r in rows
    ]
    return _table(head, body)


def _fold_table(rows: list[dict[str, Any]]) -> str:
    keys = ("fold", "method", "test_from", "test_to", "n_train", "seeds", "val_sharpe_median",
            "sharpe_median", "sharpe_min", "sharpe_max", "bh_sharpe", "trades_median")  # fmt: skip
    body = [
        [_num(r[k], "{:.0f}" if k == "trades_median" else "{:+.2f}") if isinstance(r[k], float)
         else _esc(r[k]) for k in keys]
        + [_esc("; ".join(filter(None, [r["note"], r["bh_note"] and f"buy-and-hold: {r['bh_note']}"])))]
        for r in rows
    ]  # fmt: skip
    return _table([*FOLD_HEAD, "note"], body)


def write_report(
    path: Path, v: Verdict, method_rows: list[dict[str, Any]], context: dict[str, Any],
    charts: bool = True, overfitting: list[str] | tuple[str, ...] = (),
) -> Path:  # fmt: skip
    """report.html (see the module docstring)."""
    n_folds = int(context["folds"])
    sentences = "".join(
        f'<p class="method">{_esc(method_sentence(r, n_folds, v))}</p>' for r in v.methods.values()
    )
    configs = "".join(f"<li>{_esc(r.settings.describe())}</li>" for r in v.methods.values())
    setting = _table(
        ["setting", "value"],
        [[_esc(k), _esc(val)] for k, val in context.items() if k != "command"],
    )
    page = (
        '<!doctype html><html><head><meta charset="utf-8"><title>Walk-forward: '
        f"{_esc(context['env'])}</title><style>{CSS}</style>"
        f"<script>{get_plotlyjs() if charts else ''}</script></head><body>"
        f"<h1>Walk-forward on {_esc(context['env'])}: {n_folds} folds, "
        f"{_esc(context['span'])}</h1>"
        f'<p class="verdict">{_esc(headline(v))}</p>{sentences}'
        f"<p>{_esc(baseline_line(v))}</p>"
        + "".join(f'<p class="note">{_esc(line)}</p>' for line in overfitting)
        + f"<h3>Configurations trained</h3><ul>{configs}</ul>"
        f'<p class="note">{_esc(SELECTION)}</p>'
        f"{_charts(v) if charts else ''}"
        f"<h3>Methods (out of sample, stitched per seed)</h3>"
        f"{_method_table(method_rows, list(v.baselines))}"
        f"<h3>Fold by fold (median over seeds)</h3>{_fold_table(v.fold_rows)}"
        f"<h3>Setting</h3>{setting}<p><code>{_esc(context.get('command', ''))}</code></p>"
        "</body></html>"
    )
    path.write_text(page, encoding="utf-8")
    return path
