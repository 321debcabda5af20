"""The HTML report a person reads: one-sentence verdicts, interactive charts, then the full table.

Self-contained: plotly.js is inlined once in the page head (no network, no file next to it), and
each chart is a ``<div>`` drawn by it on load. Times read as dates, costs as a small table.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.io as pio
from plotly.offline import get_plotlyjs

from backtest.aggregate import SeedSummary, TrialCount
from backtest.record import Backtest
from envs.data import load_clean
from envs.presets import get_preset
from evaluate.charts import drawdown_figure, equity_figure, monthly_heatmap, positions_figure
from evaluate.headtohead import Comparison
from evaluate.report import SELECTION_NOTE, TABLE, table_columns

COST_LABELS = {
    "fee_bps": "fee (bps of notional)",
    "slippage_bps": "slippage (bps of notional)",
    "slippage_model": "slippage model",
    "funding": "perpetual funding charged",
    "fill": "fill",
    "action": "action space",
    "window": "observation window (bars)",
    "feature_set": "feature set",
    "decision_interval": "decision interval (bars)",
}
CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1300px;color:#222}
table{border-collapse:collapse;font-size:13px;margin:.5em 0}td,th{border:1px solid #ccc;
padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
.verdict{font-size:1.15em;background:#eef4fb;border-left:5px solid #1f77b4;padding:.5em .8em}
.verdict.collapsed{border-left-color:#d62728;background:#fdeeee}
.note{background:#fff6d5;padding:.6em;border-left:4px solid #e0b000}.chart{margin:1em 0}"""


def _date(value: Any) -> str:
    """``2024-01-01T01:00:00.000000000`` or int ns -> ``2024-01-01 01:00 UTC``."""
    try:
        t = np.datetime64(value, "ns") if not isinstance(value, (int, np.integer)) else None
        t = np.datetime64(int(value), "ns") if t is None else t
    except (TypeError, ValueError):
        return str(value)
    return str(t.astype("datetime64[m]")).replace("T", " ") + " UTC"


def _num(v: Any, fmt: str = "{:.2f}") -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "n/a"
    return fmt.format(f) if math.isfinite(f) else "n/a"


def _kv_table(rows: list[tuple[str, str]]) -> str:
    esc = html.escape
    return (
        "<table>"
        + "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in rows)
        + "</table>"
    )


def _context_html(context: dict[str, Any], trials: TrialCount) -> str:
    rows = [
        ("market", str(context.get("env", ""))),
        ("split", str(context.get("split", ""))),
        ("from", _date(context["from"]) if context.get("from") else ""),
        ("to", _date(context["to"]) if context.get("to") else ""),
        ("bars", str(context.get("bars", ""))),
        ("contiguous segments", str(context.get("segments", ""))),
        ("trials counted (deflated Sharpe)", f"{trials.n}, from: {trials.source}"),
        ("command", str(context.get("command", ""))),
    ]
    costs = context.get("costs") or {}
    cost_rows = [(COST_LABELS.get(k, k), str(v)) for k, v in costs.items()]
    return (
        "<h2>Setting</h2>"
        + _kv_table(rows)
        + "<h3>Costs (every policy pays the same)</h3>"
        + _kv_table(cost_rows)
        + _runs_table(context.get("runs") or {})
    )


def _runs_table(runs: dict[str, dict[str, str]]) -> str:
    """One column per evaluated run: its own configuration (``evaluate.report_setting``)."""
    if not runs:
        return ""
    esc = html.escape
    labels: list[str] = []
    for setting in runs.values():
        labels += [k for k in setting if k not in labels]
    head = "".join(f"<th>{esc(n)}</th>" for n in runs)
    body = "".join(
        f"<tr><td>{esc(label)}</td>"
        + "".join(f"<td>{esc(s.get(label, ''))}</td>" for s in runs.values())
        + "</tr>"
        for label in labels
    )
    return (
        '<h3 id="runs-setting">Each evaluated run\'s own configuration (its config.yaml)</h3>'
        f"<table><tr><th>setting</th>{head}</tr>{body}</table>"
    )


