"""Output folders given on the command line (``--run-dir``, ``--out``): checked before anything
is written, so a bad one is one line and nothing on disk changes.

Refused: an existing plain file (a folder is expected), anything inside the repository's
``data/`` (the shipped, hash-protected data files live there), and an existing non-empty folder
(a fresh output never overwrites another run's files), unless the caller resumes into it.
"""

from __future__ import annotations

import os
from pathlib import Path

from lab.config import ConfigError

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def check_output_dir(
    path: str | os.PathLike[str], flag: str, *, allow_nonempty: bool = False
) -> Path:
    """``path`` if it may receive a fresh output; else ``ConfigError`` / ``FileExistsError``
    naming ``flag``, the path and the fix."""
    if not str(path).strip():
        raise ConfigError(f"{flag} is empty; give a folder path")
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{flag} {p} is a file, not a folder; give a new or empty folder")
    try:
        resolved = p.resolve()
    except (RuntimeError, OSError) as err:  # a symlink loop (RuntimeError before Python 3.13)
        raise ConfigError(
            f"{flag} {p}: cannot be resolved ({err}); give a plain folder path"
        ) from None
    blocker = next((a for a in resolved.parents if a.exists() and not a.is_dir()), None)
    if blocker is not None:
        raise ConfigError(f"{flag} {p}: {blocker} is a file, not a folder; give another path")
    if resolved == DATA_DIR or DATA_DIR in resolved.parents:
        raise ConfigError(
            f"{flag} {p} is inside data/, which holds the shipped, hash-protected data; "
            "write outputs under runs/ or another folder"
        )
    if not allow_nonempty and p.is_dir() and any(p.iterdir()):
        raise FileExistsError(
            f"{flag} {p} already exists and is not empty; give a new or empty folder "
            "(nothing in it is overwritten)"
        )
    return p


def make_output_dir(path: Path, flag: str) -> None:
    """``mkdir -p`` with an ``OSError`` (read-only file system, /proc, no permission, disk
    full) turned into one line naming ``flag`` and the path."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(
            f"{flag} {path}: cannot create the folder ({err.strerror or err}); "
            "give a writable folder"
        ) from None
