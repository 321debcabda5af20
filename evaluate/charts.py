"""Interactive plotly figures of a head-to-head: equity with per-seed bands, drawdown, positions
over price, monthly-returns heatmap.

A method with several seeds is drawn as its pointwise median with a band from the worst to the
best seed at each bar (all seeds, collapsed ones included); single policies are lines. Times are
epoch milliseconds on ``type="date"`` axes, so the x axes read and zoom in calendar time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from backtest.baselines import is_reference
from backtest.metrics import drawdown_series
from backtest.record import Backtest

BAND_ALPHA = 0.18
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def _ms(timestamps_ns: np.ndarray) -> np.ndarray:
    """Epoch milliseconds (float64) for a ``type="date"`` axis: sent as a compact typed array,
    a third of the size of ISO strings (a report has ~10 traces of ~9k bars)."""
    return np.asarray(timestamps_ns, dtype=np.int64) / 1e6


def _times(bt: Backtest) -> np.ndarray:
    return _ms(bt.timestamps)


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def groups(backtests: Sequence[Backtest]) -> dict[str, list[Backtest]]:
    """Backtests by method (``meta['method']``, else the name), in order of appearance."""
    out: dict[str, list[Backtest]] = {}
    for bt in backtests:
        out.setdefault(str(bt.meta.get("method", bt.name)), []).append(bt)
    return out


def _series_traces(
    fig: go.Figure, label: str, members: list[Backtest], series: list[np.ndarray], color: str
) -> None:
    """One line, or for seeds on the same bars a median line inside a worst-best band."""
    same = all(np.array_equal(m.timestamps, members[0].timestamps) for m in members)
    x = _times(members[0])
    if len(members) == 1 or not same:
        for m, y in zip(members, series, strict=True):
            fig.add_trace(go.Scatter(x=_times(m), y=y, name=m.name, line={"color": color}))
        return
    stack = np.vstack(series)
    band = {"width": 0}
    fig.add_trace(go.Scatter(x=x, y=stack.max(0), line=band, showlegend=False, hoverinfo="skip"))
    fig.add_trace(
        go.Scatter(
            x=x,
            y=stack.min(0),
            line=band,
            fill="tonexty",
            fillcolor=_rgba(color, BAND_ALPHA),
            name=f"{label}: seed range ({len(members)} seeds)",
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter(x=x, y=np.median(stack, 0), name=f"{label}: median seed", line={"color": color})
    )


def _layout(fig: go.Figure, title: str, ytitle: str, height: int = 460) -> go.Figure:
    fig.update_layout(
        title=title,
        height=height,
        hovermode="x unified",
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
    )
    fig.update_yaxes(title_text=ytitle)
    if not any(isinstance(t, go.Heatmap) for t in fig.data):
        fig.update_xaxes(type="date")
    return fig


def equity_figure(backtests: Sequence[Backtest]) -> go.Figure:
    """Equity normalised to 1 at the start, log scale, with a range slider to zoom."""
    fig = go.Figure()
    for k, (label, members) in enumerate(groups(backtests).items()):
        series = [m.equity[1:] / m.equity[0] for m in members]
        _series_traces(fig, label, members, series, PALETTE[k % len(PALETTE)])
    fig.update_yaxes(type="log")
    fig.update_xaxes(rangeslider={"visible": True})
    return _layout(fig, "Equity (start = 1, log scale; band: worst to best seed)", "equity", 520)


def drawdown_figure(backtests: Sequence[Backtest]) -> go.Figure:
    """Drawdown below the running peak (negative fraction)."""
    fig = go.Figure()
    for k, (label, members) in enumerate(groups(backtests).items()):
        series = [-drawdown_series(m.equity)[1:] for m in members]
        _series_traces(fig, label, members, series, PALETTE[k % len(PALETTE)])
    fig.update_yaxes(tickformat=".0%")
    return _layout(fig, "Drawdown (band: worst to best seed)", "drawdown")


def positions_figure(
    backtests: Sequence[Backtest], price: tuple[np.ndarray, np.ndarray] | None = None
) -> go.Figure:
    """Close price on top (``price`` = (timestamps ns, close); else buy-and-hold equity), the
    positions below on the same zoomable time axis: trained policies first (three shown, the rest
    one legend click away), then the random and momentum baselines."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.55, 0.45])
    if price is not None:
        fig.add_trace(
            go.Scatter(x=_ms(price[0]), y=price[1], name="close price"),
            row=1,
            col=1,
        )
    else:
        bh = next((b for b in backtests if b.name == "buy_and_hold"), backtests[0])
        fig.add_trace(go.Scatter(x=_times(bh), y=bh.equity[1:], name=f"{bh.name} equity"), 1, 1)
    shown = [b for b in backtests if not is_reference(b.meta.get("method", b.name))]
    shown += [b for b in backtests if b.name not in ("buy_and_hold", "flat") and b not in shown]
    for k, bt in enumerate(shown):
        fig.add_trace(
            go.Scatter(
                x=_times(bt),
                y=bt.positions,
                name=f"{bt.name} position",
                line={"shape": "hv", "width": 1, "color": PALETTE[(k + 1) % len(PALETTE)]},
                visible=True if k < 3 else "legendonly",
            ),
            row=2,
            col=1,
        )
    fig.update_yaxes(title_text="price", row=1, col=1)
    fig.update_yaxes(title_text="position", range=[-1.1, 1.1], row=2, col=1)
    return _layout(fig, "Positions over price (click the legend to show more)", "", 620)


def monthly_returns(bt: Backtest) -> tuple[np.ndarray, np.ndarray]:
    """``(months as datetime64[M], compounded return of each month)`` from the per-bar returns."""
    months: np.ndarray = bt.timestamps.astype("datetime64[ns]").astype("datetime64[M]")
    if months.size == 0:
        return months, np.zeros(0)
    uniq, start = np.unique(months, return_index=True)
    order = np.argsort(start)
    uniq, start = uniq[order], start[order]
    log = np.log1p(bt.returns)
    return uniq, np.expm1(np.add.reduceat(log, start))


def monthly_heatmap(backtests: Sequence[Backtest]) -> go.Figure:
    """Monthly returns, one row per policy, one column per calendar month (red loss, blue gain)."""
    rows = [b for b in backtests if b.name != "flat"]
    all_months = np.unique(np.concatenate([monthly_returns(b)[0] for b in rows]))
    z = np.full((len(rows), all_months.size), np.nan)
    for i, b in enumerate(rows):
        m, r = monthly_returns(b)
        z[i, np.searchsorted(all_months, m)] = r
    labels = [str(m) for m in all_months]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=labels,
            y=[b.name for b in rows],
            colorscale="RdBu",
            zmid=0.0,
            texttemplate="%{z:.1%}",
            hovertemplate="%{y} %{x}: %{z:.2%}<extra></extra>",
            colorbar={"tickformat": ".0%"},
        )
    )
    fig.update_xaxes(type="category")
    fig.update_yaxes(autorange="reversed")  # first policy on top, as in the tables
    return _layout(fig, "Monthly returns", "", max(260, 60 + 28 * len(rows)))
