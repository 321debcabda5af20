"""The metric table (``backtest.metric_table``): every entry complete, every reader's key in it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents.training.config import SELECT_METRICS
from agents.training.episode_stats import summarize_episode
from agents.training.selection import _rank
from backtest.metric_table import METRICS, Metric, metric, problems, selectable
from backtest.metrics import summarize
from backtest.table import TABLE_ROWS, format_table
from evaluate.report import REPORT_KEYS, TABLE
from supervised.env_backtest import _summary


def test_every_entry_is_complete() -> None:
    bad = [p for m in METRICS.values() for p in problems(m)]
    assert bad == []
    assert all(key == m.key for key, m in METRICS.items())


def test_the_checker_flags_an_incomplete_entry() -> None:
    assert problems(Metric("sharpe x", "", "percent", "up", annualised=1)) == [  # type: ignore[arg-type]
        "key 'sharpe x' is not a metrics.json key",
        "sharpe x: no label",
        "sharpe x: kind 'percent' is not one of ('pct', 'num', 'int', 'p', 'position')",
        "sharpe x: better 'up' is not one of ('higher', 'lower', 'neutral')",
        "sharpe x: annualised must be True or False",
    ]


def _summarize_keys() -> set[str]:
    eq = np.array([1.0, 1.01, 0.99, 1.02, 1.03])
    pos = np.array([1.0, 1.0, 0.0, -1.0])
    fees = np.full(4, 1e-4)
    return set(
        summarize(
            eq,
            pos,
            periods_per_year=8760,
            fees=fees,
            slippage=fees,
            funding=fees,
            benchmark_returns=np.zeros(4),
        )
    )


def test_every_reader_uses_keys_of_the_table() -> None:
    readers = {
        "backtest.metrics.summarize": _summarize_keys(),
        "backtest.table.TABLE_ROWS": set(TABLE_ROWS),
        "evaluate.report.REPORT_KEYS": set(REPORT_KEYS),
        "agents.training.config.SELECT_METRICS": set(SELECT_METRICS),
        "TensorBoard trading/ scalars": set(
            summarize_episode(np.ones(3), np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3))
        ),
        "supervised.env_backtest": set(
            _summary(
                [0.01, -0.02],
                [1.0, 0.0],
                {"turnover": 1.0, "n_trades": 1, "costs": 0.0, "funding": 0.0},
                1,
                8760,
            )
        ),  # fmt: skip
    }
    missing = {name: sorted(keys - set(METRICS)) for name, keys in readers.items()}
    assert missing == {name: [] for name in readers}


def test_selection_criteria_have_a_direction_and_rank_by_it() -> None:
    assert all(selectable(k) for k in SELECT_METRICS)
    assert not selectable("exposure") and not selectable("not_a_metric")
    lower = -1.0 if metric("max_drawdown").better == "lower" else 1.0
    assert max([0.3, 0.1, None], key=lambda v: _rank(v, lower)) == 0.1  # smaller drawdown wins
    assert max([0.3, 0.1, None], key=lambda v: _rank(v)) == 0.3  # a Sharpe: larger wins
    with pytest.raises(KeyError, match="backtest.metric_table.METRICS"):
        metric("sharpee")


def test_labels_and_formats_come_from_the_table() -> None:
    assert metric("total_return").format(0.1234) == "12.34%"
    assert metric("sharpe").format(1.23456) == "1.235"
    assert metric("n_trades").format(7.4) == "7"
    assert metric("p_value_vs_benchmark").format(2e-5) == "2.0e-05"
    assert metric("constant_position").format(1.0) == "always long"
    assert metric("constant_position").format(math.nan) == "-"
    assert metric("cagr").format(math.nan) == "n/a" and metric("cagr").format(None) == "n/a"
    assert [(label, key) for label, key, _ in TABLE][:3] == [
        ("total return", "total_return"),
        ("CAGR", "cagr"),
        ("Sharpe (ann.)", "sharpe"),
    ]
    text = format_table({"ppo": {"sharpe": 1.5, "n_bars": 8760.0, "years": 1.0}}, "val")
    lines = text.splitlines()
    assert lines[0] == "val (annualised at 8760 bars/yr)"
    assert lines[4].split() == ["Sharpe", "(ann.)", "1.500"]
    assert lines[2].split() == ["total", "return", "n/a"]
