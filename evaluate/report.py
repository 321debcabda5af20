"""Outputs of a head-to-head: console table, metrics.json, metrics.csv, one self-contained HTML.

JSON writes non-finite numbers as ``null`` (strict JSON has no NaN). The HTML embeds every chart as
a base64 PNG, so the single file can be mailed or archived on its own.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backtest.baselines import is_reference
from backtest.collapse import collapse_name
from backtest.metric_table import METRICS
from evaluate.headtohead import Comparison

SELECTION_NOTE = (
    "The test split never feeds model selection: checkpoints and hyperparameters are chosen on "
    "the validation split (val); test is looked at once, here."
)


def _pct(v: float) -> str:
    return "nan" if not math.isfinite(v) else f"{100 * v:.2f}%"


def _num(v: float) -> str:
    return "nan" if not math.isfinite(v) else f"{v:.3f}"


def _p(v: float) -> str:
    return "nan" if not math.isfinite(v) else (f"{v:.4f}" if v >= 1e-4 else f"{v:.1e}")


# the side-by-side table's rows: keys of Row.flat(), labelled and formatted by
# backtest.metric_table.METRICS; TABLE is (label, key, formatter) per row
REPORT_KEYS = (
    "total_return",
    "cagr",
    "sharpe",
    "sharpe_ci_low",
    "sharpe_ci_high",
    "sortino",
    "calmar",
    "annual_volatility",
    "max_drawdown",
    "max_drawdown_duration_bars",
    "time_under_water",
    "var_95",
    "cvar_95",
    "positive_periods",
    "n_trades",
    "win_rate",
    "profit_factor",
    "expectancy",
    "avg_win",
    "avg_loss",
    "risk_reward",
    "max_consecutive_losses",
    "recovery_factor",
    "exposure",
    "constant_position",
    "turnover_annual",
    "fees_paid",
    "slippage_paid",
    "funding_paid",
    "beta",
    "correlation",
    "ruined",
    "psr",
    "dsr",
    "sharpe_diff_vs_benchmark",
    "p_value_vs_benchmark",
    "p_value_memmel_vs_benchmark",
)
TABLE: list[tuple[str, str, Callable[[float], str]]] = [
    (METRICS[k].label, k, METRICS[k].format) for k in REPORT_KEYS
]


def table_columns(cmp: Comparison) -> list[tuple[str, dict[str, Any]]]:
    """``(column title, flat values)``: every row, then each multi-seed method's mean."""
    cols = [(r.name, r.flat()) for r in cmp.rows]
    for method, aggs in cmp.aggregates.items():
        n = aggs["sharpe"].n
        cols.append((f"{method} (mean of {n})", {k: a.mean for k, a in aggs.items()}))
    return cols


TABLE_WIDTH = 100  # columns: wider comparisons are printed as several blocks of policies


def _blocks(widths: list[int], label_w: int, width: int = TABLE_WIDTH) -> list[list[int]]:
    """Column indices in blocks whose printed line fits ``width`` (at least one per block)."""
    blocks: list[list[int]] = [[]]
    used = label_w
    for k, w in enumerate(widths):
        if blocks[-1] and used + 2 + w > width:
            blocks.append([])
            used = label_w
        blocks[-1].append(k)
        used += 2 + w
    return blocks


def format_table(cmp: Comparison) -> str:
    """Side-by-side plain-text table: metrics down, policies across, in blocks of policies that
    fit 100 columns (the metric labels repeated in each)."""
    cols = table_columns(cmp)
    label_w = max(len(label) for label, _, _ in TABLE)
    cells = [[fmt(float(vals.get(key, math.nan))) for _, key, fmt in TABLE] for _, vals in cols]
    widths = [
        max(10, len(t), *(len(c) for c in cs)) for (t, _), cs in zip(cols, cells, strict=True)
    ]
    lines: list[str] = []
    for n, block in enumerate(_blocks(widths, label_w)):
        if n:
            lines.append("")
        lines.append("  ".join([" " * label_w] + [cols[k][0].rjust(widths[k]) for k in block]))
        for i, (label, _, _) in enumerate(TABLE):
            row = [cells[k][i].rjust(widths[k]) for k in block]
            lines.append("  ".join([label.ljust(label_w), *row]))
    lines += collapse_lines(cmp)
    for method, aggs in cmp.aggregates.items():
        a = aggs["sharpe"]
        lines.append(
            f"{method}: Sharpe mean {_num(a.mean)}, {100 * a.level:.0f}% t-CI over "
            f"{a.n} seed{'' if a.n == 1 else 's'} [{_num(a.low)}, {_num(a.high)}]"
        )
    return "\n".join(lines)


def collapse_lines(cmp: Comparison) -> list[str]:
    """``COLLAPSED: ppo_s0 is always long: identical to buy-and-hold (...)`` per trained row that
    held one position over the whole split (baselines hold one by design: not listed)."""
    out = []
    for r in cmp.rows:
        name = collapse_name(r.constant)
        if name and not is_reference(r.method):
            out.append(f"COLLAPSED: {r.name} is {name} (one position all split)")
    return out


