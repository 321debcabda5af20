"""Interactive plotly figures of a head-to-head: equity with per-seed bands, drawdown, positions
over price, monthly-returns heatmap.

A method with several seeds is drawn as its pointwise median with a band from the worst to the
best seed at each bar (all seeds, collapsed ones included); single policies are lines. Times are
epoch milliseconds on ``type="date"`` axes, so the x axes read and zoom in calendar time.

The charts scale to the methods that matter (the trained ones and buy-and-hold): a baseline whose
curve leaves their range far behind (a random trader at -99 %) starts hidden (``legendonly``:
one legend click shows it, and autorange ignores it until then), and the title says so.
Buy-and-hold is drawn last, dashed, so a policy identical to it cannot hide it. Positions are one
colour band per policy below the price (red short, white flat, green long), not overlapping lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from backtest.baselines import is_reference
from backtest.metrics import drawdown_series
from backtest.record import Backtest

BAND_ALPHA = 0.18
BENCHMARK = "buy_and_hold"
BENCH_LINE = {"color": "#000000", "dash": "dash", "width": 2.5}  # on top, dashed: never hidden
OUT_OF_RANGE = 2.0  # a baseline beyond this factor of the range that matters starts hidden
POSITION_COLORS = [[0.0, "#d62728"], [0.5, "#ffffff"], [1.0, "#2ca02c"]]  # short, flat, long
MAX_POSITION_ROWS = 12
FLAT_GREY = "#7f7f7f"
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
    fig: go.Figure,
    label: str,
    members: list[Backtest],
    series: list[np.ndarray],
    color: str,
    visible: bool | str = True,
) -> None:
    """One line, or for seeds on the same bars a median line inside a worst-best band;
    buy-and-hold dashed and black; ``visible="legendonly"`` for a baseline out of range."""
    same = all(np.array_equal(m.timestamps, members[0].timestamps) for m in members)
    x = _times(members[0])
    if len(members) == 1 or not same:
        for m, y in zip(members, series, strict=True):
            width = 1.2 if is_reference(str(m.meta.get("method", m.name))) else 2.2
            line = BENCH_LINE if m.name == BENCHMARK else {"color": color, "width": width}
            fig.add_trace(go.Scatter(x=_times(m), y=y, name=m.name, line=line, visible=visible))
        return
    stack = np.vstack(series)
    band = {"width": 0}
    group = {"legendgroup": label, "visible": visible}  # one legend click shows/hides all
    fig.add_trace(
        go.Scatter(x=x, y=stack.max(0), line=band, showlegend=False, hoverinfo="skip", **group)
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=stack.min(0),
            line=band,
            fill="tonexty",
            fillcolor=_rgba(color, BAND_ALPHA),
            name=f"{label}: seed range ({len(members)} seeds)",
            hoverinfo="skip",
            **group,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=np.median(stack, 0),
            name=f"{label}: median seed",
            line={"color": color, "width": 2},
            **group,
        )
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


def _matters(label: str) -> bool:
    """A trained method or buy-and-hold: what the chart's range is made for."""
    return label == BENCHMARK or not is_reference(label)


def _drawn_order(backtests: Sequence[Backtest]) -> list[tuple[str, list[Backtest]]]:
    """Methods in order of appearance, buy-and-hold moved last (drawn on top)."""
    items = list(groups(backtests).items())
    return [i for i in items if i[0] != BENCHMARK] + [i for i in items if i[0] == BENCHMARK]


def out_of_range(
    series: dict[str, list[np.ndarray]], log: bool = False, factor: float = OUT_OF_RANGE
) -> list[str]:
    """Baselines whose curves leave the range of the methods that matter by more than
    ``factor`` (of the range's span; on a log axis, a ``factor`` times the ratio): hidden."""
    keep = [np.concatenate(v) for k, v in series.items() if _matters(k)]
    keep = [v[np.isfinite(v)] for v in keep]
    keep = [v for v in keep if v.size]
    if not keep:
        return []
    lo, hi = min(float(v.min()) for v in keep), max(float(v.max()) for v in keep)
    out = []
    for label, curves in series.items():
        v = np.concatenate(curves)
        v = v[np.isfinite(v)]
        if _matters(label) or not v.size:
            continue
        if log and lo > 0:
            below = float(v.min()) <= 0 or float(v.min()) < lo / factor
            beyond = below or float(v.max()) > hi * factor
        else:
            span = max(hi - lo, 1e-12)
            beyond = (
                float(v.min()) < lo - (factor - 1) * span
                or float(v.max()) > hi + (factor - 1) * span
            )
        if beyond:
            out.append(label)
    return out


def _hidden_note(hidden: list[str]) -> str:
    if not hidden:
        return ""
    names = ", ".join(hidden)
    return f"<br><sup>hidden, far outside the range of the others: {names} (click to show)</sup>"


