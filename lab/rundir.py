"""Run folders: where a training run writes everything that makes it reproducible.

A run folder is ``runs/<env>/<algo>/<UTC YYYYmmdd-HHMMSS>_s<seed>/`` (or an explicit path) and
holds ``command.txt`` (the exact argv, shell-quoted), ``config.yaml`` (the resolved config),
``meta.json`` (seed, data sha256, package versions, git commit, host, UTC start time) and
whatever the trainer writes afterwards (TensorBoard events, checkpoints, models, metrics).

Nothing here knows about PPO or SAC: ``algo`` is just a folder name, so the supervised trainer
can reuse the same helpers. Every file is written atomically (``lab.atomic``), so a killed run
never leaves a half-written JSON or YAML behind.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import shlex
import socket
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import yaml

from lab.atomic import atomic_write_json, atomic_write_text, atomic_write_yaml
from lab.config import ConfigError, yaml_problem
from lab.outputs import check_output_dir, make_output_dir

# The repo root (one level above lab/): default parent of runs/ and where git is asked.
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
PROVENANCE_FILES = frozenset({"command.txt", "config.yaml", "meta.json"})
# (folder, created by this process) for every run folder made here: a failed command removes
# the ones that hold nothing but provenance (``discard_unfinished``), so a retry can reuse them
_UNFINISHED: list[tuple[Path, bool]] = []


def track_unfinished(path: str | os.PathLike[str]) -> None:
    """Register an output folder about to be written (evaluate's ``--out``): if the command then
    fails or is interrupted before writing anything but provenance, ``discard_unfinished``
    removes it (and the folder itself when it did not exist before)."""
    _UNFINISHED.append((Path(path), not Path(path).exists()))


_KEPT: list[Path] = []  # unfinished folders discard_unfinished kept (they hold results)


def kept_unfinished() -> list[Path]:
    """The unfinished folders ``discard_unfinished`` kept because they hold more than
    provenance (checkpoints, finished folds): named in the Ctrl-C line (``lab.cli``)."""
    return list(_KEPT)


def unfinished_dirs() -> list[Path]:
    """The run folders this process created and has not finished (newest last)."""
    return [path for path, _ in _UNFINISHED]


def discard_unfinished() -> list[Path]:
    """Remove the provenance files (and the folder, if this process made it) of every run folder
    created here that holds nothing else: the command failed before the run produced anything.

    A folder with any other file (a checkpoint, TensorBoard events) is kept: it can be resumed.
    Returns the folders cleaned."""
    cleaned = []
    while _UNFINISHED:
        path, created = _UNFINISHED.pop()
        if not path.is_dir():
            continue
        files = [f for f in path.rglob("*") if f.is_file()]
        if any(f.relative_to(path).as_posix() not in PROVENANCE_FILES for f in files):
            _KEPT.append(path)
            continue
        for f in files:
            f.unlink()
        for d in sorted((d for d in path.rglob("*") if d.is_dir()), reverse=True):
            d.rmdir()
        if created:
            path.rmdir()
        cleaned.append(path)
    return cleaned


def market_dirname(env: str) -> str:
    """A safe folder name under ``runs/`` for a market key (``envs.marketspec``): the preset or
    entry name, or a file's stem, ``@bar`` when the key resamples; only ``[A-Za-z0-9._@-]``, so a
    run folder never escapes ``runs/`` (idempotent: a preset name is returned unchanged)."""
    spec, sep, query = str(env).rpartition("?")
    opts = dict(parse_qsl(query)) if sep else {}
    if not sep or not opts:
        spec, opts = str(env), {}
    name = spec.removeprefix("catalog:")
    if "/" in name or os.sep in name or "." in name:
        name = Path(name).name.split(".")[0]
    if opts.get("bar"):
        name = f"{name}@{opts['bar']}"
    return re.sub(r"[^A-Za-z0-9._@-]", "_", name).lstrip(".-") or "market"


def default_run_dir(
    env: str,
    algo: str,
    seed: int,
    root: str | os.PathLike[str] = RUNS_DIR,
    now: dt.datetime | None = None,
) -> Path:
    """``<root>/<env>/<algo>/<UTC YYYYmmdd-HHMMSS>_s<seed>`` (not created)."""
    stamp = (now or utc_now()).strftime("%Y%m%d-%H%M%S")
    return Path(root) / market_dirname(env) / algo / f"{stamp}_s{seed}"


def create_run_dir(
    *,
    env: str,
    algo: str,
    seed: int,
    config: Mapping[str, Any],
    data_files: Iterable[str | os.PathLike[str]],
    run_dir: str | os.PathLike[str] | None = None,
    argv: list[str] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Create the run folder and write ``command.txt``, ``config.yaml`` and ``meta.json``.

    ``meta``: what the caller records beside the provenance (the market, the starting weights),
    written in the same one ``meta.json`` (``write_provenance``).

    ``run_dir`` overrides the default path; an existing non-empty folder is refused (a fresh
    run never overwrites another run's files; use ``--resume`` to continue one).
    """
    start = utc_now()
    path = Path(run_dir) if run_dir is not None else default_run_dir(env, algo, seed, now=start)
    check_output_dir(path, "--run-dir", allow_nonempty=True)  # a file, or inside data/
    if path.exists() and any(path.iterdir()):
        raise FileExistsError(
            f"run folder {path} already exists and is not empty; pick another --run-dir "
            f"(or an empty folder), or continue it with --resume {path}"
        )
    created = not path.exists()
    make_output_dir(path, "--run-dir")
    _UNFINISHED.append((path, created))
    return write_provenance(
        path, seed=seed, config=config, data_files=data_files, argv=argv, start=start, meta=meta
    )


def write_provenance(
    path: str | os.PathLike[str],
    *,
    seed: int,
    config: Mapping[str, Any],
    data_files: Iterable[str | os.PathLike[str]],
    argv: list[str] | None = None,
    start: dt.datetime | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``command.txt``, ``config.yaml`` and ``meta.json`` into ``path`` (created if needed).

    ``meta.json`` is written once, here: ``build_meta``'s provenance plus the caller's ``meta``
    (e.g. ``{"market": envs.marketspec.market_record(key)}``); a key of both is a bug (ValueError).

    The provenance every run folder records, whoever writes it: ``create_run_dir`` for training
    runs, the evaluation and walk-forward output folders directly. ``config`` values that YAML
    cannot hold (paths, tuples) are written as their JSON/str form.
    """
    record = build_meta(seed, data_files, start)
    clash = sorted(set(record) & set(meta or {}))
    if clash:  # checked before anything is written: no half-written folder
        raise ValueError(f"meta.json: {clash} are provenance keys; the caller may not set them")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    write_command(path, argv)
    plain = json.loads(json.dumps(dict(config), default=str))
    atomic_write_yaml(path / "config.yaml", plain)
    atomic_write_json(path / "meta.json", {**record, **(meta or {})})
    return path


def preset_files(preset: Any) -> list[Path]:
    """The data files of an ``envs.presets`` preset (candles, and funding when it has one)."""
    files = [Path(preset.candles.path)]
    if getattr(preset, "funding", None) is not None:
        files.append(Path(preset.funding.path))
    return files


def write_command(path: Path, argv: list[str] | None = None, name: str = "command.txt") -> Path:
    """Write the shell-quoted command line (``python -m <module> args...``) to ``path/name``."""
    argv = list(sys.argv if argv is None else argv)
    return atomic_write_text(path / name, shlex.join([sys.executable, *argv]) + "\n")


def read_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a run folder's ``config.yaml`` (a plain dict)."""
    cfg_file = Path(path) / "config.yaml"
    if not cfg_file.is_file():
        raise FileNotFoundError(f"{cfg_file} not found: {path} is not a run folder")
    try:
        with open(cfg_file, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(
            f"{cfg_file}: not valid YAML ({yaml_problem(err)}); the run folder is damaged: "
            "restore config.yaml from a copy, or use another run"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{cfg_file}: expected a YAML mapping; the run folder is damaged")
    return data
