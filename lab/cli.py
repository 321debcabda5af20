"""The one wrapper every ``__main__`` runs through: user errors are one line, bugs a traceback.

``run_cli(main, user_errors=(...))`` calls ``main()``. A user error (``ConfigError``, a missing
user file, an existing run folder, and whatever the caller adds, e.g. ``DataValidationError``)
prints ``error: <message>`` on stderr and exits 2; any other exception is a bug and keeps its
traceback; an ``OSError`` of the machine (disk full, read-only file system, a name too long)
is one line too (``environment_error_line``). ``--debug`` on the command line (removed before
``main`` parses it) or ``RLTRADE_DEBUG=1`` shows the traceback of user errors too. On any failure the run folders this
process created and that hold nothing but their provenance files are removed
(``lab.rundir.discard_unfinished``), so a retry with the same ``--run-dir`` works. Ctrl-C
(SIGINT) is not a crash either: the same clean-up, one line, exit 130 (a training run folder that
already holds checkpoints is kept, to be continued with ``--resume``). Every file the project
writes goes through ``lab.atomic`` (temp file + rename), so an interrupt leaves no half file.
"""

from __future__ import annotations

import errno
import io
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from lab.atomic import DISK_ERRNOS, disk_refusal
from lab.config import ConfigError
from lab.rundir import discard_unfinished, kept_unfinished, unfinished_dirs

DEBUG_FLAG = "--debug"
DEBUG_ENV = "RLTRADE_DEBUG"
BASE_USER_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError,
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,  # a file given where a folder is expected
    IsADirectoryError,  # a folder given where a file is expected
    PermissionError,  # an unreadable input or unwritable output
    yaml.YAMLError,  # a garbled config.yaml / YAML file given by the user
)
INTERRUPTED_EXIT = 130  # 128 + SIGINT, the shell convention
# an OSError the machine, not the code, caused: the fix is the user's (space, a writable place)
ENVIRONMENT_ERRNOS = {
    errno.ENOSPC: "the disk is full: free space or write elsewhere",
    errno.EDQUOT: "the disk quota is used up: free space or write elsewhere",
    errno.EROFS: "a read-only file system: write elsewhere",
    errno.ENAMETOOLONG: "a file name is too long: use a shorter path",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n) or use fewer workers",
    errno.EFBIG: "the file-size limit is reached: raise it (ulimit -f) or write elsewhere",
}


def environment_error_line(err: OSError) -> str | None:
    """One line for an ``OSError`` of the machine (disk full, read-only, name too long), naming
    the path and the fix; None for any other ``OSError`` (a bug keeps its traceback). A refused
    write (full disk, quota, file-size limit) also says what was not written and that the files
    written before it are intact (``lab.atomic`` writes whole files or nothing)."""
    fix = ENVIRONMENT_ERRNOS.get(err.errno or 0)
    if fix is None:
        return None
    where = " -> ".join(str(f) for f in (err.filename, err.filename2) if f is not None)
    line = f"{where + ': ' if where else ''}{err.strerror or err} ({fix})"
    if err.errno in DISK_ERRNOS:  # a copy names source -> destination: the destination failed
        written = err.filename2 if err.filename2 is not None else err.filename
        target = Path(str(written)) if written is not None else None
        if target is None:
            line += (
                "; the file being written was not written; every file written before it is intact"
            )
        elif target.is_dir():
            line += f"; the file being written in {target} was not written; every file before it is intact"
        else:
            line += (
                f"; {target.name} was not (completely) written; every file written before it in "
                f"{target.parent} is intact"
            )
    return f"{line}; rerun once fixed"


