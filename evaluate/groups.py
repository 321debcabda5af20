"""Seed groups on the ``python -m evaluate`` command line: ``LABEL=GROUP_FOLDER`` and
``LABEL=RUN1,RUN2,...`` expand into one run per seed.

A seed group folder (written by ``--seeds`` training) holds ``group.json``::

    {"kind": "seed_group", "algo": "ppo" | "sac" | "supervised", "env": "btc1h",
     "seeds": [0, 1, 2], "runs": {"0": "s0", "1": "s1", "2": "s2"},
     "command": [...], "config": {...}, "created": "..."}

with each seed's ordinary run folder at ``runs[seed]`` (relative to the group folder). A seed
whose run failed is listed in ``summary.json``'s ``failures``; a seed with no run folder is
failed too. Failed seeds cannot be backtested: they are reported (stdout, metrics.json, the
verdict), never silently left out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GROUP_FILE = "group.json"
SUMMARY_FILE = "summary.json"


class GroupError(ValueError):
    """A seed group folder that cannot be read (the message names the file and the fix)."""


@dataclass
class RunRef:
    """One run to load: ``label`` (None: the run's algo), its path and the seed the group gave."""

    label: str | None
    path: str
    seed: int | None = None


@dataclass
class Expanded:
    """The runs of a command line with every group expanded, and each group's failed seeds."""

    runs: list[RunRef] = field(default_factory=list)
    failures: dict[str, dict[int, str]] = field(default_factory=dict)  # method -> seed -> why
    groups: dict[str, str] = field(default_factory=dict)  # method -> group folder


def is_group(path: str | Path) -> bool:
    """Whether ``path`` is a seed group folder (it holds group.json)."""
    return (Path(path) / GROUP_FILE).is_file()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise GroupError(
            f"{path}: not readable JSON ({err}); rewrite it or rerun the group"
        ) from None
    if not isinstance(data, dict):
        raise GroupError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _failures(folder: Path) -> dict[int, str]:
    """``summary.json``'s ``failures``: ``{seed: why}`` or a list of ``{"seed", "error"}``/seeds."""
    path = folder / SUMMARY_FILE
    if not path.is_file():
        return {}
    raw = _read_json(path).get("failures") or {}
    out: dict[int, str] = {}
    items = raw.items() if isinstance(raw, dict) else enumerate(raw)
    for key, val in items:
        seed: Any
        if isinstance(val, dict):
            seed = val.get("seed", key)
            why = val.get("error") or val.get("message") or val.get("reason") or "failed"
        elif isinstance(raw, dict):
            seed, why = key, val
        else:
            seed, why = val, "failed"
        try:
            out[int(seed)] = str(why).splitlines()[0] if str(why) else "failed"
        except (TypeError, ValueError):
            raise GroupError(f"{path}: failures entry {val!r} names no integer seed") from None
    return out


def read_group(folder: str | Path) -> tuple[str, list[RunRef], dict[int, str]]:
    """``(algo, one RunRef per seed with a run folder, {failed seed: why})`` of a group folder."""
    root = Path(folder)
    meta = _read_json(root / GROUP_FILE)
    where = root / GROUP_FILE
    if meta.get("kind") != "seed_group":
        raise GroupError(f"{where}: kind is {meta.get('kind')!r}, expected 'seed_group'")
    runs = meta.get("runs")
    seeds = meta.get("seeds")
    if not isinstance(runs, dict) or not isinstance(seeds, list):
        raise GroupError(f"{where}: needs 'seeds' (a list) and 'runs' (seed -> folder)")
    algo = str(meta.get("algo") or "")
    if not algo:
        raise GroupError(f"{where}: 'algo' is missing (ppo, sac or supervised)")
    failed = _failures(root)
    refs: list[RunRef] = []
    for s in seeds:
        try:
            seed = int(s)
        except (TypeError, ValueError):
            raise GroupError(f"{where}: seed {s!r} is not an integer") from None
        if seed in failed:
            continue
        rel = runs.get(str(seed))
        path = root / rel if rel else None
        if path is None or not path.exists():
            failed[seed] = f"no run folder ({rel or 'not in runs'})"
            continue
        refs.append(RunRef(None, str(path), seed))
    return algo, refs, failed


def expand_runs(items: list[str]) -> Expanded:
    """Command-line ``[LABEL=]PATH`` items -> runs; PATH may be a group folder or a comma list."""
    out = Expanded()
    for item in items:
        given, _, path = item.rpartition("=") if "=" in item else ("", "", item)
        if not path.strip() or ("=" in item and not given.strip()):
            raise GroupError(
                f"{item!r}: expected [LABEL=]PATH with a non-empty LABEL and PATH "
                "(e.g. ppo=runs/btc1h/ppo/RUN)"
            )
        label = given or None
        if is_group(path):
            algo, refs, failed = read_group(path)
            method = label or algo
            for ref in refs:
                ref.label = method
            out.runs += refs
            out.groups[method] = str(path)
            if failed:
                out.failures.setdefault(method, {}).update(failed)
        elif "," in path:
            out.runs += [RunRef(label, p) for p in path.split(",") if p]
        else:
            out.runs.append(RunRef(label, path))
    return out
