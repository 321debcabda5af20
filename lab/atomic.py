"""Atomic file writes: readers see the old file or the new one, never a torn one.

Every file is written to a temp file in the same folder and moved over the target with
``os.replace``, so a killed run never leaves a half-written JSON or YAML behind.

A write the disk refuses (full, over quota, or over the process's file-size limit, ``ulimit -f``)
removes its temp file, leaves the old target as it was, and raises ``OSError`` with that errno
and the *target* as ``filename`` (a bare ``write()`` error names no file), so the CLI wrapper
(``lab.cli``) can say in one line what was not written and where. ``disk_refusal`` tells such a
refusal apart when a library (torch's zip writer) turns it into a ``RuntimeError``.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

# the errnos of a disk that refuses a write: full, over quota, over the file-size limit
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
FULL_BELOW_BYTES = 1 << 20  # a file system with less free space than this counts as full


def disk_refusal(path: str | os.PathLike[str], partial_bytes: int = -1) -> OSError | None:
    """The ``OSError`` (ENOSPC or EFBIG, naming ``path``) when a failed write of ``path`` is
    explained by the disk: its file system has under 1 MiB free, or ``partial_bytes`` (what the
    writer got onto disk) reached the soft file-size limit. None otherwise (a real bug)."""
    path = Path(path)
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY and partial_bytes >= limit:
        return OSError(errno.EFBIG, os.strerror(errno.EFBIG), str(path))
    folder = next((p for p in (path, *path.parents) if p.is_dir()), Path("."))
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    if st.f_bavail * st.f_frsize < FULL_BELOW_BYTES:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    return None


def _named(err: BaseException, path: Path, partial_bytes: int) -> OSError | None:
    """The disk refusal behind ``err`` (itself, or an ``OSError`` it was raised from: torch
    wraps it in a ``RuntimeError``) as an ``OSError`` naming ``path``; None if not one."""
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno in DISK_ERRNOS:
            return OSError(cause.errno, cause.strerror or os.strerror(cause.errno), str(path))
        cause = cause.__cause__ or cause.__context__
    if isinstance(err, Exception):
        return disk_refusal(path, partial_bytes)
    return None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temp file in the same folder and ``os.replace``.

    ``os.replace`` is atomic on POSIX and Windows when source and target share a filesystem,
    which the same folder guarantees: readers see the old file or the new one, never a torn one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600; give the file the mode a plain open() would (0666 & ~umask)
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        refused = _named(err, path, _size(Path(tmp)))
        Path(tmp).unlink(missing_ok=True)
        if refused is not None:
            raise refused from err
        raise
    return path


def _umask() -> int:
    """The process umask (read by setting and restoring it: there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """UTF-8 text version of :func:`atomic_write_bytes`."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON (keys in insertion order, trailing newline), atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def atomic_write_yaml(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as block-style YAML (key order preserved), atomically."""
    return atomic_write_text(path, yaml.safe_dump(obj, sort_keys=False, default_flow_style=False))


def atomic_save(path: str | os.PathLike[str], save_fn: Callable[[Path], None]) -> Path:
    """Atomically produce ``path`` with a writer that only accepts a filename (e.g. ``model.save``).

    ``save_fn`` writes to a temp path with the same suffix (SB3 appends ``.zip`` when missing,
    so the suffix must be kept), then the temp file is fsync-ed and moved over ``path``. A
    SIGKILL inside ``save_fn`` leaves the temp (``.<stem>.tmp<pid><suffix>``), which
    ``agents.resume.state.clean_stale_temps`` removes on resume.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        save_fn(tmp)
        with open(tmp, "rb") as fh:  # on disk before the rename: a crash leaves old or new
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        refused = _named(err, path, _size(tmp))
        tmp.unlink(missing_ok=True)
        if refused is not None:  # torch's zip writer says RuntimeError: name the file instead
            raise refused from err
        raise
    return path


def _json_default(obj: Any) -> Any:
    """JSON fallback for numpy scalars/arrays and paths."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def append_line(path: Path, line: str) -> None:
    """Append a line to a small text file, atomically (read, add, replace)."""
    old = path.read_text() if path.is_file() else ""
    atomic_write_text(path, old + line.rstrip("\n") + "\n")
