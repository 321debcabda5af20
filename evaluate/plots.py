"""PNG charts of a head-to-head: equity, drawdown, rolling Sharpe, position distribution.

Uses matplotlib's object API (``Figure`` + Agg canvas) rather than ``pyplot``: no global state, no
display needed, safe in tests and on headless machines. Like the interactive charts
(``evaluate.charts``), the line charts scale to the methods that matter: a baseline far outside
their range (a random trader at -99 %) is left out, and the title names it; buy-and-hold is drawn
last, dashed, so an identical policy cannot hide it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from backtest.metrics import drawdown_series, position_shares, rolling_sharpe
from backtest.record import Backtest
from evaluate.charts import BENCHMARK, groups, out_of_range

ROLLING_SHARPE_BARS = 720  # 30 days of hourly bars


def _times(bt: Backtest) -> np.ndarray:
    return bt.timestamps.astype("datetime64[ns]")


def _new_figure(title: str, ylabel: str) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(11, 4.2), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _in_range(
    backtests: list[Backtest], values: Callable[[Backtest], np.ndarray], log: bool
) -> tuple[list[Backtest], str]:
    """The backtests to draw (buy-and-hold last) and a title note naming those left out."""
    by_method = groups(backtests)
    hidden = set(out_of_range({k: [values(b) for b in v] for k, v in by_method.items()}, log))
    shown = [b for k, v in by_method.items() if k not in hidden for b in v]
    shown = [b for b in shown if b.name != BENCHMARK] + [b for b in shown if b.name == BENCHMARK]
    return shown, (f" (not shown, far off: {', '.join(sorted(hidden))})" if hidden else "")


def _line(ax: Axes, bt: Backtest, y: np.ndarray) -> None:
    style = {"color": "black", "ls": "--", "lw": 1.6} if bt.name == BENCHMARK else {"lw": 1.0}
    ax.plot(_times(bt), y, label=bt.name, **style)


def _equity(bt: Backtest) -> np.ndarray:
    return bt.equity[1:] / bt.equity[0]


def _drawdown(bt: Backtest) -> np.ndarray:
    return -drawdown_series(bt.equity)[1:]


def plot_equity(backtests: list[Backtest], path: Path) -> Path:
    """Equity of every policy in range, normalised to 1 at the start, log scale."""
    shown, note = _in_range(backtests, _equity, log=True)
    fig, ax = _new_figure("Equity (start = 1, log scale)" + note, "equity")
    for bt in shown:
        _line(ax, bt, _equity(bt))
    ax.set_yscale("log")
    ax.legend(loc="best", fontsize=8)
    fig.savefig(path)
    return path


def plot_drawdown(backtests: list[Backtest], path: Path) -> Path:
    """Drawdown below the running peak (negative fraction) of every policy in range."""
    shown, note = _in_range(backtests, _drawdown, log=False)
    fig, ax = _new_figure("Drawdown" + note, "drawdown")
    for bt in shown:
        _line(ax, bt, _drawdown(bt))
    ax.legend(loc="lower left", fontsize=8)
    fig.savefig(path)
    return path


def plot_rolling_sharpe(
    backtests: list[Backtest], path: Path, window: int = ROLLING_SHARPE_BARS
) -> Path:
    """Annualised Sharpe over a trailing window (nan while the window fills or is constant)."""
    fig, ax = _new_figure(f"Rolling Sharpe ({window} bars, annualised)", "Sharpe")
    for bt in backtests:
        w = min(window, max(2, len(bt) // 2))
        ax.plot(
            _times(bt), rolling_sharpe(bt.returns, w, bt.periods_per_year), lw=1.0, label=bt.name
        )
    ax.axhline(0.0, color="black", lw=0.6)
    ax.legend(loc="best", fontsize=8)
    fig.savefig(path)
    return path


def plot_positions(backtests: list[Backtest], path: Path) -> Path:
    """Stacked bars: share of bars spent short / flat / long, one bar per policy."""
    fig, ax = _new_figure("Position distribution (share of bars)", "share")
    names = [bt.name for bt in backtests]
    shares = np.array([position_shares(bt.positions) for bt in backtests]).reshape(-1, 3)
    x = np.arange(len(names))
    bottom = np.zeros(len(names))
    for k, (label, color) in enumerate(
        (("short", "tab:red"), ("flat", "tab:gray"), ("long", "tab:green"))
    ):
        ax.bar(x, shares[:, k], bottom=bottom, label=label, color=color)
        bottom += shares[:, k]
    ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper right", fontsize=8)
    fig.savefig(path)
    return path


def write_plots(backtests: list[Backtest], out_dir: Path) -> dict[str, Path]:
    """All four charts into ``out_dir``; returns ``{name: path}``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return {
        "equity": plot_equity(backtests, out_dir / "equity.png"),
        "drawdown": plot_drawdown(backtests, out_dir / "drawdown.png"),
        "rolling_sharpe": plot_rolling_sharpe(backtests, out_dir / "rolling_sharpe.png"),
        "positions": plot_positions(backtests, out_dir / "positions.png"),
    }
