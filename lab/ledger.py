"""The trial ledger: every configuration evaluated on val, one append-only file per market.

``runs/<market>/ledger.jsonl`` holds one JSON record per (configuration, seed) evaluated on the
val split: single runs, seed groups, search trials, supervised runs and walk-forward
configurations. A deflated Sharpe is honest only if every configuration ever tried is counted,
so the ledger is never rewritten: each record is one ``write`` on an ``O_APPEND`` descriptor
under an exclusive ``flock`` (several processes may append at once; no line interleaves). A
write that fails or comes up short (a full disk, a file-size limit) is cut back to the previous
size before the error is raised: a line is appended whole or not at all. An append after a torn
last line (an older crash) is refused with the fix.

Reading checks every line (``lab.ledger_check``): a malformed one is an error naming the file,
the line and the fix, never skipped. A record may point to its trial's per-bar val returns
(``append_record(..., val_returns=, val_timestamps=)``, stored by ``lab.ledger_returns``), which
``ledger_trial_returns`` reads back for PBO and SPA (``backtest.overfit``, ``backtest.spa``).

``trial_summary`` reads it back for the deflated Sharpe: one trial per distinct ``config_hash``
(its Sharpe is the mean over that configuration's seeds), and the variance across trials of
those Sharpes (annualised, ddof 1, the units of ``evaluate --trials-sharpe-var``).
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import hashlib
import itertools
import json
import math
import os
import resource
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lab.ledger_check import LedgerError, check_record, torn_tail_message
from lab.ledger_returns import TrialReturns, store_returns, trial_returns
from lab.rundir import market_dirname

SOURCES = (
    "run",
    "seed_group",
    "tune",
    "supervised",
    "walkforward",
    "trees",
    "retrain",
    "baseline",  # a baseline's lookback tried on val (backtest.baseline_select)
)
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


def _check_is_file(path: Path) -> None:
    if path.exists() and not path.is_file():
        raise LedgerError(
            f"{path}: the ledger path is a folder (or not a regular file), not a ledger; move it "
            "away or set RLTRADE_RUNS_ROOT to another runs folder"
        )


def _write_line(fd: int, path: Path, line: bytes) -> None:
    """One ``os.write`` of ``line``; on failure or a short count, cut back to the old size."""
    size = os.fstat(fd).st_size
    if size and os.pread(fd, 1, size - 1) != b"\n":
        data = path.read_bytes()  # the error path only: find the torn line and its offset
        raise LedgerError(torn_tail_message(path, data.count(b"\n") + 1, data.rfind(b"\n") + 1))
    try:
        written = os.write(fd, line)
    except OSError as err:
        os.ftruncate(fd, size)
        raise OSError(
            err.errno, f"{err.strerror}: ledger line not written (file left as it was)", str(path)
        ) from None
    if written != len(line):
        os.ftruncate(fd, size)
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        over_limit = limit != resource.RLIM_INFINITY and size + len(line) > limit
        raise OSError(
            errno.EFBIG if over_limit else errno.ENOSPC,  # a file-size limit, else a full disk
            f"short append ({written} of {len(line)} bytes): ledger line not written (file "
            "left as it was)",
            str(path),
        )
    os.fsync(fd)


def append_record(
    record: Mapping[str, Any],
    runs_root: str | os.PathLike[str] | None = None,
    *,
    val_returns: np.ndarray | None = None,
    val_timestamps: np.ndarray | None = None,
) -> Path:
    """Append ``record`` to its market's ledger: one ``write`` of one line on an ``O_APPEND``
    descriptor under ``flock`` (atomic against other appenders; nothing is ever rewritten).

    ``val_returns`` (the trial's per-bar returns on its val block, with ``val_timestamps`` to
    line trials up) is stored first, and the line points to it with its sha256."""
    path = ledger_path(str(record["market"]), runs_root)
    _check_is_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rec = dict(record)
    if val_returns is not None:
        rec["returns"] = store_returns(path.parent, val_returns, val_timestamps)
    check_record(json.loads(json.dumps(rec, default=str)), path, 0, SOURCES)
    line = (json.dumps(rec, sort_keys=True, allow_nan=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            _write_line(fd, path, line)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    return path


def ledger_enabled() -> bool:
    """False inside engine tasks (the driver appends their records, on its own filesystem)."""
    return os.environ.get(NO_LEDGER_ENV, "") in ("", "0")


def read_numbered(
    market: str, runs_root: str | os.PathLike[str] | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, record)`` in append order; a malformed or torn line raises
    ``LedgerError`` naming the file, the line and the fix (see ``lab.ledger_check``)."""
    path = ledger_path(market, runs_root)
    _check_is_file(path)
    if not path.is_file():
        return
    data = path.read_bytes()
    lines = data.split(b"\n")
    if lines[-1].strip():  # no newline after the last line: an interrupted append
        raise LedgerError(torn_tail_message(path, len(lines), len(data) - len(lines[-1])))
    for lineno, raw in enumerate(lines[:-1], 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            msg = getattr(err, "msg", "not UTF-8")
            raise LedgerError(
                f"{path} line {lineno}: not a JSON record ({msg}); the ledger is "
                "append-only: restore the line from a backup or delete only that line"
            ) from None
        yield lineno, check_record(obj, path, lineno, SOURCES)


def read_records(
    market: str, runs_root: str | os.PathLike[str] | None = None
) -> Iterator[dict[str, Any]]:
    """The market's records in append order, each checked (see ``read_numbered``)."""
    for _, rec in read_numbered(market, runs_root):
        yield rec


def ledger_trial_returns(
    market: str,
    runs_root: str | os.PathLike[str] | None = None,
    *,
    sources: tuple[str, ...] | None = None,
) -> list[TrialReturns]:
    """The val returns of the market's trials that stored them (``sources``: only those),
    one ``TrialReturns`` matrix per val block, the block with the most trials first."""
    recs = [
        (n, r)
        for n, r in read_numbered(market, runs_root)
        if sources is None or r["source"] in sources
    ]
    return trial_returns(recs, ledger_path(market, runs_root))


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


def trial_summary(
    market: str,
    runs_root: str | os.PathLike[str] | None = None,
    pending: Iterable[Mapping[str, Any]] = (),
) -> TrialSummary:
    """One trial per distinct ``config_hash`` (Sharpe = mean over its seeds; a null Sharpe, an
    always-flat policy, counts as 0: it was tried); variance across trials with ddof 1 (0 for
    fewer than two trials). A record marked ``extra.no_val_sharpe`` (a walk-forward PPO fold,
    selected on val reward) counts as a trial but adds nothing to the variance. ``pending``:
    records tried by this process and appended only once it succeeds (counted as if appended)."""
    sharpes: dict[str, list[float]] = defaultdict(list)
    first_source: dict[str, str] = {}
    n_records = 0
    for rec in itertools.chain(read_records(market, runs_root), pending):
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
