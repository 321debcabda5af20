"""The validation table a training run prints and writes: fixed rows of ``summarize`` metrics."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from lab.atomic import atomic_write_json

# Rows of the printed table: (metrics key, label, format); fractions are shown as percentages.
TABLE_ROWS = (
    ("total_return", "total return", "{:+.1%}"),
    ("cagr", "CAGR", "{:+.1%}"),
    ("sharpe", "Sharpe ({ppy}/yr)", "{:.2f}"),  # the market's periods per year
    ("sortino", "Sortino", "{:.2f}"),
    ("max_drawdown", "max drawdown", "{:.1%}"),
    ("annual_volatility", "volatility (ann.)", "{:.1%}"),
    ("time_in_market", "time in market", "{:.1%}"),
    ("turnover_annual", "turnover / year", "{:.1f}"),
    ("costs_paid", "costs paid", "{:.2%}"),
    ("n_bars", "bars", "{:.0f}"),
)


def _clean(value: float) -> float | None:
    """JSON has no NaN: undefined ratios are written as null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def write_metrics(path: Path, results: dict[str, dict[str, float]], extra: dict[str, Any]) -> Path:
    """``metrics.json``: ``{**extra, "policies": {name: {metric: value | null}}}``, atomically."""
    payload = {
        **extra,
        "policies": {n: {k: _clean(v) for k, v in m.items()} for n, m in results.items()},
    }
    return atomic_write_json(path, payload)


def _periods_per_year(results: dict[str, dict[str, float]]) -> str:
    """Bars per year behind the metrics (``n_bars / years``, as ``summarize`` wrote them)."""
    for m in results.values():
        years, bars = m.get("years"), m.get("n_bars")
        if years and bars and math.isfinite(years) and years > 0:
            return f"{round(bars / years):d}"
    return "?"


def format_table(results: dict[str, dict[str, float]], title: str) -> str:
    """A fixed-width table: one column per policy, the rows of ``TABLE_ROWS``."""
    names = list(results)
    width = max(12, *(len(n) for n in names))
    lines = [title, f"{'':<20}" + "".join(f"{n:>{width + 2}}" for n in names)]
    ppy = _periods_per_year(results)
    for key, label, fmt in TABLE_ROWS:
        label = label.format(ppy=ppy)
        cells = []
        for n in names:
            v = results[n].get(key, float("nan"))
            cells.append("n/a" if v is None or not math.isfinite(v) else fmt.format(v))
        lines.append(f"{label:<20}" + "".join(f"{c:>{width + 2}}" for c in cells))
    return "\n".join(lines)
