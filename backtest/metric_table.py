"""The metric table: every metric a run reports, the one place its label, format and direction live.

Each ``Metric`` says what the number is (``label``, one spelling everywhere), how it prints
(``kind``: a fraction shown as a percentage, a plain number, a count, a p-value or the position a
collapsed policy held), which way is better (``higher``, ``lower``, or ``neutral`` for
descriptions such as exposure) and whether it is annualised with the market's bars per year.

Readers: ``backtest.metrics.summarize`` (its keys), the training run's validation table
(``backtest.table``), the report's side-by-side table (``evaluate.report``), the TensorBoard
``trading/`` scalars (``agents.training.episode_stats``), the supervised env backtest
(``supervised.env_backtest``) and checkpoint selection (``agents.training.config``).
``tests/test_metric_table.py`` fails when an entry is incomplete or a reader names a key that is
not here. To add a metric: compute it where its reader computes the others, and add one row here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from backtest.collapse import collapse_label

KINDS = ("pct", "num", "int", "p", "position")
BETTER = ("higher", "lower", "neutral")


@dataclass(frozen=True)
class Metric:
    """One metric: its label, how it prints, which way is better, whether it is annualised."""

    key: str
    label: str
    kind: str  # one of KINDS
    better: str  # one of BETTER
    annualised: bool = False

    def format(self, value: float | None) -> str:
        """``value`` printed as this metric's kind; ``n/a`` when undefined (None or nan)."""
        if self.kind == "position":
            return collapse_label(value) or "-"
        if value is None or not math.isfinite(value):
            return "n/a"
        if self.kind == "pct":
            return f"{100 * value:.2f}%"
        if self.kind == "int":
            return f"{int(round(value))}"
        if self.kind == "p":
            return f"{value:.4f}" if value >= 1e-4 else f"{value:.1e}"
        return f"{value:.3f}"


def _m(key: str, label: str, kind: str, better: str, annualised: bool = False) -> Metric:
    return Metric(key, label, kind, better, annualised)


