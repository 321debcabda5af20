"""The validation table a training run prints and writes: fixed rows of ``summarize`` metrics."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from backtest.metric_table import METRICS
from lab.atomic import atomic_write_json

# Rows of the printed table: keys of ``backtest.metric_table.METRICS`` (label and format there).
TABLE_ROWS = (
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "max_drawdown",
    "annual_volatility",
    "time_in_market",
    "turnover_annual",
    "costs_paid",
    "n_bars",
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
    ppy = _periods_per_year(results)
    lines = [
        f"{title} (annualised at {ppy} bars/yr)",
        f"{'':<22}" + "".join(f"{n:>{width + 2}}" for n in names),
    ]
    for key in TABLE_ROWS:
        m = METRICS[key]
        cells = [m.format(results[n].get(key, float("nan"))) for n in names]
        lines.append(f"{m.label:<22}" + "".join(f"{c:>{width + 2}}" for c in cells))
    return "\n".join(lines)