def method_colors(labels: list[str]) -> dict[str, str]:
    """The palette's first colours to the trained methods (the lines that matter), the rest to
    the baselines in order; flat grey."""
    trained = [lb for lb in labels if not is_reference(lb)]
    refs = [lb for lb in labels if is_reference(lb) and lb != "flat"]
    palette = [c for c in PALETTE if c != FLAT_GREY]
    out = {lb: palette[k % len(palette)] for k, lb in enumerate(trained + refs)}
    out["flat"] = FLAT_GREY
    return out


def _lines_figure(
    backtests: Sequence[Backtest], values: Any, title: str, ytitle: str, log: bool
) -> go.Figure:
    """One trace group per method: in range, buy-and-hold on top, far-off baselines hidden."""
    fig = go.Figure()
    ordered = _drawn_order(backtests)
    series = {label: [values(m) for m in members] for label, members in ordered}
    hidden = out_of_range(series, log=log)
    colors = method_colors([label for label, _ in ordered])
    for label, members in ordered:
        color = colors[label]
        visible: bool | str = "legendonly" if label in hidden else True
        _series_traces(fig, label, members, series[label], color, visible)
    fig.update_layout(legend={"traceorder": "normal"})
    return _layout(fig, title + _hidden_note(hidden), ytitle, 520 if log else 460)


def equity_figure(backtests: Sequence[Backtest]) -> go.Figure:
    """Equity normalised to 1 at the start, log scale, with a range slider to zoom."""
    fig = _lines_figure(
        backtests,
        lambda m: m.equity[1:] / m.equity[0],
        "Equity (start = 1, log scale; band: worst to best seed; buy-and-hold dashed)",
        "equity",
        log=True,
    )
    fig.update_yaxes(type="log")
    fig.update_xaxes(rangeslider={"visible": True})
    return fig


def drawdown_figure(backtests: Sequence[Backtest]) -> go.Figure:
    """Drawdown below the running peak (negative fraction)."""
    fig = _lines_figure(
        backtests,
        lambda m: -drawdown_series(m.equity)[1:],
        "Drawdown (band: worst to best seed; buy-and-hold dashed)",
        "drawdown",
        log=False,
    )
    fig.update_yaxes(tickformat=".0%")
    return fig


def position_rows(backtests: Sequence[Backtest]) -> list[Backtest]:
    """The bands of the positions chart, top to bottom: trained policies, then the momentum
    and oracle baselines, buy-and-hold last (flat and random traders carry no information)."""
    trained = [b for b in backtests if not is_reference(str(b.meta.get("method", b.name)))]
    refs = [
        b
        for b in backtests
        if b not in trained
        and str(b.meta.get("method", b.name)) not in ("flat", "random", BENCHMARK)
    ]
    bench = [b for b in backtests if b.name == BENCHMARK]
    return (trained + refs)[: MAX_POSITION_ROWS - len(bench)] + bench


def positions_figure(
    backtests: Sequence[Backtest], price: tuple[np.ndarray, np.ndarray] | None = None
) -> go.Figure:
    """Close price on top (``price`` = (timestamps ns, close); else buy-and-hold equity), below
    it one colour band per policy on the same zoomable time axis (red short, white flat, green
    long; ``position_rows``): a band that is one colour throughout is a collapse."""
    rows = position_rows(backtests)
    band_h = min(0.6, 0.08 * max(1, len(rows)) + 0.1)
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[1 - band_h, band_h], vertical_spacing=0.04
    )
    if price is not None:
        fig.add_trace(go.Scatter(x=_ms(price[0]), y=price[1], name="close price"), row=1, col=1)
    else:
        bh = next((b for b in backtests if b.name == BENCHMARK), backtests[0])
        fig.add_trace(go.Scatter(x=_times(bh), y=bh.equity[1:], name=f"{bh.name} equity"), 1, 1)
    if rows:
        x = _times(rows[0])
        same = all(np.array_equal(b.timestamps, rows[0].timestamps) for b in rows)
        z = [b.positions if same else np.interp(x, _times(b), b.positions) for b in rows]
        fig.add_trace(
            go.Heatmap(
                x=x,
                y=[b.name for b in rows],
                z=np.vstack(z),
                zmin=-1.0,
                zmax=1.0,
                colorscale=POSITION_COLORS,
                colorbar={"title": "position", "tickvals": [-1, 0, 1], "len": band_h, "y": 0},
                hovertemplate="%{y}: %{z:+.2f} at %{x}<extra></extra>",
                name="positions",
            ),
            row=2,
            col=1,
        )
    fig.update_yaxes(title_text="price", row=1, col=1)
    fig.update_yaxes(autorange="reversed", row=2, col=1)  # first policy on top
    fig = _layout(fig, "Positions over price (red short, white flat, green long)", "", 620)
    fig.update_xaxes(type="date")
    return fig


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