def disk_refusal_behind(err: BaseException) -> OSError | None:
    """The disk refusal (full, quota, file-size limit) that caused ``err``, if any: an ``OSError``
    with such an errno in its cause/context chain (Ray and torch wrap it), else the state of the
    run folders this process made (``lab.atomic.disk_refusal``: under 1 MiB free, or a file at
    the file-size limit)."""
    seen: set[int] = set()
    e: BaseException | None = err
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in DISK_ERRNOS:
            if e.filename is None and (name := _file_being_written(e)) is not None:
                return OSError(e.errno, e.strerror or os.strerror(e.errno), name)
            return e
        e = getattr(e, "cause", None) or e.__cause__ or e.__context__
    for folder in (d for d in unfinished_dirs() if d.is_dir()):
        files = [f for f in folder.rglob("*") if f.is_file()]
        biggest = max(files, key=lambda f: f.stat().st_size, default=None)
        if biggest is not None and disk_refusal(biggest, biggest.stat().st_size) is not None:
            return disk_refusal(biggest, biggest.stat().st_size)
        if disk_refusal(folder) is not None:
            return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(folder))
    return None


def _file_being_written(err: BaseException) -> str | None:
    """The name of the file a bare ``write()`` failed on (``with open(p, "w") as fh``,
    ``shutil.copyfileobj``): an open writable file among the locals of the frames the error
    went through, innermost first. None when there is none."""
    frames = []
    tb = err.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        for value in frame.f_locals.values():
            name = getattr(value, "name", None)
            mode = str(getattr(value, "mode", ""))
            if isinstance(value, io.IOBase) and isinstance(name, str) and set(mode) & set("wax+"):
                return name
    return None


def debug_requested(argv: list[str]) -> bool:
    """True when ``--debug`` is in ``argv`` or ``RLTRADE_DEBUG`` is set to a non-empty, non-0 value."""
    return DEBUG_FLAG in argv or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def run_cli(main: Callable[[], Any], user_errors: tuple[type[BaseException], ...] = ()) -> int:
    """Run ``main`` (it reads ``sys.argv``); return the exit code for ``raise SystemExit``."""
    debug = debug_requested(sys.argv)
    sys.argv = [a for a in sys.argv if a != DEBUG_FLAG]
    try:
        result = main()
    except (*BASE_USER_ERRORS, *user_errors) as err:
        discard_unfinished()
        if debug:
            raise
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)  # one line, always
        return 2
    except SystemExit as exc:
        if exc.code in (None, 0):
            raise
        discard_unfinished()
        if isinstance(exc.code, str):  # ``raise SystemExit("... error: ...")``: a user error
            print(exc.code if "error:" in exc.code else f"error: {exc.code}", file=sys.stderr)
            return 2
        raise
    except OSError as err:  # after the user errors above (PermissionError, FileNotFoundError)
        line = environment_error_line(disk_refusal_behind(err) or err)
        discard_unfinished()
        if debug or line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return _interrupted(debug)
    except Exception as err:  # a bug, unless a full disk (wrapped by a library) caused it
        refused = disk_refusal_behind(err)
        discard_unfinished()
        if debug or refused is None:
            raise
        print(f"error: {environment_error_line(refused)}", file=sys.stderr)
        return 2
    except BaseException:
        discard_unfinished()
        raise
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


def _interrupted(debug: bool) -> int:
    """Ctrl-C: clean up, one line, exit 130 (``--debug``: the traceback)."""
    # one Ctrl-C is the answer: a second one (or a library's late re-raise at shutdown)
    # must not turn the clean exit 130 into a death by SIGINT
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    kept = discard_unfinished()
    if debug:
        raise
    partial = kept_unfinished()
    print(
        "error: interrupted (Ctrl-C); nothing half-written was left"
        + (f" (removed the unfinished {', '.join(map(str, kept))})" if kept else "")
        + (
            f"; kept the unfinished {', '.join(map(str, partial))} (it holds partial "
            "results: rerun into a new folder)"
            if partial
            else ""
        )  # fmt: skip
        + "; rerun the command (a run folder with checkpoints continues with --resume)",
        file=sys.stderr,
    )
    return INTERRUPTED_EXIT
