"""Run folders: where a training run writes everything that makes it reproducible.

A run folder is ``runs/<env>/<algo>/<UTC YYYYmmdd-HHMMSS>_s<seed>/`` (or an explicit path) and
holds ``command.txt`` (the exact argv, shell-quoted), ``config.yaml`` (the resolved config),
``meta.json`` (seed, data sha256, package versions, git commit, host, UTC start time) and
whatever the trainer writes afterwards (TensorBoard events, checkpoints, models, metrics).

Nothing here knows about PPO or SAC: ``algo`` is just a folder name, so the supervised trainer
can reuse the same helpers. Every file is written atomically (temp file + ``os.replace``), so a
killed run never leaves a half-written JSON or YAML behind.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import json
import os
import platform
import random
import shlex
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

# The repo root (one level above agents/): default parent of runs/ and where git is asked.
REPO_ROOT = Path(__file__).resolve().parent.parent
RUNS_DIR = REPO_ROOT / "runs"

# Distribution names as pip knows them; reported in meta.json["versions"].
TRACKED_PACKAGES = (
    "torch",
    "numpy",
    "pandas",
    "gymnasium",
    "stable-baselines3",
    "sb3-contrib",
)


# --------------------------------------------------------------------------- atomic writes
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
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
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
    ``agents.resume_state.clean_stale_temps`` removes on resume.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        save_fn(tmp)
        with open(tmp, "rb") as fh:  # on disk before the rename: a crash leaves old or new
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
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


# --------------------------------------------------------------------------- provenance
def sha256_file(path: str | os.PathLike[str], chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, streamed in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_bytes):
            h.update(chunk)
    return h.hexdigest()


def data_hashes(files: Iterable[str | os.PathLike[str]]) -> dict[str, str]:
    """``{file name: sha256 of its bytes}`` for each file, hashed now (not copied from a table)."""
    return {Path(f).name: sha256_file(f) for f in files}


def package_versions(packages: Iterable[str] = TRACKED_PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution (None when not installed), plus ``python``."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_info(repo: str | os.PathLike[str] = REPO_ROOT) -> dict[str, Any]:
    """``{"commit": sha | None, "dirty": bool | None}``; both None when git or a commit is missing.

    ``dirty`` is True when tracked or untracked (not ignored) files differ from the commit.
    A missing git binary, a folder that is not a repo, or a repo with no commit yet all give
    None rather than an error: provenance is best effort, training must not fail on it.
    """

    def _git(*args: str) -> str | None:
        try:
            res = subprocess.run(
                ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return res.stdout.strip() if res.returncode == 0 else None

    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def utc_now() -> dt.datetime:
    """Current time as an aware UTC datetime."""
    return dt.datetime.now(dt.timezone.utc)


def build_meta(
    seed: int, data_files: Iterable[str | os.PathLike[str]], start: dt.datetime | None = None
) -> dict[str, Any]:
    """The ``meta.json`` payload: seed, data sha256, versions, git, host, UTC start time."""
    start = start or utc_now()
    return {
        "seed": int(seed),
        "data_sha256": data_hashes(data_files),
        "versions": package_versions(),
        "git": git_info(),
        "hostname": socket.gethostname(),
        "start_time_utc": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


# --------------------------------------------------------------------------- the folder
def default_run_dir(
    env: str,
    algo: str,
    seed: int,
    root: str | os.PathLike[str] = RUNS_DIR,
    now: dt.datetime | None = None,
) -> Path:
    """``<root>/<env>/<algo>/<UTC YYYYmmdd-HHMMSS>_s<seed>`` (not created)."""
    stamp = (now or utc_now()).strftime("%Y%m%d-%H%M%S")
    return Path(root) / env / algo / f"{stamp}_s{seed}"


def create_run_dir(
    *,
    env: str,
    algo: str,
    seed: int,
    config: Mapping[str, Any],
    data_files: Iterable[str | os.PathLike[str]],
    run_dir: str | os.PathLike[str] | None = None,
    argv: list[str] | None = None,
) -> Path:
    """Create the run folder and write ``command.txt``, ``config.yaml`` and ``meta.json``.

    ``run_dir`` overrides the default path; an existing non-empty folder is refused (a fresh
    run never overwrites another run's files; use ``--resume`` to continue one).
    """
    start = utc_now()
    path = Path(run_dir) if run_dir is not None else default_run_dir(env, algo, seed, now=start)
    if path.exists() and any(path.iterdir()):
        raise FileExistsError(
            f"run folder {path} already exists and is not empty; pick another --run-dir "
            f"or continue it with --resume {path}"
        )
    path.mkdir(parents=True, exist_ok=True)
    write_command(path, argv)
    atomic_write_yaml(path / "config.yaml", dict(config))
    atomic_write_json(path / "meta.json", build_meta(seed, data_files, start))
    return path


def write_command(path: Path, argv: list[str] | None = None, name: str = "command.txt") -> Path:
    """Write the shell-quoted command line (``python -m <module> args...``) to ``path/name``."""
    argv = list(sys.argv if argv is None else argv)
    return atomic_write_text(path / name, shlex.join([sys.executable, *argv]) + "\n")


def read_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a run folder's ``config.yaml`` (a plain dict)."""
    cfg_file = Path(path) / "config.yaml"
    if not cfg_file.is_file():
        raise FileNotFoundError(f"{cfg_file} not found: {path} is not a run folder")
    with open(cfg_file, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


# --------------------------------------------------------------------------- seeding
def seed_everything(seed: int) -> None:
    """Seed python ``random``, numpy's global RNG and torch (CPU and CUDA).

    Envs and SB3 get the same seed explicitly (``make_env(..., seed=)``, ``model(seed=)``):
    this only covers the global generators that third-party code may use.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002  (the legacy global RNG is what we must seed)
    os.environ["PYTHONHASHSEED"] = str(seed)  # for subprocesses; this one's hash seed is fixed
    try:
        import torch
    except ImportError:  # supervised/agents always have torch; keep rundir importable without
        return
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
