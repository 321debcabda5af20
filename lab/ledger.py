"""The trial ledger: every configuration evaluated on val, one append-only file per market.

``runs/<market>/ledger.jsonl`` holds one JSON record per (configuration, seed) evaluated on the
val split: single runs, seed groups, search trials, supervised runs and walk-forward
configurations. A deflated Sharpe is honest only if every configuration ever tried is counted,
so the ledger is never rewritten: each record is one ``write`` on an ``O_APPEND`` descriptor
under an exclusive ``flock`` (several processes may append at once; no line interleaves).

``trial_summary`` reads it back for the deflated Sharpe: one trial per distinct ``config_hash``
(its Sharpe is the mean over that configuration's seeds), and the variance across trials of
those Sharpes (annualised, ddof 1, the units of ``evaluate --trials-sharpe-var``).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.rundir import market_dirname

SOURCES = ("run", "seed_group", "tune", "supervised", "walkforward", "trees", "retrain")
# Keys that say where/how a run executes, not what it is: dropped (at any depth) from the hash.
VOLATILE_KEYS = frozenset(
    {"seed", "run_dir", "device", "progress", "no_progress", "torch_threads", "threads"}
)
NO_LEDGER_ENV = "RLTRADE_NO_LEDGER"  # set by the engine inside tasks: the driver records them
RUNS_ROOT_ENV = "RLTRADE_RUNS_ROOT"  # where runs/<market>/ledger.jsonl lives (tests, clusters)


def default_runs_root() -> Path:
    """``$RLTRADE_RUNS_ROOT`` or the repository's ``runs/``."""
    env = os.environ.get(RUNS_ROOT_ENV)
    return Path(env) if env else Path(__file__).resolve().parent.parent / "runs"


def ledger_path(market: str, runs_root: str | os.PathLike[str] | None = None) -> Path:
    """``<runs_root>/<market>/ledger.jsonl``."""
    return Path(runs_root or default_runs_root()) / market_dirname(market) / "ledger.jsonl"


def _strip(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _strip(v) for k, v in obj.items() if str(k) not in VOLATILE_KEYS}
    if isinstance(obj, (list, tuple)):
        return [_strip(v) for v in obj]
    return obj


def config_hash(config: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON (sorted keys, no spaces) of ``config`` minus the keys in
    ``VOLATILE_KEYS``: two seeds of one configuration share a hash, two configurations do not."""
    canon = json.dumps(_strip(config), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


def _finite_or_none(x: Any) -> float | None:
    if x is None:
        return None
    v = float(x)
    return v if math.isfinite(v) else None


def make_record(
    *,
    market: str,
    source: str,
    algo: str,
    config: Mapping[str, Any],
    seed: int | None,
    run_dir: str | os.PathLike[str] | None,
    val_sharpe: float | None,
    periods_per_year: float,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One ledger record (a non-finite Sharpe, e.g. an always-flat policy's, is stored as null)."""
    if source not in SOURCES:
        raise ValueError(f"ledger source {source!r}: must be one of {', '.join(SOURCES)}")
    return {
        "time": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "market": market,
        "source": source,
        "algo": algo,
        "config_hash": config_hash(config),
        "seed": seed,
        "run_dir": None if run_dir is None else str(run_dir),
        "val_sharpe": _finite_or_none(val_sharpe),
        "periods_per_year": float(periods_per_year),
        "extra": dict(extra or {}),
    }


def append_record(
    record: Mapping[str, Any], runs_root: str | os.PathLike[str] | None = None
) -> Path:
    """Append ``record`` to its market's ledger: one ``write`` of one line on an ``O_APPEND``
    descriptor under ``flock`` (atomic against other appenders; nothing is ever rewritten)."""
    path = ledger_path(str(record["market"]), runs_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(dict(record), sort_keys=True, allow_nan=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            written = os.write(fd, line)
            if written != len(line):  # a short write would leave half a line: say so loudly
                raise OSError(f"{path}: short append ({written} of {len(line)} bytes)")
            os.fsync(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    return path


def ledger_enabled() -> bool:
    """False inside engine tasks (the driver appends their records, on its own filesystem)."""
    return os.environ.get(NO_LEDGER_ENV, "") in ("", "0")


def read_records(
    market: str, runs_root: str | os.PathLike[str] | None = None
) -> Iterator[dict[str, Any]]:
    """The market's records in append order; a malformed line raises naming the file and line."""
    path = ledger_path(market, runs_root)
    if not path.is_file():
        return
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(
                    f"{path} line {lineno}: not a JSON record ({err.msg}); the ledger is "
                    "append-only: restore the line from a backup or delete only that line"
                ) from None


def recorded_run_dirs(market: str, runs_root: str | os.PathLike[str] | None = None) -> set[str]:
    """Run folders already in the ledger (a restarted driver must not count a run twice)."""
    return {str(r["run_dir"]) for r in read_records(market, runs_root) if r.get("run_dir")}


@dataclass
class TrialSummary:
    """What the deflated Sharpe needs: the number of distinct configurations tried on val and
    the variance of their (seed-averaged, annualised) val Sharpes; ``sources`` counts trials by
    the source of their first record."""

    n_trials: int
    sharpe_var: float
    sources: dict[str, int] = field(default_factory=dict)
    n_records: int = 0


def trial_summary(market: str, runs_root: str | os.PathLike[str] | None = None) -> TrialSummary:
    """One trial per distinct ``config_hash`` (Sharpe = mean over its seeds; a null Sharpe, an
    always-flat policy, counts as 0: it was tried); variance across trials with ddof 1 (0 for
    fewer than two trials). A record marked ``extra.no_val_sharpe`` (a walk-forward PPO fold,
    selected on val reward) counts as a trial but adds nothing to the variance."""
    sharpes: dict[str, list[float]] = defaultdict(list)
    first_source: dict[str, str] = {}
    n_records = 0
    for rec in read_records(market, runs_root):
        n_records += 1
        h = str(rec["config_hash"])
        first_source.setdefault(h, str(rec["source"]))
        if (rec.get("extra") or {}).get("no_val_sharpe"):
            sharpes.setdefault(h, [])  # tried (counted), but nothing to add to the variance
            continue
        v = rec.get("val_sharpe")
        sharpes[h].append(0.0 if v is None else float(v))
    means = [sum(v) / len(v) for v in sharpes.values() if v]
    n = len(means)
    if n > 1:  # variance over the trials that measured a val Sharpe
        mu = sum(means) / n
        var = sum((m - mu) ** 2 for m in means) / (n - 1)
    else:
        var = 0.0
    return TrialSummary(len(sharpes), var, dict(Counter(first_source.values())), n_records)
