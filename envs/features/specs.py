"""Feature specifications: the documented contract of every column.

Each feature set declares a tuple of ``FeatureSpec``. The spec is the single
source of truth for the docs (``render_table`` produces the table embedded in
each feature-set module's docstring; a test keeps them in sync) and for the
warm-up: ``compute_features`` sets exactly the first ``warmup`` rows of every
segment to NaN, and the tests check that the computed values need no more.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FeatureSpec:
    """One output column.

    name: column name. formula: how it is computed from bars <= t (r_t is the
    1-bar log return log(C_t / C_{t-1}) within the segment). window: bars of
    look-back (``0`` = bar t only). units: what one unit of the raw value is.
    norm: how the value is scaled for the model (``robust`` = RobustNormaliser
    median/IQR z-score, clipped). latest_bar: the latest bar (or published
    data) it uses, always ``t`` or earlier. warmup: leading NaN rows per
    segment (the first row whose full look-back lies inside the segment).
    basis: how the look-back scales with the bar size (``envs.barsize``):
    ``time`` = a span of hours (ret_24h is 24 1h bars, 288 5m bars, 6 4h bars,
    1 daily bar; a span shorter than one bar is one bar), ``bar`` = a fixed
    number of bars at any size (RSI-14, MACD 12/26/9, Bollinger 20, candle
    shape), ``mixed`` = both (named in the formula). ``window``, ``warmup`` and
    the formula's numbers are in bars of the size the specs were built for.
    """

    name: str
    formula: str
    window: int
    units: str
    norm: str
    latest_bar: str
    warmup: int
    basis: str = "time"


def render_table(specs: tuple[FeatureSpec, ...]) -> str:
    """Markdown table of ``specs`` (what the module docstrings embed)."""
    lines = [
        "| # | name | formula | window | units | normalisation | latest | warm-up |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, s in enumerate(specs):
        lines.append(
            f"| {i} | {s.name} | {s.formula} | {s.window} | {s.units} | {s.norm} "
            f"| {s.latest_bar} | {s.warmup} |"
        )
    return "\n".join(lines)
