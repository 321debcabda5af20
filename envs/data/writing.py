"""Write candle files atomically, never over their source or a shipped file.

``check_out(out, inputs)`` refuses an output path that resolves (symlinks and
``..`` followed) to one of the files the command read, or to any file shipped
in ``data/`` (the presets' hash-protected files), before anything is
computed or written. ``write_candles`` writes a temp file beside ``out`` and
renames it into place, so a failure never leaves a half-written file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from envs.data.errors import DataValidationError
from envs.preset_table import BITSTAMP_2011, PRESETS

OUT_SUFFIXES = (".csv", ".gz", ".parquet", ".pq")


def shipped_files() -> set[Path]:
    """Resolved paths of the hash-protected files shipped in data/ (candles, funding, Bitstamp)."""
    files = {BITSTAMP_2011.path}
    for p in PRESETS.values():
        files.add(p.candles.path)
        if p.funding is not None:
            files.add(p.funding.path)
    return {f.resolve() for f in files}


def check_out(out: Path, inputs: Iterable[str | os.PathLike]) -> None:
    """Refuse ``out`` when it is an input, a shipped data file, a directory or a wrong type."""
    try:
        target = Path(out).expanduser().resolve()
    except (RuntimeError, OSError) as err:  # a symlink loop (RuntimeError before Python 3.13)
        raise DataValidationError(
            f"--out {out}: cannot be resolved ({err}); give a plain new file path"
        ) from None
    read = {Path(p).expanduser().resolve() for p in inputs}
    if target in read:
        raise DataValidationError(
            f"--out {out}: is the input file itself; write to a new file (nothing was written)"
        )
    if target in shipped_files():
        raise DataValidationError(
            f"--out {out}: is a shipped, hash-protected data file; write to a new file outside "
            "data/ (nothing was written)"
        )
    if target.is_dir():
        raise DataValidationError(f"--out {out}: is a directory; give a file name")
    if target.exists() and not target.is_file():
        raise DataValidationError(
            f"--out {out}: exists and is not a regular file (a FIFO, socket or device); "
            "give a new file name (nothing was written)"
        )
    blocker = next((p for p in target.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise DataValidationError(
            f"--out {out}: {blocker} is a file, not a folder; give a path inside a folder "
            "(nothing was written)"
        )
    if target.suffix.lower() not in OUT_SUFFIXES:
        raise DataValidationError(f"--out {out}: use a .csv, .csv.gz or .parquet file name")


def write_candles(frame: pd.DataFrame, out: Path) -> None:
    """Write to a temp file beside ``out`` and rename it into place: never a half-written file."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        if out.suffix.lower() in (".parquet", ".pq"):
            frame.to_parquet(tmp)
        else:
            table = frame.copy()
            table.index = table.index.strftime("%Y-%m-%dT%H:%M:%SZ")
            table.index.name = "timestamp"
            compression = {"method": "gzip", "mtime": 0} if out.suffix.lower() == ".gz" else None
            table.to_csv(tmp, compression=compression)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