def _seed_table(summaries: dict[str, SeedSummary], failures: dict[str, dict[int, str]]) -> str:
    esc = html.escape
    others = sorted({o for s in summaries.values() for o in s.p_improve})
    head = "".join(f"<th>P(&gt; {esc(o)}) [CI]</th>" for o in others)
    body = ""
    for m, s in summaries.items():
        pis = "".join(
            f"<td>{_num(s.p_improve[o])} [{_num(s.p_improve_ci[o][0])}, "
            f"{_num(s.p_improve_ci[o][1])}]</td>"
            if o in s.p_improve
            else "<td></td>"
            for o in others
        )
        names = s.collapses or [None] * s.n_seeds
        per_seed = ", ".join(
            f"s{sd}: {_num(v)}" + (f" (COLLAPSED: {n or 'always flat'})" if c else "")
            for sd, v, c, n in zip(s.seeds, s.sharpes, s.collapsed, names, strict=True)
        )
        failed = ", ".join(f"s{k}: {v}" for k, v in sorted(failures.get(m, {}).items()))
        body += (
            f"<tr><td>{esc(m)}</td><td>{s.n_seeds}</td><td>{_num(s.iqm)} [{_num(s.iqm_low)}, "
            f"{_num(s.iqm_high)}]</td><td>{_num(s.median)}</td><td>{_num(s.worst)} "
            f"(s{s.worst_seed})</td><td>{s.n_collapsed}</td>{pis}<td>{esc(per_seed)}</td>"
            f"<td>{esc(failed)}</td></tr>"
        )
    return (
        "<h2>Seeds</h2><p>Annualised Sharpe per seed; IQM = mean of the middle 50 % of seeds, "
        "stratified bootstrap percentile CI; P(&gt; X) = probability that a seed beats X "
        "(rliable). A seed that held one position throughout is collapsed (named); one that "
        "stayed flat counts as Sharpe 0.</p><table><tr><th>method</th>"
        f"<th>seeds</th><th>IQM Sharpe [CI]</th><th>median</th><th>worst</th><th>collapsed</th>"
        f"{head}<th>per seed</th><th>failed to train</th></tr>{body}</table>"
    )


def _full_table(cmp: Comparison) -> str:
    esc = html.escape
    cols = table_columns(cmp)
    head = "".join(f"<th>{esc(t)}</th>" for t, _ in cols)
    body = "".join(
        f"<tr><td>{esc(label)}</td>"
        + "".join(f"<td>{esc(fmt(float(v.get(key, math.nan))))}</td>" for _, v in cols)
        + "</tr>"
        for label, key, fmt in TABLE
    )
    return f"<h2>All metrics</h2><table><tr><th>metric</th>{head}</tr>{body}</table>"


def _charts(backtests: Sequence[Backtest], price: Any) -> str:
    figs = {
        "equity": equity_figure(backtests),
        "drawdown": drawdown_figure(backtests),
        "positions": positions_figure(backtests, price),
        "monthly": monthly_heatmap(backtests),
    }
    return "".join(
        f'<div class="chart" id="chart-{k}">'
        + pio.to_html(f, full_html=False, include_plotlyjs=False, div_id=f"plot-{k}")
        + "</div>"
        for k, f in figs.items()
    )


def write_report_html(
    path: Path,
    cmp: Comparison,
    backtests: Sequence[Backtest],
    summaries: dict[str, SeedSummary],
    verdicts: dict[str, str],
    trials: TrialCount,
    context: dict[str, Any],
    *,
    price: tuple[np.ndarray, np.ndarray] | None = None,
    failures: dict[str, dict[int, str]] | None = None,
) -> Path:
    """Verdicts, charts, seed table, setting (dates, costs), then every metric of every row."""
    esc = html.escape
    lines = "".join(
        f'<p class="verdict{" collapsed" if "COLLAPSED" in v else ""}">{esc(v)}</p>'
        for v in verdicts.values()
    )
    if not lines:
        lines = '<p class="verdict">No trained policy given: baselines only.</p>'
    page = (
        '<!doctype html><html><head><meta charset="utf-8"><title>Evaluation report: '
        f"{esc(str(context.get('env', '')))} {esc(str(context.get('split', '')))}</title>"
        f"<style>{CSS}</style><script>{get_plotlyjs()}</script></head><body>"
        f"<h1>{esc(str(context.get('env', '')))}, {esc(str(context.get('split', '')))} split"
        f'</h1><section id="verdicts">{lines}</section>'
        f'<p class="note">{esc(SELECTION_NOTE)}</p>'
        f"{_charts(backtests, price)}{_seed_table(summaries, failures or {})}"
        f"{_context_html(context, trials)}{_full_table(cmp)}</body></html>"
    )
    path.write_text(page, encoding="utf-8")
    return path


def split_close(env_name: str, bt: Backtest) -> tuple[np.ndarray, np.ndarray] | None:
    """``(timestamps, close)`` of the preset's cleaned candles on ``bt``'s bars, for the positions
    chart; None (the chart then shows buy-and-hold equity) if the data cannot be read."""
    try:
        candles, _ = load_clean(get_preset(env_name))
    except (ImportError, OSError, ValueError, KeyError):
        return None
    index = pd.DatetimeIndex(pd.to_datetime(bt.timestamps, utc=True))
    close = candles["close"].reindex(index).to_numpy(dtype=np.float64)
    return bt.timestamps, close
