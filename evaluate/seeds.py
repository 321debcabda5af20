"""Per-method seed aggregates of a head-to-head and the one-sentence verdicts built on them.

Every method that is not a baseline or oracle (a label with one or more seeds) is reduced by
``backtest.aggregate.summarize_seeds`` over its rows' annualised Sharpes: IQM with a stratified
bootstrap CI, ``P(method > buy-and-hold)`` and, when a supervised method is in the comparison,
``P(method > supervised)``, median, worst seed and collapsed seeds. Seeds whose training failed
(a seed group's failures) are listed with their method; they have no backtest.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import numpy as np

from backtest.aggregate import SeedSummary, TrialCount, seed_sharpes, summarize_seeds
from backtest.baselines import is_reference
from evaluate.headtohead import Comparison
from evaluate.report_verdict import method_verdict

SUPERVISED = "supervised"


def _method_rows(cmp: Comparison) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for r in cmp.rows:
        if not is_reference(r.method):
            out.setdefault(r.method, []).append(r)
    return out


def _sharpes(rows: list[Any]) -> np.ndarray:
    values, _ = seed_sharpes(
        np.array([r.metrics.get("sharpe", math.nan) for r in rows], dtype=np.float64),
        np.array([r.metrics.get("exposure", math.nan) for r in rows], dtype=np.float64),
    )
    return values


def seed_summaries(
    cmp: Comparison, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> dict[str, SeedSummary]:
    """One ``SeedSummary`` per non-baseline method, in the order the rows came."""
    by_method = _method_rows(cmp)
    bench = cmp.row(cmp.benchmark) if any(r.name == cmp.benchmark for r in cmp.rows) else None
    out: dict[str, SeedSummary] = {}
    for method, rows in by_method.items():
        versus: dict[str, np.ndarray] = {}
        if bench is not None:
            versus[cmp.benchmark] = _sharpes([bench])
        if method != SUPERVISED and SUPERVISED in by_method:
            versus[SUPERVISED] = _sharpes(by_method[SUPERVISED])
        out[method] = summarize_seeds(
            method,
            [r.seed for r in rows],
            np.array([r.metrics.get("sharpe", math.nan) for r in rows], dtype=np.float64),
            np.array([r.metrics.get("exposure", math.nan) for r in rows], dtype=np.float64),
            versus,
            constant=np.array([r.constant for r in rows], dtype=np.float64),
            n_boot=n_boot,
            level=level,
            seed=seed,
        )
    return out


def median_dsr(cmp: Comparison, method: str) -> float:
    """Median deflated Sharpe over a method's seeds (an undefined DSR, a flat seed, counts 0)."""
    d = [r.dsr if math.isfinite(r.dsr) else 0.0 for r in cmp.rows if r.method == method]
    return float(np.median(d)) if d else math.nan


def _f(v: float, fmt: str = "{:.2f}") -> str:
    return "n/a" if not math.isfinite(v) else fmt.format(v)


def baseline_sharpes(cmp: Comparison) -> dict[str, float]:
    """Annualised Sharpe of every baseline/oracle row (buy-and-hold first), for the verdicts."""
    refs = {
        r.name: float(r.metrics.get("sharpe", math.nan)) for r in cmp.rows if is_reference(r.method)
    }
    return dict(sorted(refs.items(), key=lambda kv: kv[0] != cmp.benchmark))


def verdict(
    s: SeedSummary,
    trials: TrialCount,
    dsr: float,
    failed: int = 0,
    baselines: dict[str, float] | None = None,
    period: str = "",
) -> str:
    """One sentence per method (``evaluate.report_verdict.method_verdict``)."""
    return method_verdict(s, baselines or {}, trials, dsr, failed, period=period)


def verdicts(
    cmp: Comparison,
    summaries: dict[str, SeedSummary],
    trials: TrialCount,
    failures: dict[str, dict[int, str]] | None = None,
    period: str = "",
) -> dict[str, str]:
    """One verdict line per seeded method (and per method whose every seed failed)."""
    failures = failures or {}
    refs = baseline_sharpes(cmp)
    out = {
        m: verdict(s, trials, median_dsr(cmp, m), len(failures.get(m, {})), refs, period)
        for m, s in summaries.items()
    }
    for m, failed in failures.items():
        if m not in out and failed:
            out[m] = f"{m.upper()}: all {len(failed)} seeds failed to train; nothing to evaluate."
    return out