_ROWS = (
    # returns and risk (backtest.metrics.summarize)
    _m("total_return", "total return", "pct", "higher"),
    _m("total_log_return", "total log return", "num", "higher"),
    _m("cagr", "CAGR", "pct", "higher", annualised=True),
    _m("annual_volatility", "volatility (ann.)", "pct", "lower", annualised=True),
    _m("sharpe", "Sharpe (ann.)", "num", "higher", annualised=True),
    _m("sortino", "Sortino", "num", "higher", annualised=True),
    _m("calmar", "Calmar", "num", "higher", annualised=True),
    _m("max_drawdown", "max drawdown", "pct", "lower"),
    _m("max_drawdown_duration_bars", "max DD duration (bars)", "int", "lower"),
    _m("time_under_water", "time under water", "pct", "lower"),
    _m("var_95", "VaR 95%", "pct", "lower"),
    _m("cvar_95", "CVaR 95%", "pct", "lower"),
    _m("positive_periods", "profitable bars", "pct", "higher"),
    _m("recovery_factor", "recovery factor", "num", "higher"),
    _m("final_equity", "final equity (x start)", "num", "higher"),
    _m("ruined", "ruined (1 = yes)", "int", "lower"),
    # positions and trading
    _m("turnover_annual", "turnover (x/yr)", "num", "neutral", annualised=True),
    _m("turnover", "turnover (x notional)", "num", "neutral"),
    _m("exposure", "exposure", "pct", "neutral"),
    _m("time_in_market", "time in market", "pct", "neutral"),
    _m("share_short", "share short", "pct", "neutral"),
    _m("share_flat", "share flat", "pct", "neutral"),
    _m("share_long", "share long", "pct", "neutral"),
    _m("short_share", "share short", "pct", "neutral"),  # supervised.env_backtest's spelling
    _m("long_share", "share long", "pct", "neutral"),  # supervised.env_backtest's spelling
    _m("constant_position", "one position held", "position", "neutral"),
    _m("n_bars", "bars", "int", "neutral"),
    _m("n_steps", "steps", "int", "neutral"),
    _m("episode_steps", "episode length (steps)", "int", "neutral"),
    _m("n_runs", "contiguous runs", "int", "neutral"),
    _m("years", "years", "num", "neutral"),
    # trades (backtest.trades via summarize)
    _m("n_trades", "trades", "int", "neutral"),
    _m("win_rate", "win rate", "pct", "higher"),
    _m("profit_factor", "profit factor", "num", "higher"),
    _m("expectancy", "expectancy/trade", "pct", "higher"),
    _m("avg_win", "avg win", "pct", "higher"),
    _m("avg_loss", "avg loss", "pct", "higher"),
    _m("risk_reward", "risk-reward", "num", "higher"),
    _m("avg_bars_held", "avg bars held", "num", "neutral"),
    _m("max_consecutive_losses", "max consec. losses", "int", "lower"),
    # costs, as fractions of the starting capital
    _m("costs_paid", "costs paid", "pct", "lower"),
    _m("fees_paid", "fees paid", "pct", "lower"),
    _m("slippage_paid", "slippage paid", "pct", "lower"),
    _m("funding_paid", "funding paid", "pct", "lower"),
    _m("costs", "costs paid", "pct", "lower"),  # supervised.env_backtest's spelling
    _m("funding", "funding paid", "pct", "lower"),  # supervised.env_backtest's spelling
    # against buy-and-hold
    _m("beta", "beta vs B&H", "num", "neutral"),
    _m("correlation", "corr vs B&H", "num", "neutral"),
    _m("alpha_annual", "alpha vs B&H (ann.)", "pct", "higher", annualised=True),
    # significance (evaluate.headtohead)
    _m("psr", "PSR (SR>0)", "num", "higher"),
    _m("dsr", "DSR", "num", "higher"),
    _m("sharpe_ci_low", "Sharpe CI low", "num", "higher", annualised=True),
    _m("sharpe_ci_high", "Sharpe CI high", "num", "higher", annualised=True),
    _m("sharpe_boot_se", "Sharpe bootstrap s.e.", "num", "lower", annualised=True),
    _m("sharpe_diff_vs_benchmark", "dSharpe vs B&H", "num", "higher", annualised=True),
    _m("sharpe_diff_ci_low", "dSharpe CI low", "num", "higher", annualised=True),
    _m("sharpe_diff_ci_high", "dSharpe CI high", "num", "higher", annualised=True),
    _m("p_value_vs_benchmark", "p vs B&H (bootstrap)", "p", "lower"),
    _m("p_value_memmel_vs_benchmark", "p vs B&H (Memmel)", "p", "lower"),
    # SB3's own evaluation (a checkpoint-selection criterion, not a backtest metric)
    _m("mean_reward", "mean episode reward", "num", "higher"),
)

METRICS: dict[str, Metric] = {m.key: m for m in _ROWS}
assert len(METRICS) == len(_ROWS), "backtest.metric_table: a key is listed twice"


def metric(key: str) -> Metric:
    """The table's entry for ``key``; ``KeyError`` naming the table when it has none."""
    if key not in METRICS:
        raise KeyError(f"{key!r} is not in backtest.metric_table.METRICS: add a row there")
    return METRICS[key]


def problems(m: Metric) -> list[str]:
    """What is missing or wrong in one entry (empty when complete)."""
    out = []
    if not m.key or not m.key.isidentifier():
        out.append(f"key {m.key!r} is not a metrics.json key")
    if not m.label.strip():
        out.append(f"{m.key}: no label")
    if m.kind not in KINDS:
        out.append(f"{m.key}: kind {m.kind!r} is not one of {KINDS}")
    if m.better not in BETTER:
        out.append(f"{m.key}: better {m.better!r} is not one of {BETTER}")
    if not isinstance(m.annualised, bool):
        out.append(f"{m.key}: annualised must be True or False")
    return out


def selectable(key: str) -> bool:
    """Whether a checkpoint may be selected by ``key``: a metric with a better direction."""
    return key in METRICS and METRICS[key].better != "neutral"
