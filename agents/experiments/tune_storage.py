"""Where a study lives: the storage URL checked before anything is written, the study opened.

A SQLite storage (the default ``<study folder>/study.db`` or ``--storage sqlite:///PATH``) is
checked by hand first, because SQLAlchemy and Optuna answer a bad one with a traceback: its
folder must exist and be writable (SQLite writes a journal beside the file), and an existing
file must be a readable SQLite database holding Optuna's tables (a damaged file, another kind of
file or another program's database is refused, never written into). Whatever the database
itself still refuses when Optuna opens it (a server that does not answer, a schema of another
Optuna version) is one line too.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import optuna
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from lab.config import ConfigError

SQLITE_MAGIC = b"SQLite format 3\x00"
OPTUNA_TABLES = {"studies", "trials", "version_info"}
FIX = "give --storage a new file in a writable folder (e.g. sqlite:///runs/study.db)"


def check_storage(url: str) -> None:
    """A database URL SQLAlchemy can load a driver for; a SQLite one also a usable file."""
    try:
        parsed = make_url(url)
        parsed.get_dialect()
    except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as err:
        raise ConfigError(
            f"--storage {url!r}: not a usable database URL ({err}); e.g. "
            "sqlite:///runs/study.db or postgresql://user@host/db"
        ) from None
    path = sqlite_path(url)
    if path is not None:
        check_sqlite_file(path, f"--storage {url}")


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for another database or an in-memory one)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(str(parsed.database))


def check_sqlite_file(path: Path, label: str) -> None:
    """The folder exists and is writable; an existing file is an Optuna SQLite database."""
    folder = path.parent
    if not folder.is_dir():
        raise ConfigError(
            f"{label}: the folder {folder} does not exist; create it (mkdir -p {folder}) or {FIX}"
        )
    _check_writable(folder, label)
    if not path.exists():
        return
    if not path.is_file():
        raise ConfigError(f"{label}: {path} is not a file; {FIX}")
    if path.stat().st_size == 0:  # SQLite's own empty database: Optuna creates its tables
        return
    with path.open("rb") as f:
        head = f.read(len(SQLITE_MAGIC))
    if head != SQLITE_MAGIC:
        raise ConfigError(
            f"{label}: {path} is not a SQLite database (damaged, or another kind of file); "
            f"move it away or {FIX}"
        )
    tables = _tables(path, label)
    if tables and not OPTUNA_TABLES <= tables:
        raise ConfigError(
            f"{label}: {path} is another program's SQLite database (tables: "
            f"{', '.join(sorted(tables)[:5])}), not an Optuna study; it is left untouched; {FIX}"
        )
    if not os.access(path, os.W_OK):
        raise ConfigError(f"{label}: {path} is read-only; make it writable or {FIX}")


def _check_writable(folder: Path, label: str) -> None:
    """SQLite writes the file and a journal beside it: the folder must take new files (a
    read-only mount answers False here even for root). Nothing is written to find out."""
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{label}: the folder {folder} is not writable (read-only); {FIX}")


def _tables(path: Path, label: str) -> set[str]:
    """The table names of a SQLite file opened read-only; a damaged file is one line."""
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = con.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
            con.execute("PRAGMA quick_check").fetchall()
        finally:
            con.close()
    except sqlite3.DatabaseError as err:
        raise ConfigError(
            f"{label}: {path} is a damaged SQLite database ({err}); move it away or {FIX}"
        ) from None
    return {str(r[0]) for r in rows}


def open_study(
    name: str, url: str, sampler: optuna.samplers.BaseSampler, pruner: optuna.pruners.BasePruner
) -> optuna.Study:
    """Create or load the study; what the database refuses is one line naming the URL. A
    SQLite file this call created and could not finish (a full disk) is removed again."""
    path = sqlite_path(url)
    fresh = path is not None and not path.exists()
    try:
        return optuna.create_study(
            study_name=name,
            storage=url,
            load_if_exists=True,
            direction="maximize",
            sampler=sampler,
            pruner=pruner,
        )
    except (SQLAlchemyError, RuntimeError) as err:  # RuntimeError: Optuna's schema version check
        line = " ".join(str(err).split())[:300]
        if path is not None and _disk_refused(err):
            if fresh:
                _remove_sqlite(path)
            raise ConfigError(
                f"--storage {url}: the disk refused the write to {path} (SQLite: "
                f"{_sqlite_reason(err)}: a full disk or the file-size limit (ulimit -f)); "
                f"{'it was not created' if fresh else 'the study in it is as it was'}; free "
                "space or raise the limit, then rerun"
            ) from None
        raise ConfigError(
            f"--storage {url}: the database refused the study ({line}); check the database "
            f"answers and holds an Optuna study of this version, or {FIX}"
        ) from None


SQLITE_DISK_ERRORS = ("disk I/O error", "database or disk is full")


def _sqlite_reason(err: BaseException) -> str:
    text = str(getattr(err, "orig", None) or err)
    return next((m for m in SQLITE_DISK_ERRORS if m in text), text[:80])


def _disk_refused(err: BaseException) -> bool:
    """SQLite's answer to a write the disk refused (ENOSPC, EFBIG): it names no errno."""
    text = str(getattr(err, "orig", None) or err)
    return any(m in text for m in SQLITE_DISK_ERRORS)


def _remove_sqlite(path: Path) -> None:
    """The database file and its journals, made by this call and left unfinished."""
    for p in (path, *(path.with_name(path.name + s) for s in ("-journal", "-wal", "-shm"))):
        p.unlink(missing_ok=True)
