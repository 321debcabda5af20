"""Starting or joining Ray quietly, within a stated time, with token authentication handled.

* Quiet: Ray's Python log (its token-authentication warning, "Started a local Ray instance",
  ...) and whatever its C++ core writes to the driver's stderr while connecting go to
  ``ray.log`` in the run folder (``RayLog``), never to the terminal.
* Token authentication (Ray >= 2.5x): with a token on this machine (``RAY_AUTH_TOKEN``,
  ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``), or for a new local Ray, the driver sets
  ``RAY_AUTH_MODE=token`` itself (unless the user set it), so Ray neither warns nor refuses.
* Bounded: an ``--address`` is first probed over TCP (a dead port or host fails within
  ``RAY_CONNECT_TIMEOUT_S`` seconds, 30 by default, ``RLTRADE_RAY_TIMEOUT_S`` to change), then
  ``ray.init`` itself gets the same time; every failure to start or join is one ``ConfigError``
  line with the fix (how to check the head, what token authentication needs).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lab.config import ConfigError

RAY_CONNECT_TIMEOUT_S = 30.0
TIMEOUT_ENV = "RLTRADE_RAY_TIMEOUT_S"
LOG_NAME = "ray.log"
CHECK = "check the head with .venv/bin/ray status --address {a} (start one: README 'A Ray cluster')"
TOKEN_FIX = (
    "the cluster uses token authentication: put the head's ~/.ray/auth_token on this machine "
    "(or set RAY_AUTH_TOKEN) and RAY_AUTH_MODE=token"
)


def connect_timeout_s() -> float:
    """Seconds allowed to reach a cluster (``RLTRADE_RAY_TIMEOUT_S``, default 30)."""
    raw = os.environ.get(TIMEOUT_ENV, "")
    try:
        value = float(raw) if raw else RAY_CONNECT_TIMEOUT_S
    except ValueError:
        raise ConfigError(f"{TIMEOUT_ENV}={raw!r}: give a number of seconds (e.g. 30)") from None
    if not 0 < value <= 3600:
        raise ConfigError(f"{TIMEOUT_ENV}={raw!r}: give a number of seconds from 1 to 3600")
    return value


def token_available() -> bool:
    """Whether Ray would find an authentication token on this machine."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return True
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    return Path(path).is_file() if path else (Path.home() / ".ray" / "auth_token").is_file()


def auth_env(address: str | None) -> dict[str, str]:
    """Environment the driver sets before ``ray.init``: token mode for a new local Ray (Ray's
    own default, said without its warning) or when a token is present; nothing if the user
    chose a mode."""
    if "RAY_AUTH_MODE" in os.environ:
        return {}
    if address is None or token_available():
        return {"RAY_AUTH_MODE": "token"}
    return {}


def set_auth_mode(env: dict[str, str]) -> None:
    """Set ``RAY_AUTH_MODE`` and make the already imported Ray core read it again (what Ray
    does itself when it enables token mode, ``_enable_token_auth``)."""
    if not env:
        return
    os.environ.update(env)
    try:
        from ray._raylet import Config  # type: ignore[attr-defined]  # private, hence guarded

        Config.initialize("")
    except (ImportError, AttributeError):  # another Ray: the environment alone has to do
        pass


def probe(address: str | None, timeout_s: float | None = None) -> None:
    """A TCP connection to the address's host and port, within ``timeout_s`` (default
    ``connect_timeout_s()``); ``auto`` is found by Ray itself on this machine."""
    timeout_s = connect_timeout_s() if timeout_s is None else timeout_s
    if address is None or address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except TimeoutError:
        raise ConfigError(
            f"--address {address}: nothing answered within {timeout_s:.0f} s; "
            + CHECK.format(a=address)
        ) from None
    except OSError as err:
        raise ConfigError(
            f"--address {address}: cannot connect ({err.strerror or err}); is the Ray head "
            "running there? " + CHECK.format(a=address)
        ) from None


