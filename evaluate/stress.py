"""``python -m evaluate --stress``: the verdict again at double costs and with fills one bar later.

The stresses are ``backtest.stress`` (fee and slippage doubled; every order filled one bar
later). Each reruns every policy of the comparison through the same runner and statistics
(``evaluate.cli.run_backtests`` / ``compare_counted``, the same trial count), so the three
verdicts sit side by side: a table of Sharpe, total return and DSR per policy under normal,
double-cost and late-fill conditions, each stress's verdict lines, and ``metrics.json["stress"]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from backtest.baselines import PolicySpec
from backtest.runner import CostOverrides
from backtest.stress import stress_variants
from evaluate.headtohead import Comparison

LABELS = {"normal": "normal", "double_costs": "2x costs", "late_fill": "fill +1 bar"}
COLUMNS = (("sharpe", "Sharpe", "{:+.2f}"), ("total_return", "return", "{:+.1%}"))


def _cell(value: Any, fmt: str) -> str:
    return "n/a" if value is None or not math.isfinite(float(value)) else fmt.format(value)


def stress_table(results: dict[str, Comparison]) -> str:
    """One row per policy; for each condition its Sharpe and total return, then its DSR."""
    conds = list(results)
    head = f"{'policy':<24}" + "".join(
        f"{LABELS.get(c, c) + ' ' + label:>22}" for c in conds for _, label, _ in COLUMNS
    )
    lines = ["Stress (same policies, same trials; python -m evaluate --stress):", head]
    for row in results[conds[0]].rows:
        cells = []
        for c in conds:
            m = results[c].row(row.name).metrics
            cells += [_cell(m.get(key), fmt) for key, _, fmt in COLUMNS]
        lines.append(f"{row.name:<24}" + "".join(f"{x:>22}" for x in cells))
    return "\n".join(lines)


def run_stress(
    specs: list[PolicySpec],
    costs: CostOverrides,
    evaluate_once: Callable[[list[PolicySpec], CostOverrides], tuple[Comparison, dict[str, str]]],
) -> tuple[dict[str, Comparison], dict[str, dict[str, str]]]:
    """Every stress of ``backtest.stress`` through ``evaluate_once(specs, costs) -> (comparison,
    verdict lines)``, the caller's normal evaluation; ``({stress: comparison}, {stress: verdicts})``."""
    comparisons: dict[str, Comparison] = {}
    verdict_lines: dict[str, dict[str, str]] = {}
    for name, stressed_costs, stressed_specs in stress_variants(costs, specs):
        comparisons[name], verdict_lines[name] = evaluate_once(stressed_specs, stressed_costs)
    return comparisons, verdict_lines


def stress_json(
    comparisons: dict[str, Comparison], verdict_lines: dict[str, dict[str, str]]
) -> dict[str, Any]:
    """``metrics.json["stress"]``: per stress, the comparison's settings, each policy's metrics
    (costs paid, fill) and significance, and the verdict lines."""
    return {
        name: {
            "settings": cmp.settings,
            "policies": cmp.to_dict()["policies"],
            "verdicts": verdict_lines.get(name, {}),
        }
        for name, cmp in comparisons.items()
    }


def print_stress(
    normal: Comparison,
    comparisons: dict[str, Comparison],
    verdict_lines: dict[str, dict[str, str]],
) -> dict[str, Any]:
    """Print the side-by-side table and each stress's verdicts; return ``stress_json``."""
    print()
    print(stress_table({"normal": normal, **comparisons}))
    for name, lines in verdict_lines.items():
        for text in lines.values():
            print(f"[{LABELS.get(name, name)}] {text}")
    return stress_json(comparisons, verdict_lines)
