"""The deflated Sharpe's trial count, read from the market's trial ledger (``lab.ledger``).

``python -m evaluate --env M`` deflates against every configuration ever evaluated on val for
market ``M`` (``runs/M/ledger.jsonl``: single runs, seed groups, search trials, supervised and
tree runs, walk-forward configurations), not only the policies given on its command line. The
ensembles built by ``evaluate --ensemble`` are not in the ledger (they are built here, from
members already counted): each rule adds one trial. ``--n-trials`` / ``--trials-sharpe-var``
still override (``evaluate.seeds.chosen_trials``).

The trials that count are those behind the runs' selection: on the runs' OWN market's ledger
(``selection_trials``). Evaluating runs trained on btc1h against a new file (``--env FILE``)
still deflates against btc1h's ledger, not the new file's (which holds none).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backtest.aggregate import TrialCount
from backtest.baselines import PolicySpec
from evaluate.newdata import read_meta, run_folder
from lab.ledger import default_runs_root, ledger_path, trial_summary
from lab.rundir import read_config


def _display(path: Path) -> str:
    """The ledger path relative to the working folder when it lies inside it, else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path.resolve())


def ledger_trials(
    market: str, n_ensembles: int = 0, pending: list[dict[str, Any]] | None = None
) -> tuple[TrialCount | None, dict[str, Any]]:
    """The market's ledger as a ``TrialCount`` (None when it holds no trial) and what
    metrics.json records about it: path, records, trials by source, ensembles added.

    A malformed ledger line raises ``ValueError`` naming the file and line (a user error).
    ``pending``: this evaluation's own trials (the baselines' val choice), appended to the
    ledger once it succeeds, counted now."""
    root = default_runs_root()
    path = ledger_path(market, root)
    summary = trial_summary(market, root, pending or ())
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


def run_market(spec: PolicySpec) -> str | None:
    """The market key a run was trained (and selected) on: its ``meta.json`` market record, else
    its config's ``env_name``/``env``; None for a baseline or a file outside a run folder."""
    folder = run_folder(spec.source) if spec.source else None
    if folder is None:
        return None
    market = read_meta(folder).get("market")
    if isinstance(market, dict) and market.get("key"):
        return str(market["key"])
    try:
        cfg = read_config(folder)
    except (OSError, ValueError):
        return None
    env = cfg.get("env_name") or cfg.get("env")
    return str(env) if isinstance(env, str) else None


def selection_trials(
    eval_market: str,
    specs: list[PolicySpec],
    n_ensembles: int = 0,
    pending: list[dict[str, Any]] | None = None,
) -> tuple[TrialCount | None, dict[str, Any]]:
    """``ledger_trials`` of the market the runs were selected on (the runs' own market; the
    evaluated market when no run records one). Runs from several markets: their ledgers'
    trials add up, the Sharpe variance is pooled (trial-weighted mean). ``pending``: trials of
    ``eval_market`` tried by this evaluation (see ``ledger_trials``)."""
    mine = {eval_market: pending} if pending else {}
    markets = list(dict.fromkeys(m for s in specs if (m := run_market(s)) is not None))
    if not markets:
        markets = [eval_market]
    if len(markets) == 1:
        count, one = ledger_trials(markets[0], n_ensembles, mine.get(markets[0]))
        one["market"] = markets[0]
        return count, one
    counts = [(m, *ledger_trials(m, 0, mine.get(m))) for m in markets]
    found = [(m, c) for m, c, _ in counts if c is not None]
    infos = {m: i for m, _, i in counts}
    info: dict[str, Any] = {"markets": infos, "ensembles_added": n_ensembles if found else 0}
    if not found:
        return None, info
    n = sum(c.n for _, c in found)
    var = sum(c.n * c.sharpe_var for _, c in found) / max(n, 1)
    source = "; ".join(c.source for _, c in found)
    if n_ensembles:
        source += f" + {n_ensembles} ensemble{'s' if n_ensembles > 1 else ''} built here"
    return TrialCount(n + n_ensembles, var, source), info