class RayLog:
    """Ray's log for one engine: a file in the run folder, or a temporary file until the run
    folder is known (``move_to``)."""

    def __init__(self, log_dir: Path | None) -> None:
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            self.path = log_dir / LOG_NAME
            self.temporary = False
        else:
            fd, name = tempfile.mkstemp(prefix="rltrade-ray-", suffix=".log")
            os.close(fd)
            self.path, self.temporary = Path(name), True
        self._logger = logging.getLogger("ray")
        self._saved = (self._logger.propagate, list(self._logger.handlers), self._logger.level)
        self._handler: logging.Handler | None = None
        self._attach()

    def _attach(self) -> None:
        self._handler = logging.FileHandler(self.path, encoding="utf-8")
        self._handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        for h in list(self._logger.handlers):
            self._logger.removeHandler(h)
        self._logger.addHandler(self._handler)
        self._logger.setLevel(logging.INFO)
        self._logger.propagate = False

    def reattach(self) -> None:
        """Take the ``ray`` logger again: ``ray.init(configure_logging=False)`` clears its
        handlers (its messages during init reach file descriptor 2, redirected here too)."""
        self._detach()
        self._attach()

    def _detach(self) -> None:
        if self._handler is not None:
            self._logger.removeHandler(self._handler)
            self._handler.close()
            self._handler = None

    def move_to(self, log_dir: Path) -> Path:
        """Continue the log in ``log_dir/ray.log`` (what was logged so far is moved there)."""
        if not self.temporary:
            return self.path
        self._detach()
        dest = log_dir / LOG_NAME
        with self.path.open("rb") as src, dest.open("ab") as out:
            shutil.copyfileobj(src, out)
        self.path.unlink(missing_ok=True)
        self.path, self.temporary = dest, False
        self._attach()
        return dest

    def close(self, failed: bool = False) -> None:
        """Give the ``ray`` logger back; a temporary log is removed unless Ray failed."""
        self._detach()
        propagate, handlers, level = self._saved
        for h in handlers:
            self._logger.addHandler(h)
        self._logger.propagate, self._logger.level = propagate, level
        if self.temporary and not failed:
            self.path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def stderr_to_log(self) -> Iterator[None]:
        """Ray's C++ core writes to file descriptor 2 while it connects: into the log too."""
        sys.stderr.flush()
        saved = os.dup(2)
        with self.path.open("ab") as f:
            os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def start(init_kwargs: dict[str, Any], address: str | None, log: RayLog) -> None:
    """``ray.init(**init_kwargs)`` with auth set, quiet, bounded; a failure is one line."""
    import ray  # an optional heavy library: only engines that use Ray import it

    timeout_s = connect_timeout_s()
    set_auth_mode(auth_env(address))
    outcome: dict[str, BaseException | None] = {"error": None}

    def run() -> None:
        try:
            ray.init(**init_kwargs)
        except BaseException as err:  # noqa: BLE001  (re-raised below as one line)
            outcome["error"] = err

    with log.stderr_to_log():
        if address is None:  # a new local Ray: in the main thread (its signal handlers)
            run()
        else:  # joining: a thread, so that a head that never answers costs timeout_s at most
            worker = threading.Thread(target=run, name="ray-init", daemon=True)
            worker.start()
            worker.join(timeout_s)
    log.reattach()
    where = f"--address {address}" if address else "a local Ray"
    if address is not None and worker.is_alive():
        raise ConfigError(
            f"{where}: Ray did not connect within {timeout_s:.0f} s (a port that answers but "
            f"is no Ray head?); {CHECK.format(a=address)}; Ray's log: {log.path}"
        )
    err = outcome["error"]
    if err is not None:
        text = " ".join(str(err).split())
        first = text[:240] or type(err).__name__
        fix = (
            TOKEN_FIX
            if "auth" in text.lower() or "token" in text.lower()
            else (CHECK.format(a=address) if address else "see Ray's log")
        )
        raise ConfigError(
            f"{where}: Ray did not start ({type(err).__name__}: {first}); {fix}; "
            f"Ray's log: {log.path}"
        )