def _clean(obj: Any) -> Any:
    """Recursively turn non-finite floats into None and numpy scalars into Python ones."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(
    cmp: Comparison, path: Path, context: dict[str, Any], extra: dict[str, Any] | None = None
) -> Path:
    """metrics.json: context, note, the comparison and ``extra`` (seed aggregates, trials)."""
    data = {"context": context, "note": SELECTION_NOTE, **cmp.to_dict(), **(extra or {})}
    path.write_text(json.dumps(_clean(data), indent=2, allow_nan=False))
    return path


def write_csv(cmp: Comparison, path: Path) -> Path:
    """One line per policy (and per multi-seed method mean, with ``n_seeds``), keyed by name."""
    cols = table_columns(cmp)
    keys: list[str] = []
    for _, vals in cols:
        keys += [k for k in vals if k not in keys]
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["policy", *keys])
        for title, vals in cols:
            w.writerow([title, *("" if vals.get(k) is None else vals.get(k) for k in keys)])
    return path


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


# size: one self-contained HTML page assembled section by section
def write_html(
    cmp: Comparison, path: Path, plots: dict[str, Path], context: dict[str, Any]
) -> Path:
    """One self-contained HTML page: context, the table, significance, charts."""
    esc = html.escape
    cols = table_columns(cmp)
    head = "".join(f"<th>{esc(t)}</th>" for t, _ in cols)
    body = "".join(
        "<tr><td>"
        + esc(label)
        + "</td>"
        + "".join(f"<td>{esc(fmt(float(v.get(key, math.nan))))}</td>" for _, v in cols)
        + "</tr>"
        for label, key, fmt in TABLE
    )
    sig = []
    for r in cmp.rows:
        t = r.vs_benchmark
        vs = (
            "benchmark"
            if t is None
            else (
                f"{_num(t.diff)} [{_num(t.low)}, {_num(t.high)}], p = {_p(t.p_value)} "
                f"(Memmel p = {_p(t.p_value_memmel)})"
            )
        )
        sig.append(
            f"<tr><td>{esc(r.name)}</td><td>{_num(r.ci.sharpe)} [{_num(r.ci.low)}, "
            f"{_num(r.ci.high)}]</td><td>{_num(r.psr)}</td><td>{_num(r.dsr)}</td>"
            f"<td>{esc(vs)}</td></tr>"
        )
    aggs = "".join(
        f"<li>{esc(m)}: Sharpe {_num(a['sharpe'].mean)} (t-CI [{_num(a['sharpe'].low)}, "
        f"{_num(a['sharpe'].high)}], {a['sharpe'].n} seed{'' if a['sharpe'].n == 1 else 's'}); total return "
        f"{_pct(a['total_return'].mean)} [{_pct(a['total_return'].low)}, {_pct(a['total_return'].high)}]</li>"
        for m, a in cmp.aggregates.items()
    )
    s = cmp.settings
    ctx = "".join(f"<li><b>{esc(str(k))}</b>: {esc(str(v))}</li>" for k, v in context.items())
    charts = "".join(f"<h3>{esc(k)}</h3>{_img(p)}" for k, p in plots.items())
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Evaluation report</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1400px}}table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}td:first-child{{text-align:left}}
img{{max-width:100%}}.note{{background:#fff6d5;padding:.6em;border-left:4px solid #e0b000}}</style></head><body>
<h1>Head-to-head evaluation</h1>
<p class="note">{esc(SELECTION_NOTE)}</p><ul>{ctx}</ul>
<h2>Metrics</h2><table><tr><th>metric</th>{head}</tr>{body}</table>
<h2>Significance</h2>
<p>Sharpe ratios are annualised (mean/std of simple per-bar returns, ddof=1, x sqrt({s["periods_per_year"]})).
Intervals: {s["level"]:.0%} percentile {esc(s["bootstrap"])} bootstrap, mean block {s["block_length_bars"]:.0f} bars,
{s["n_boot"]} resamples (seed {s["bootstrap_seed"]}), the same resamples for every policy.
PSR = P(true Sharpe &gt; 0) (Bailey &amp; López de Prado 2012, with skew and kurtosis).
DSR deflates against the expected best of {s["n_trials"]} trial{"" if s["n_trials"] == 1 else "s"} with per-bar Sharpe variance
{s["trials_sharpe_var_per_period"]:.3g} (Bailey &amp; López de Prado 2014).
Paired test vs {esc(cmp.benchmark)}: bootstrap of the Sharpe difference on shared resamples
(two-sided, centred) and the Jobson-Korkie test with Memmel's correction (iid normal).</p>
<table><tr><th>policy</th><th>Sharpe [CI]</th><th>PSR</th><th>DSR</th><th>Sharpe diff vs {esc(cmp.benchmark)} [CI], p</th></tr>
{"".join(sig)}</table>
{"<h3>Seed aggregates (mean, Student-t CI)</h3><ul>" + aggs + "</ul>" if aggs else ""}
<h2>Charts</h2>{charts}
</body></html>"""
    path.write_text(page, encoding="utf-8")
    return path
