"""Per-bar val returns of every ledger trial, one ``.npy`` per trial beside the ledger.

A trial's deflated Sharpe needs one number, but the probability of backtest overfitting
(Bailey, Borwein, Lopez de Prado, Zhu 2017) and Hansen's SPA test need each trial's returns
bar by bar. ``store_returns`` writes them as ``<market dir>/ledger_returns/<sha256>.npy``
(float64, ``allow_pickle=False``, named by the sha256 of the file's bytes, so identical returns
are stored once and a file cannot be swapped unnoticed) before the ledger line that points to
it (``returns: {file, sha256, n_bars, bars_sha256}``; ``bars_sha256`` hashes the bars'
timestamps, so trials on the same val block can be lined up). ``load_returns`` checks the
sha256 and the length; ``trial_returns`` gives the matrix of one val block (a column per
configuration, the mean over its seeds).
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lab.atomic import atomic_write_bytes
from lab.ledger_check import LedgerError

RETURNS_DIR = "ledger_returns"


def bars_key(timestamps: np.ndarray) -> str:
    """sha256 of the int64 bar timestamps: equal keys = the same val block."""
    return hashlib.sha256(np.ascontiguousarray(timestamps, dtype=np.int64).tobytes()).hexdigest()


def _save_npy(target: Path, arr: np.ndarray) -> str:
    """Write ``arr`` as .npy (no pickle) atomically unless the file exists; its sha256."""
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    data = buf.getvalue()
    if not target.is_file():  # content-addressed: an existing file holds these very bytes
        atomic_write_bytes(target, data)
    return hashlib.sha256(data).hexdigest()


def store_returns(
    market_dir: Path, returns: np.ndarray, timestamps: np.ndarray | None = None
) -> dict[str, Any]:
    """Write ``returns`` (1-D, finite) atomically; the ledger record's ``returns`` pointer.
    ``timestamps`` go to ``ledger_returns/bars_<bars_sha256>.npy`` (shared by every trial on
    the same bars), so trials on slightly different bars can be lined up later."""
    arr = np.ascontiguousarray(returns, dtype=np.float64)
    if arr.ndim != 1 or not np.isfinite(arr).all():
        raise ValueError("val returns must be a 1-D array of finite numbers")
    if timestamps is not None and len(timestamps) != len(arr):
        raise ValueError(f"{len(timestamps)} timestamps for {len(arr)} returns")
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    sha = hashlib.sha256(buf.getvalue()).hexdigest()
    rel = f"{RETURNS_DIR}/{sha}.npy"
    _save_npy(market_dir / rel, arr)
    out: dict[str, Any] = {"file": rel, "sha256": sha, "n_bars": int(arr.size)}
    if timestamps is not None:
        ts = np.ascontiguousarray(timestamps, dtype=np.int64)
        key = bars_key(ts)
        out["bars_sha256"] = key
        out["bars_file"] = f"{RETURNS_DIR}/bars_{key}.npy"
        _save_npy(market_dir / out["bars_file"], ts)
    return out


def load_bars(ledger_file: Path, pointer: Mapping[str, Any]) -> np.ndarray | None:
    """The bar timestamps a record's returns were measured on (None if it stored none),
    checked against its ``bars_sha256``."""
    rel = pointer.get("bars_file")
    if not rel:
        return None
    path = ledger_file.parent / str(rel)
    try:
        ts = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise LedgerError(
            f"{path}: unreadable bars file ({err}); restore it from a backup"
        ) from None
    if ts.dtype != np.int64 or bars_key(ts) != pointer.get("bars_sha256"):
        raise LedgerError(f"{path}: not the bars its records name (sha256 differs); restore it")
    return np.asarray(ts)


def load_returns(ledger_file: Path, pointer: Mapping[str, Any], lineno: int = 0) -> np.ndarray:
    """The returns a record points to, checked (sha256, length, dtype); else ``LedgerError``."""
    path = ledger_file.parent / str(pointer["file"])
    where = f"{ledger_file} line {lineno}" if lineno else str(ledger_file)
    if not path.is_file():
        raise LedgerError(
            f"{where}: its returns file {path} is missing; restore it from a backup (PBO and SPA "
            "need every trial's returns)"
        )
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != pointer["sha256"]:
        raise LedgerError(
            f"{path}: sha256 differs from the one {where} recorded; the file was changed: "
            "restore it from a backup"
        )
    arr = np.load(io.BytesIO(data), allow_pickle=False)
    if arr.dtype != np.float64 or arr.ndim != 1 or arr.size != int(pointer["n_bars"]):
        raise LedgerError(f"{path}: not the 1-D float64 array of {pointer['n_bars']} bars")
    return np.asarray(arr)


@dataclass
class TrialReturns:
    """The val returns of the trials of one val block: ``matrix[:, j]`` is configuration
    ``config_hashes[j]`` (mean over its ``n_seeds[j]`` records), labelled ``labels[j]``."""

    bars_sha256: str
    config_hashes: list[str]
    labels: list[str]
    matrix: np.ndarray  # (n_bars, n_trials)
    n_seeds: list[int] = field(default_factory=list)
    timestamps: np.ndarray | None = None  # the bars (None: the records stored none)


def trial_returns(
    records: Iterable[tuple[int, Mapping[str, Any]]], ledger_file: Path
) -> list[TrialReturns]:
    """Group ``(lineno, record)`` pairs with returns by val block, most trials first."""
    by_block: dict[str, dict[str, list[np.ndarray]]] = defaultdict(lambda: defaultdict(list))
    labels: dict[str, str] = {}
    bars: dict[str, np.ndarray | None] = {}
    for lineno, rec in records:
        ptr = rec.get("returns")
        if not ptr:
            continue
        block = str(ptr.get("bars_sha256") or f"n{ptr['n_bars']}")
        h = str(rec["config_hash"])
        by_block[block][h].append(load_returns(ledger_file, ptr, lineno))
        params = (rec.get("extra") or {}).get("params")
        inner = (
            ",".join(f"{k}={v}" for k, v in sorted(params.items()))
            if isinstance(params, dict)
            else ""
        )
        labels.setdefault(
            h, f"{rec['algo']}[{inner}]" if inner else f"{rec['source']}:{rec['algo']}:{h[:8]}"
        )
        if block not in bars:
            bars[block] = load_bars(ledger_file, ptr)
    out = []
    for block, trials in by_block.items():
        lengths = Counter(len(r) for rs in trials.values() for r in rs)
        if len(lengths) > 1:
            raise LedgerError(f"{ledger_file}: val block {block[:12]} has returns of lengths "
                              f"{sorted(lengths)}; the files do not match their records")  # fmt: skip
        hashes = list(trials)
        mat = np.column_stack([np.mean(trials[h], axis=0) for h in hashes])
        out.append(
            TrialReturns(
                block,
                hashes,
                [labels[h] for h in hashes],
                mat,
                [len(trials[h]) for h in hashes],
                bars[block],
            )  # fmt: skip
        )
    return sorted(out, key=lambda t: -t.matrix.shape[1])


def aligned_block(blocks: list[TrialReturns], min_overlap: float = 0.9) -> TrialReturns | None:
    """One matrix from the largest block and every other block whose bars cover at least
    ``min_overlap`` of its bars (trials of one val split whose passes skipped a few different
    bars, e.g. another observation window after a data gap), on the bars all of them hold."""
    if not blocks:
        return None
    anchor = blocks[0]
    if anchor.timestamps is None:
        return anchor
    common = anchor.timestamps
    chosen = [anchor]
    for b in blocks[1:]:
        if b.timestamps is None:
            continue
        shared = np.intersect1d(common, b.timestamps, assume_unique=True)
        if shared.size >= min_overlap * anchor.timestamps.size:
            common, chosen = shared, [*chosen, b]
    cols, hashes, labels, seeds = [], [], [], []
    for b in chosen:
        assert b.timestamps is not None
        rows = np.searchsorted(b.timestamps, common)
        cols.append(b.matrix[rows])
        hashes += b.config_hashes
        labels += b.labels
        seeds += b.n_seeds
    key = bars_key(common)
    return TrialReturns(key, hashes, labels, np.column_stack(cols), seeds, common)


RUN_RETURNS_FILE = "val_returns.npz"  # in a run folder: the val pass its ledger record points to


def save_run_returns(run_dir: Path, returns: np.ndarray, timestamps: np.ndarray) -> Path:
    """Write the run's val per-bar returns and bar timestamps (``val_returns.npz``, no pickle)
    for its ledger record (``run_returns``), atomically."""
    buf = io.BytesIO()
    np.savez(
        buf,
        returns=np.nan_to_num(np.asarray(returns, dtype=np.float64)),
        timestamps=np.asarray(timestamps, dtype=np.int64),
    )
    return atomic_write_bytes(Path(run_dir) / RUN_RETURNS_FILE, buf.getvalue())


def run_returns(run_dir: Path | None) -> dict[str, np.ndarray]:
    """``{"val_returns", "val_timestamps"}`` for ``append_record`` from a run folder's
    ``val_returns.npz``; ``{}`` when the run wrote none (an older run: recorded without)."""
    path = Path(run_dir) / RUN_RETURNS_FILE if run_dir is not None else None
    if path is None or not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as z:
            rets, ts = np.asarray(z["returns"]), np.asarray(z["timestamps"])
    except (OSError, ValueError, KeyError) as err:
        raise LedgerError(f"{path}: not a val returns file ({err}); delete it and rerun") from None
    if rets.ndim != 1 or ts.shape != rets.shape:
        raise LedgerError(f"{path}: returns and timestamps differ in shape; delete it and rerun")
    return {"val_returns": rets, "val_timestamps": ts}