def format_seed_table(
    summaries: dict[str, SeedSummary],
    trials: TrialCount,
    failures: dict[str, dict[int, str]] | None = None,
) -> str:
    """Plain text: per-seed Sharpes, then each method's aggregate row and the trial count."""
    lines = [
        "",
        "Seed aggregates (annualised Sharpe; * = collapsed to one position, named; "
        "an always-flat seed counts as 0):",
    ]
    for m, s in summaries.items():
        names = s.collapses or [None] * s.n_seeds
        seeds = ", ".join(
            f"s{sd}={v:+.3f}{f'* ({n})' if c else ''}"
            for sd, v, c, n in zip(s.seeds, s.sharpes, s.collapsed, names, strict=True)
        )
        lines.append(f"  {m}: {seeds}")
        pis = "; ".join(
            f"P(> {o}) {_f(p, '{:.3f}')} [{_f(s.p_improve_ci[o][0])}, {_f(s.p_improve_ci[o][1])}]"
            for o, p in s.p_improve.items()
        )
        lines.append(
            f"  {m}: {s.n_seeds} seeds  IQM {_f(s.iqm, '{:+.3f}')} "
            f"{100 * s.level:.0f}% CI [{_f(s.iqm_low, '{:+.3f}')}, {_f(s.iqm_high, '{:+.3f}')}]  "
            f"median {_f(s.median, '{:+.3f}')}  worst {_f(s.worst, '{:+.3f}')} (s{s.worst_seed})  "
            f"collapsed {s.n_collapsed}/{s.n_seeds}  {pis}"
        )
    for m, failed in (failures or {}).items():
        for sd, why in sorted(failed.items()):
            lines.append(f"  {m}: seed {sd} FAILED to train, not backtested: {why}")
    lines.append(
        f"trials: {trials.n} trial{'' if trials.n == 1 else 's'} counted, from: {trials.source}"
    )
    return "\n".join(lines)


def summaries_json(
    summaries: dict[str, SeedSummary],
    verdict_text: dict[str, str],
    trials: TrialCount,
    failures: dict[str, dict[int, str]] | None = None,
) -> dict[str, Any]:
    """What metrics.json carries under ``seed_aggregates`` and ``trials``."""
    fails = failures or {}
    return {
        "seed_aggregates": {
            m: {
                **asdict(s),
                "n_seeds": s.n_seeds,
                "verdict": verdict_text.get(m, ""),
                "failed_seeds": {str(k): v for k, v in fails.get(m, {}).items()},
            }
            for m, s in summaries.items()
        },
        "trials": asdict(trials),
    }


def chosen_trials(
    n_trials: int | None, sharpe_var_annual: float | None, ledger: TrialCount | None = None
) -> TrialCount | None:
    """The trial count to deflate with: the flags win, then a ledger's count (the caller reads
    it), else None (``compare`` counts the candidate policies given)."""
    if n_trials is not None or sharpe_var_annual is not None:
        base = ledger or TrialCount(0, math.nan, "")
        n = n_trials if n_trials is not None else base.n
        var = sharpe_var_annual if sharpe_var_annual is not None else base.sharpe_var
        flags = [
            f
            for f, v in (("--n-trials", n_trials), ("--trials-sharpe-var", sharpe_var_annual))
            if v is not None
        ]
        src = " and ".join(flags) + " flag" + ("s" if len(flags) > 1 else "")
        if ledger is not None:
            src += f" (overriding {ledger.source})"
        return TrialCount(int(n) if n else 0, float(var), src)
    return ledger


def counted_trials(cmp: Comparison, chosen: TrialCount | None) -> TrialCount:
    """What ``compare`` deflated with (its settings), and where the count came from."""
    s = cmp.settings
    var = float(s["trials_sharpe_var_per_period"]) * float(s["periods_per_year"])
    if chosen is None:
        source = "the non-baseline policies given here (no ledger, no --n-trials)"
    else:
        source = chosen.source
    return TrialCount(int(s["n_trials"]), var, source)
