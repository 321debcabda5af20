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
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import yaml

from lab.config import ConfigError
from lab.rundir import discard_unfinished, kept_unfinished

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
}


def environment_error_line(err: OSError) -> str | None:
    """One line for an ``OSError`` of the machine (disk full, read-only, name too long), naming
    the path and the fix; None for any other ``OSError`` (a bug keeps its traceback)."""
    fix = ENVIRONMENT_ERRNOS.get(err.errno or 0)
    if fix is None:
        return None
    where = " -> ".join(str(f) for f in (err.filename, err.filename2) if f is not None)
    return f"{where + ': ' if where else ''}{err.strerror or err} ({fix}); rerun once fixed"


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
        discard_unfinished()
        line = environment_error_line(err)
        if debug or line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
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
    except BaseException:
        discard_unfinished()
        raise
    return result if isinstance(result, int) and not isinstance(result, bool) else 0
