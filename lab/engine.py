"""Run a batch of tasks locally or on a Ray cluster, landing their files on the driver.

A :class:`Task` is a module-level function named ``"package.module:function"`` plus plain-data
keyword arguments, so it pickles anywhere. The function gets a fresh, empty ``work_dir`` on
whichever machine runs it and returns a JSON-able value; the files it wrote come back to the
driver as bytes and land in the task's ``out_dir`` by one directory rename (never a half-written
run folder; no shared filesystem assumed). Its stdout/stderr go to ``work_dir/log.txt``.

* no ``address``: a local Ray with ``workers`` CPUs (``ray.init(num_cpus=workers)``), one CPU
  and one torch thread per task; ``workers == 1`` runs the tasks inline, without Ray.
* ``address``: join an existing cluster (``ray start --head`` / ``ray start --address``); the
  project's code and data are shipped as the job's ``working_dir`` (run folders, the venv and
  git excluded).
* ``device == "cuda"``: every task also requests a GPU fraction (``gpu_fraction``).

Inside a task ``RLTRADE_NO_LEDGER=1``: the driver, not the worker, appends ledger records.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import shutil
import socket
import tempfile
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab import ray_connect
from lab.config import ConfigError
from lab.ray_connect import RayLog

REPO_ROOT = Path(__file__).resolve().parent.parent
# Never shipped to cluster workers: outputs, environments, caches, VCS.
SHIP_EXCLUDES = [
    "runs/",
    ".venv/",
    ".git/",
    "**/__pycache__/",
    ".pytest_cache/",
    ".ruff_cache/",
    ".mypy_cache/",
    ".hypothesis/",
    "*.egg-info/",
    "tb/",
]
TASK_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "RLTRADE_NO_LEDGER": "1"}


@dataclass(frozen=True)
class Task:
    """``fn`` ("pkg.mod:func") called as ``func(work_dir=Path, **kwargs)``; its files land in
    ``out_dir`` on the driver (None: files are dropped, only the return value comes back)."""

    key: str
    fn: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    out_dir: str | None = None


@dataclass
class TaskResult:
    """How a task ended: ``value`` (the function's return) or ``error`` (a traceback), where it
    ran (Ray node id, host) and its wall time; ``out_dir`` is set once its files landed."""

    key: str
    ok: bool
    value: Any = None
    error: str | None = None
    node_id: str = "inline"
    hostname: str = ""
    wall_s: float = 0.0
    out_dir: str | None = None


def _resolve(fn: str) -> Callable[..., Any]:
    module, _, name = fn.partition(":")
    return getattr(importlib.import_module(module), name)


def _read_tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _node_id() -> str:
    try:
        import ray

        if ray.is_initialized():
            return ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001  (inline: no Ray at all)
        pass
    return "inline"


def execute(fn: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Run one task in a fresh temporary ``work_dir`` with one torch thread; return its value
    (or traceback), its files as bytes and where it ran. Never raises."""
    t0 = time.perf_counter()
    saved = {k: os.environ.get(k) for k in TASK_ENV}
    os.environ.update(TASK_ENV)
    tmp = Path(tempfile.mkdtemp(prefix="rltrade-task-"))
    work_dir = tmp / "out"
    work_dir.mkdir()
    out: dict[str, Any] = {"ok": False, "value": None, "error": None}
    try:
        import torch

        torch.set_num_threads(1)
        log = open(tmp / "log.txt", "w", encoding="utf-8")  # noqa: SIM115  (closed below)
        with log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            try:
                out["value"] = _resolve(fn)(work_dir=work_dir, **kwargs)
                out["ok"] = True
            except BaseException:  # noqa: BLE001  (SystemExit from a CLI is a task failure)
                out["error"] = traceback.format_exc()
                print(out["error"])
        files = _read_tree(work_dir)
        files["log.txt"] = (tmp / "log.txt").read_bytes()
        out["files"] = files
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    out.update(node_id=_node_id(), hostname=socket.gethostname(), wall_s=time.perf_counter() - t0)
    out["work_dir"] = str(work_dir)  # the driver replaces it in the landed text files
    return out


def land_files(files: dict[str, bytes], out_dir: Path) -> Path:
    """Write ``files`` into a hidden sibling folder, then rename it to ``out_dir`` in one step.

    An existing ``out_dir`` (an earlier attempt's) is moved aside to ``<name>.stale-<time>``,
    never deleted or merged into."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    for rel, data in files.items():
        dest = partial / rel
        if not dest.resolve().is_relative_to(partial.resolve()):
            raise ValueError(f"task file {rel!r} points outside its run folder")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    if out_dir.exists():
        out_dir.rename(out_dir.with_name(f"{out_dir.name}.stale-{time.strftime('%Y%m%d-%H%M%S')}"))
    partial.rename(out_dir)
    return out_dir


TEXT_SUFFIXES = (".txt", ".json", ".yaml", ".yml", ".md", ".csv")


def _unleak(files: dict[str, bytes], work_dir: str | None, out_dir: Path) -> dict[str, bytes]:
    """The worker's temporary folder, named in its text files (log.txt, command.txt, ...),
    replaced by the folder the files land in: a log names where the run is, not where it was."""
    if not work_dir:
        return files
    old, new = work_dir.encode(), str(out_dir.resolve()).encode()
    return {
        rel: data.replace(old, new) if rel.endswith(TEXT_SUFFIXES) else data
        for rel, data in files.items()
    }


def _to_result(task: Task, raw: dict[str, Any]) -> TaskResult:
    res = TaskResult(
        key=task.key,
        ok=bool(raw.get("ok")),
        value=raw.get("value"),
        error=raw.get("error"),
        node_id=str(raw.get("node_id", "")),
        hostname=str(raw.get("hostname", "")),
        wall_s=float(raw.get("wall_s", 0.0)),
    )
    if task.out_dir is not None:
        out = Path(task.out_dir)
        files = _unleak(raw.get("files") or {}, raw.get("work_dir"), out)
        if res.ok:
            res.out_dir = str(land_files(files, out))
        elif "log.txt" in files:  # a failed task leaves its log beside the folder it would be
            land_files({"log.txt": files["log.txt"]}, out.with_name(f"{out.name}.failed"))
    return res


ADDRESS_RE = re.compile(r"auto|(ray://)?[A-Za-z0-9._-]+:[0-9]{1,5}")


def check_address(address: str | None) -> None:
    """``--address``: ``auto``, ``HOST:PORT`` or ``ray://HOST:PORT`` (what ``ray start --head``
    prints); anything else is one line here, not a Ray ``ValueError`` traceback."""
    if address is not None and not ADDRESS_RE.fullmatch(address):
        raise ConfigError(
            f"--address {address!r}: not a Ray cluster address; give HOST:PORT as printed by "
            "ray start --head (e.g. 10.0.0.5:6379), ray://HOST:10001 or auto"
        )


class Engine:
    """Submit tasks, collect results as they finish (``next_done``) or all at once (``run``).

    Use as a context manager: Ray is started (or joined) on enter and shut down on exit."""

    def __init__(
        self,
        workers: int = 1,
        address: str | None = None,
        device: str = "cpu",
        gpu_fraction: float | None = None,
        repo: Path = REPO_ROOT,
        log_dir: Path | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"--workers {workers}: need at least 1")
        check_address(address)
        self.workers, self.address, self.repo = workers, address, Path(repo)
        self.log_dir = log_dir
        self.num_gpus = 0.0
        if device == "cuda":
            self.num_gpus = gpu_fraction if gpu_fraction else min(1.0, 1.0 / workers)
        self.inline = address is None and workers == 1 and self.num_gpus == 0
        self._queue: deque[Task] = deque()
        self._pending: dict[Any, Task] = {}
        self._remote: Any = None
        self._log: RayLog | None = None

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> Engine:
        if self.inline:
            return self
        env_vars = dict(TASK_ENV)
        if self.address is None:  # same machine: import the code in place
            env_vars["PYTHONPATH"] = os.pathsep.join(
                [str(self.repo), *filter(None, [os.environ.get("PYTHONPATH")])]
            )
            init: dict[str, Any] = {
                "address": "local",  # a new local Ray even when RAY_ADDRESS names a cluster
                "num_cpus": self.workers,
                "include_dashboard": False,
                "runtime_env": {"env_vars": env_vars},
            }
        else:  # a cluster: ship code and data as the job's working_dir
            init = {
                "address": self.address,
                "runtime_env": {
                    "working_dir": str(self.repo),
                    "excludes": SHIP_EXCLUDES,
                    "env_vars": env_vars,
                },
            }
        # Ray's own logging goes to ray.log in the run folder, never to the terminal
        init.update(log_to_driver=False, configure_logging=False)
        import ray  # an optional heavy library, imported where used; BEFORE RayLog takes its
        # logger (importing Ray installs its own stderr handler)

        ray_connect.probe(self.address)  # a dead address: one line within the timeout
        self._log = RayLog(self.log_dir)
        try:
            ray_connect.start(init, self.address, self._log)
        except BaseException:
            self._log.close(failed=True)
            raise
        self._remote = ray.remote(num_cpus=1, num_gpus=self.num_gpus, max_retries=0)(execute)
        return self

    def log_to(self, log_dir: Path) -> None:
        """Keep Ray's log in ``log_dir/ray.log`` from now on (a run folder made after the
        engine started, e.g. a seed group's)."""
        if self._log is not None:
            self._log.move_to(log_dir)

    def __exit__(self, *exc: object) -> None:
        if not self.inline:
            import ray

            log = self._log
            assert log is not None  # set when the engine started Ray
            with log.stderr_to_log():
                ray.shutdown()
            log.close()

    # ------------------------------------------------------------------ work
    def submit(self, task: Task) -> None:
        """Queue ``task`` (Ray schedules it when a CPU is free; inline runs it in next_done)."""
        if self.inline:
            self._queue.append(task)
        else:
            self._pending[self._remote.remote(task.fn, task.kwargs)] = task

    @property
    def n_pending(self) -> int:
        """Tasks queued or running."""
        return len(self._queue) + len(self._pending)

    def next_done(self) -> TaskResult:
        """Block until a task finishes; land its files and return its result."""
        if self.inline:
            task = self._queue.popleft()
            return _to_result(task, execute(task.fn, task.kwargs))
        import ray

        done, _ = ray.wait(list(self._pending), num_returns=1)
        task = self._pending.pop(done[0])
        try:
            raw = ray.get(done[0])
        except Exception as err:  # noqa: BLE001  (a worker died: the task failed, say how)
            # Ray's own errors span paragraphs ending in ids ("Owner worker ID: ...") and a
            # failure is reported by its last line: one line, so the cause stays in it
            said = " ".join(str(err).split())
            raw = {"ok": False, "error": f"{type(err).__name__}: {said}", "files": {}}
        return _to_result(task, raw)

    def run(
        self, tasks: Iterable[Task], on_result: Callable[[TaskResult], None] | None = None
    ) -> list[TaskResult]:
        """Run every task; ``on_result`` sees each as it finishes (in finishing order)."""
        for t in tasks:
            self.submit(t)
        results = []
        while self.n_pending:
            res = self.next_done()
            if on_result is not None:
                on_result(res)
            results.append(res)
        return results
