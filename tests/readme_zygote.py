"""A fork server for ``tests/test_readme_commands.py``: ``python -m MODULE ARGS`` lines run in
children forked from one interpreter that has already imported the heavy libraries.

A fresh interpreter pays ~5 s of imports (torch, scikit-learn, skops, SB3) before a README
command does anything; the README test runs ~50 of them. Each child here is still its own
process (its own cwd, environment, stdin/stdout/stderr, exit code, session for a kill), started
from a parent that has only imported modules: no command's state reaches the next one. Import
errors of a fresh interpreter are covered elsewhere (CI runs the main job verbatim;
``test_help_in_a_fresh_interpreter_exits_0``).

Protocol, one JSON line each way on stdin/stdout:
``{"module", "argv", "cwd", "env", "out", "err"}`` -> ``{"pid"}`` at once, then ``{"rc"}`` when
the child ends (``-N``: killed by signal N).
"""

from __future__ import annotations

import json
import os
import re
import runpy
import select
import signal
import subprocess
import sys
import traceback
import warnings
from pathlib import Path
from typing import NoReturn

STARTUP_S = 120  # the server's imports, and a fork's answer

# imported once here, inherited by every child (none of them starts a thread pool on import)
PRELOAD = (
    "numpy", "pandas", "torch", "sklearn.ensemble", "skops.io", "stable_baselines3",
    "sb3_contrib", "gymnasium", "agents.training.train_rl", "supervised.trees.policy",
)  # fmt: skip


def exit_status(code: object) -> int:
    """The process exit status of ``SystemExit(code)``: an int as is, None 0, anything else 1."""
    return code if isinstance(code, int) else (0 if code is None else 1)


def _child(request: dict) -> NoReturn:
    """Become the command: own session, cwd, environment and files; exit with its code."""
    os.setsid()
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    null = os.open(os.devnull, os.O_RDONLY)
    out = os.open(request["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    err = os.open(request["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for src, dst in ((null, 0), (out, 1), (err, 2)):
        os.dup2(src, dst)
    sys.argv = [request["module"], *request["argv"]]
    sys.path[0] = request["cwd"]  # what `python -m` puts first: the working directory
    code: int = 0
    try:
        with warnings.catch_warnings():
            # runpy: "found in sys.modules ... prior to execution" for a preloaded module
            warnings.filterwarnings("ignore", category=RuntimeWarning, module="runpy")
            runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exit_status(exc.code)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 (the interpreter's own behaviour: traceback, exit 1)
        traceback.print_exc()
        code = 1
    # out through the interpreter's own shutdown (threads joined, atexit run, files flushed),
    # as a `python -m` process ends; the parent's loop below is never re-entered
    raise SystemExit(code)


class ForkServer:
    """The test's side: ``run(command, cwd, env, timeout_s)`` -> ``(exit code, stdout, stderr)``
    for a plain ``PY -m MODULE ARGS`` line (see :func:`forkable`); one server per test."""

    def __init__(self, python: str, cwd: Path, env: dict[str, str], logs: Path) -> None:
        self.logs = logs
        self.proc = subprocess.Popen(
            [python, "-m", "tests.readme_zygote"], cwd=cwd, env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip
        assert json.loads(self._reply(STARTUP_S)) == {"ready": True}

    def _reply(self, timeout_s: float) -> str:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
        if not ready:
            raise TimeoutError(f"no answer from the fork server in {timeout_s:.0f} s")
        return self.proc.stdout.readline()

    def run(
        self, argv: list[str], cwd: Path, env: dict[str, str], timeout_s: float
    ) -> tuple[int, str, str]:
        assert self.proc.stdin is not None
        out, err = self.logs / "step.out", self.logs / "step.err"
        request = {"module": argv[2], "argv": argv[3:], "cwd": str(cwd), "env": env,
                   "out": str(out), "err": str(err)}  # fmt: skip
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        pid = json.loads(self._reply(STARTUP_S))["pid"]
        try:
            rc = json.loads(self._reply(timeout_s))["rc"]
        except TimeoutError:
            os.killpg(pid, signal.SIGKILL)  # the child's session: it and what it started
            json.loads(self._reply(STARTUP_S))
            raise subprocess.TimeoutExpired(argv, timeout_s) from None
        return rc, out.read_text(errors="replace"), err.read_text(errors="replace")

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


def forkable(command: str, python: str) -> list[str] | None:
    """``[python, "-m", MODULE, *ARGS]`` when ``command`` is exactly that (no shell syntax:
    pipes, redirections, variables, globs, ``&&``, an env prefix); else None (run by bash)."""
    if re.search(r"[|;&<>$`*?(){}~\\'\"]", command):
        return None
    argv = command.split()
    return argv if argv[:2] == [python, "-m"] and len(argv) > 2 else None


def main() -> None:
    for name in PRELOAD:
        __import__(name)
    proto_in, proto_out = sys.stdin, sys.stdout
    print(json.dumps({"ready": True}), file=proto_out, flush=True)
    for line in proto_in:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        print(json.dumps({"pid": pid}), file=proto_out, flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"rc": os.waitstatus_to_exitcode(status)}), file=proto_out, flush=True)


if __name__ == "__main__":
    main()
