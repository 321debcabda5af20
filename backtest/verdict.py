"""The words of a verdict, shared by every command that ends with one.

A training run (``agents.ppo``/``agents.sac``, ``supervised.train``, ``supervised.trees``, their
seed groups) ends with one sentence against buy-and-hold on the split it validated, its collapse
if any, and the next command to run; ``evaluate`` (``evaluate.report_verdict``) builds its
per-method verdicts from the same phrases, so "beats", "does not beat", the deflated Sharpe's
threshold and a collapse read the same everywhere.
"""

from __future__ import annotations

import math
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np

SIGNIFICANT_DSR = 0.95  # significant when the deflated Sharpe exceeds this (a 5 % test)
SHARPE_TIE = 1e-9  # Sharpes closer than this are one number (an identical policy)


def fmt(value: float | None, spec: str = "{:.2f}") -> str:
    """A number, or ``n/a`` when undefined (None or not finite)."""
    if value is None or not math.isfinite(float(value)):
        return "n/a"
    return spec.format(float(value))


def versus(sharpe: float | None, other: float | None, other_name: str = "buy-and-hold") -> str:
    """``beats X`` / ``ties X`` / ``does not beat X`` on the annualised Sharpe point estimates
    (an undefined Sharpe, a flat policy, counts as 0)."""
    a = 0.0 if sharpe is None or not math.isfinite(sharpe) else float(sharpe)
    b = 0.0 if other is None or not math.isfinite(other) else float(other)
    if abs(a - b) <= SHARPE_TIE:
        return f"ties {other_name}"
    return f"beats {other_name}" if a > b else f"does not beat {other_name}"


def dsr_phrase(dsr: float | None, n_trials: int, threshold: float = SIGNIFICANT_DSR) -> str:
    """``DSR 0.94 < 0.95 after 12 trials: not significant`` (the threshold always stated)."""
    trials = f"after {n_trials} trial{'' if n_trials == 1 else 's'}"
    if dsr is None or not math.isfinite(dsr):
        return f"DSR n/a {trials}: not significant"
    if dsr > threshold:
        return f"DSR {dsr:.3f} > {threshold:.2f} {trials}: significant"
    return (
        f"DSR {dsr:.3f} {'<' if dsr < threshold else '='} {threshold:.2f} {trials}: not significant"
    )


def collapse_phrase(collapse: str | None) -> str:
    """``COLLAPSED: always long: identical to buy-and-hold`` (empty when it traded)."""
    return f"COLLAPSED: {collapse}" if collapse else ""


def python_command() -> str:
    """How the user started Python: ``.venv/bin/python`` when it is the working folder's venv,
    else the interpreter's path (``python`` when it cannot be told)."""
    exe = Path(sys.executable or "python")
    try:
        return str(exe.relative_to(Path.cwd()))
    except ValueError:
        return str(exe) if sys.executable else "python"


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# set by lab.seeds.train_seed: the folder an engine task's run lands in on the driver
SHOWN_RUN_DIR_ENV = "RLTRADE_SHOWN_RUN_DIR"


def evaluate_command(env: str, run: Path, split: str = "test") -> str:
    """The next command: ``<python> -m evaluate --env ENV --split test RUN``; a seed trained in
    an engine task names the folder it lands in, never the worker's temporary one."""
    shown = os.environ.get(SHOWN_RUN_DIR_ENV)
    target = Path(shown) if shown else run
    args = ["-m", "evaluate", "--env", env, "--split", split, _shown(target)]
    return " ".join([python_command(), *(shlex.quote(a) for a in args)])


def period_of(split: str, timestamps_ns: np.ndarray) -> str:
    """``val 2023-01-01 to 2023-12-31``: the split and its first and last bar's dates."""
    ts = np.asarray(timestamps_ns)
    if ts.size == 0:
        return split
    days = [str(np.datetime64(int(t), "ns").astype("datetime64[D]")) for t in (ts[0], ts[-1])]
    return f"{split} {days[0]} to {days[1]}"


def training_verdict(
    period: str,
    name: str,
    sharpe: float | None,
    bench_sharpe: float | None,
    collapse: str | None = None,
) -> str:
    """One sentence: ``val 2023-01-01 to 2024-01-01: ppo_best Sharpe 1.44 vs buy-and-hold 2.24:
    does not beat buy-and-hold; COLLAPSED: always long: identical to buy-and-hold.``"""
    parts = [
        f"{period}: {name} Sharpe {fmt(sharpe)} vs buy-and-hold {fmt(bench_sharpe)}: "
        f"{versus(sharpe, bench_sharpe)}"
    ]
    if collapse:
        parts.append(collapse_phrase(collapse))
    return "; ".join(parts) + "."


def verdict_block(verdict: str, next_command: str) -> str:
    """The last lines a training command prints: the verdict, then the next command."""
    return f"verdict: {verdict}\nnext (looks at test once): {next_command}"


def _seed_collapses(per_seed: dict[str, dict[str, Any]]) -> str:
    ok = {seed: row for seed, row in per_seed.items() if row.get("status") == "ok"}
    hits = [
        f"s{seed} {row.get('collapse') or 'always flat'}"
        for seed, row in ok.items()
        if row.get("collapsed")
    ]
    return f"{len(hits)} of {len(ok)} seeds ({', '.join(hits)})" if hits else ""


def group_verdict(summary: dict[str, Any]) -> str:
    """One sentence for a seed group (``lab.seeds`` summary; each ok seed's row may carry
    ``buy_and_hold_sharpe``, ``period`` and ``collapse``): the seeds' mean and median val Sharpe
    against buy-and-hold's, the collapsed seeds named, the failed ones counted."""
    agg = summary.get("aggregate", {})
    rows = [r for r in summary.get("per_seed", {}).values() if r.get("status") == "ok"]
    first = rows[0] if rows else {}
    algo = str(summary.get("algo", "")).upper()
    n, ok = agg.get("n_seeds", 0), agg.get("n_ok", 0)
    if not rows:
        return f"{algo} seed group: all {n} seeds failed; nothing to compare."
    bench = first.get("buy_and_hold_sharpe")
    head = f"{first.get('period') or summary.get('split', 'val')}: {algo} ({ok} of {n} seeds)"
    text = (
        f"{head} mean Sharpe {fmt(agg.get('mean'))} (median {fmt(agg.get('median'))}, worst "
        f"{fmt(agg.get('worst'))})"
    )
    if bench is not None:
        text += f" vs buy-and-hold {fmt(bench)}: {versus(agg.get('mean'), bench)}"
    parts = [text]
    collapsed = _seed_collapses(summary.get("per_seed", {}))
    if collapsed:
        parts.append(collapse_phrase(collapsed))
    if agg.get("n_failed"):
        parts.append(f"{agg['n_failed']} failed to train")
    return "; ".join(parts) + "."
