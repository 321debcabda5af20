"""Checks on what the trial ledger reads back: a damaged line is an error, never a silent drop.

One malformed record would change the deflated Sharpe of every later evaluation (a NaN val
Sharpe once lifted buy-and-hold's DSR from 0.00013 to 0.987 by emptying the trial variance), so
``check_record`` refuses, naming the file, the line and the fix: a line that is not a JSON object,
a missing or mistyped field, a non-finite or absurd Sharpe, a bad returns pointer. A last line
without its newline is a torn append (a crash or a full disk mid-write): ``torn_tail_message``
says how to cut it off.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from lab.config import ConfigError

# |annualised val Sharpe| above this is a damaged value, not a result (the best planted
# synthetic markets score ~15; real markets < 5)
MAX_ABS_VAL_SHARPE = 100.0
REQUIRED: dict[str, type | tuple[type, ...]] = {
    "market": str,
    "source": str,
    "algo": str,
    "config_hash": str,
    "periods_per_year": (int, float),
}
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
FIX = (
    "the ledger is append-only: restore the line from a backup or correct the value "
    "(deleting it removes a trial from every deflated Sharpe)"
)


class LedgerError(ConfigError):
    """A damaged ledger or returns file (a user error: one line, exit 2, via ``lab.cli``)."""


def _where(path: Path, lineno: int) -> str:
    return f"{path} line {lineno}"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_sharpe(value: Any, where: str) -> None:
    if value is None:
        return  # an always-flat policy: stored null, counted as 0
    if not _number(value) or not math.isfinite(float(value)):
        raise LedgerError(f"{where}: val_sharpe {value!r} is not a finite number or null; {FIX}")
    if abs(float(value)) > MAX_ABS_VAL_SHARPE:
        raise LedgerError(
            f"{where}: val_sharpe {value!r} is absurd (|Sharpe| > {MAX_ABS_VAL_SHARPE:g}); {FIX}"
        )


def _check_returns(value: Any, where: str) -> None:
    if value is None:
        return
    ok = (
        isinstance(value, dict)
        and isinstance(value.get("file"), str)
        and re.fullmatch(r"ledger_returns/[0-9a-f]{64}\.npy", value["file"]) is not None
        and isinstance(value.get("sha256"), str)
        and SHA256_RE.match(value["sha256"]) is not None
        and isinstance(value.get("n_bars"), int)
        and not isinstance(value.get("n_bars"), bool)
        and (
            "bars_file" not in value
            or re.fullmatch(r"ledger_returns/bars_[0-9a-f]{64}\.npy", str(value["bars_file"]))
            is not None
        )
    )
    if not ok:
        raise LedgerError(
            f"{where}: 'returns' must be {{file: ledger_returns/<sha256>.npy, sha256, n_bars}}, "
            f"got {value!r}; {FIX}"
        )


def check_record(obj: Any, path: Path, lineno: int, sources: tuple[str, ...]) -> dict[str, Any]:
    """``obj`` (one parsed line) if it is a well-formed record, else ``LedgerError``."""
    where = _where(path, lineno)
    if not isinstance(obj, dict):
        raise LedgerError(f"{where}: a JSON {type(obj).__name__}, not a record object; {FIX}")
    for key, typ in REQUIRED.items():
        if key not in obj:
            raise LedgerError(f"{where}: field {key!r} is missing; {FIX}")
        if not isinstance(obj[key], typ) or isinstance(obj[key], bool):
            raise LedgerError(f"{where}: field {key!r} = {obj[key]!r} has the wrong type; {FIX}")
    if "val_sharpe" not in obj:
        raise LedgerError(f"{where}: field 'val_sharpe' is missing (null if none); {FIX}")
    if obj["source"] not in sources:
        raise LedgerError(
            f"{where}: source {obj['source']!r} is not one of {', '.join(sources)}; {FIX}"
        )
    ppy = float(obj["periods_per_year"])
    if not math.isfinite(ppy) or ppy <= 0:
        raise LedgerError(f"{where}: periods_per_year {ppy!r} must be a positive number; {FIX}")
    _check_sharpe(obj["val_sharpe"], where)
    if not isinstance(obj.get("extra", {}), dict):
        raise LedgerError(f"{where}: field 'extra' must be an object, got {obj['extra']!r}; {FIX}")
    _check_returns(obj.get("returns"), where)
    return obj


def torn_tail_message(path: Path, lineno: int, keep_bytes: int) -> str:
    """The error for a last line without its newline (an interrupted append) and its fix."""
    return (
        f"{path} line {lineno}: the last line is torn (no newline: an append was interrupted by "
        f"a crash or a full disk); cut it off with `truncate -s {keep_bytes} {path}` (the "
        "trial it held was not recorded: rerun it), then retry"
    )
