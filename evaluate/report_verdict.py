"""One verdict sentence per method: what it did against buy-and-hold and the other baselines.

``method_verdict`` is the one builder every report uses (``python -m evaluate``, the walk-forward
report): its inputs are a method's seed summary (``backtest.aggregate.SeedSummary``: per-seed
Sharpes, collapses, IQM and its interval, probabilities of improvement), the baselines' Sharpes
on the same bars, the trial count behind the selection and the method's deflated Sharpe. It says,
in this order: the Sharpe against buy-and-hold's and whether it beats it; what the probability
is (the share of seed-versus-baseline pairs the method wins, rliable's probability of
improvement); the baselines that did better; the collapse, named ("always long: identical to
buy-and-hold", "always flat", "always short"); the deflated Sharpe against its stated threshold.
"""

from __future__ import annotations

import math

from backtest.aggregate import SeedSummary, TrialCount
from backtest.verdict import SIGNIFICANT_DSR, collapse_phrase, dsr_phrase, fmt, versus

BENCHMARK = "buy_and_hold"


def _label(name: str) -> str:
    return name.replace("_", "-")


def _head(s: SeedSummary, failed: int, period: str) -> str:
    n = s.n_seeds
    head = f"{s.method.upper()} ({n} seed{'s' if n != 1 else ''}"
    head += f", {failed} failed to train)" if failed else ")"
    return f"{head} on {period}" if period else head


def _sharpe(s: SeedSummary) -> str:
    if s.n_seeds == 1:
        return f"Sharpe {fmt(s.iqm)}"
    return f"IQM Sharpe {fmt(s.iqm)} [{fmt(s.iqm_low)}, {fmt(s.iqm_high)}]"


def _probability(s: SeedSummary, other: str) -> str:
    p = s.p_improve.get(other, math.nan)
    what = "the seed's" if s.n_seeds == 1 else "a seed's"
    text = f"P({what} Sharpe > {_label(other)}'s) = {fmt(p)}"
    lo, hi = s.p_improve_ci.get(other, (math.nan, math.nan))
    if math.isfinite(lo) and math.isfinite(hi):
        text += f" [{fmt(lo)}, {fmt(hi)}]"
    return text + " (a tie counts half)"


def collapse_summary(s: SeedSummary) -> str:
    """``COLLAPSED: always long: identical to buy-and-hold`` (every seed the same), or
    ``COLLAPSED: 2 of 5 seeds (s0 always long: ..., s3 always flat)``; empty when none."""
    names = s.collapses or [None] * s.n_seeds
    hits = [(sd, c) for sd, c in zip(s.seeds, names, strict=False) if c]
    if not hits:
        return ""
    kinds = {c for _, c in hits}
    flat_note = " (counted as Sharpe 0)" if "always flat" in kinds else ""
    if len(hits) == s.n_seeds and len(kinds) == 1:
        every = "" if s.n_seeds == 1 else f"every seed ({s.n_seeds}) "
        return collapse_phrase(f"{every}{hits[0][1]}{flat_note}")
    listed = ", ".join(f"s{sd} {c}" for sd, c in hits)
    return collapse_phrase(f"{len(hits)} of {s.n_seeds} seeds ({listed}){flat_note}")


def method_verdict(
    s: SeedSummary,
    baselines: dict[str, float],
    trials: TrialCount,
    dsr: float,
    failed: int = 0,
    *,
    period: str = "",
    threshold: float = SIGNIFICANT_DSR,
) -> str:
    """One sentence for one method (see the module doc). ``baselines``: name -> annualised Sharpe
    on the same bars (``buy_and_hold`` first in the sentence); ``dsr``: the method's deflated
    Sharpe (median over its seeds); ``period``: e.g. ``test 2024-01-01 to 2025-01-01``."""
    parts = [f"{_head(s, failed, period)}: {_sharpe(s)}"]
    bench = baselines.get(BENCHMARK)
    if bench is not None:
        parts[0] += f" vs buy-and-hold {fmt(bench)}: {versus(s.iqm, bench)}"
    if BENCHMARK in s.p_improve:
        parts.append(_probability(s, BENCHMARK))
    parts += [_probability(s, o) for o in s.p_improve if o != BENCHMARK]
    better = [
        f"{_label(k)} {fmt(v)}"
        for k, v in baselines.items()
        if k != BENCHMARK and math.isfinite(v) and math.isfinite(s.iqm) and v > s.iqm
    ]
    if better:
        parts.append("baselines with a higher Sharpe: " + ", ".join(better))
    collapsed = collapse_summary(s)
    if collapsed:
        parts.append(collapsed)
    dsr_text = dsr_phrase(dsr, trials.n, threshold)
    parts.append(dsr_text + (" (median over seeds)" if s.n_seeds > 1 else ""))
    return "; ".join(parts) + "."
