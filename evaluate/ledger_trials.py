"""The deflated Sharpe's trial count, read from the market's trial ledger (``lab.ledger``).

``python -m evaluate --env M`` deflates against every configuration ever evaluated on val for
market ``M`` (``runs/M/ledger.jsonl``: single runs, seed groups, search trials, supervised and
tree runs, walk-forward configurations), not only the policies given on its command line. The
ensembles built by ``evaluate --ensemble`` are not in the ledger (they are built here, from
members already counted): each rule adds one trial. ``--n-trials`` / ``--trials-sharpe-var``
still override (``evaluate.seeds.chosen_trials``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backtest.aggregate import TrialCount
from lab.ledger import default_runs_root, ledger_path, trial_summary


def _display(path: Path) -> str:
    """The ledger path relative to the working folder when it lies inside it, else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path.resolve())


def ledger_trials(market: str, n_ensembles: int = 0) -> tuple[TrialCount | None, dict[str, Any]]:
    """The market's ledger as a ``TrialCount`` (None when it holds no trial) and what
    metrics.json records about it: path, records, trials by source, ensembles added.

    A malformed ledger line raises ``ValueError`` naming the file and line (a user error)."""
    root = default_runs_root()
    path = ledger_path(market, root)
    summary = trial_summary(market, root)
    info: dict[str, Any] = {
        "path": str(path.resolve()),
        "exists": path.is_file(),
        "n_records": summary.n_records,
        "n_trials": summary.n_trials,
        "sources": dict(sorted(summary.sources.items())),
        "sharpe_var": summary.sharpe_var,
        "ensembles_added": n_ensembles if summary.n_trials else 0,
    }
    if summary.n_trials == 0:
        return None, info
    by_source = ", ".join(f"{k} {v}" for k, v in sorted(summary.sources.items()))
    n = summary.n_trials + n_ensembles
    source = (
        f"ledger {_display(path)}: {summary.n_trials} trial{'' if summary.n_trials == 1 else 's'} "
        f"({by_source}) "
        f"from {summary.n_records} records"
    )
    if n_ensembles:
        source += f" + {n_ensembles} ensemble{'s' if n_ensembles > 1 else ''} built here"
    return TrialCount(n, summary.sharpe_var, source), info
