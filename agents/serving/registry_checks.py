"""Reading the registry's own files defensively: a damaged file is one line, never a traceback.

``read_json(path)`` (a JSON mapping, ``{}`` when absent), ``check_record`` (a version's
``registry.json`` has what serving needs), ``check_model_name`` and ``check_version`` (what a
``NAME@vN`` spec may hold). Each raises ``RegistryError`` naming the file or value and the fix;
``agents.registry`` and everything that resolves a model through it (predict, paper, retrain)
goes through these, so a hand-edited or truncated registry never reaches a ``KeyError``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

KINDS = ("trees", "supervised", "sb3", "ensemble")  # ensemble: a promoted seed group
RECORD_KEYS = {"name": str, "version": str, "kind": str, "market": str, "feature_set": str}
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
VERSION_RE = re.compile(r"v[1-9][0-9]*")


class RegistryError(ValueError):
    """A refused promotion or a bad registry request (one line, exit 2)."""


def read_json(path: Path) -> dict[str, Any]:
    """The JSON mapping in ``path`` ({} when there is no such file); damage is a RegistryError."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RegistryError(
            f"{path}: not valid JSON ({' '.join(str(err).split())}); the file is damaged: "
            "restore it, or re-promote the run / roll back"
        ) from None
    if not isinstance(data, dict):
        raise RegistryError(
            f"{path}: expected a JSON object, got a {type(data).__name__}; the file is damaged: "
            "restore it, or re-promote the run / roll back"
        )
    return data


def check_record(record: dict[str, Any], path: Path) -> dict[str, Any]:
    """A version's ``registry.json`` holds every key serving reads, with a known kind."""
    missing = [k for k, tp in RECORD_KEYS.items() if not isinstance(record.get(k), tp)]
    window = record.get("window")
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        missing.append("window")
    daily = record.get("daily_window", 0)  # optional layout keys (envs.multiframe.extra_layout)
    if isinstance(daily, bool) or not isinstance(daily, int) or daily < 0:
        missing.append("daily_window")
    if not isinstance(record.get("context", ""), str):
        missing.append("context")
    if missing:
        raise RegistryError(
            f"{path}: damaged version record (missing or wrong: {', '.join(missing)}); "
            "re-promote the run (python -m agents.registry promote RUN --name NAME) or roll back"
        )
    if record["kind"] not in KINDS:
        raise RegistryError(
            f"{path}: unknown model kind {record['kind']!r} (known: {', '.join(KINDS)}); "
            "re-promote the run or roll back"
        )
    return record


def check_model_name(name: str) -> None:
    """A model name is one folder: letters, digits, - and _ (no path, no spaces)."""
    if not NAME_RE.fullmatch(name):
        raise RegistryError(
            f"bad model name {name!r}: use letters, digits, - and _ (starting with a letter or "
            "digit)"
        )


def check_version(spec: str, version: str) -> None:
    """``NAME@vN``: N a positive integer (``@`` alone or ``@../x`` is refused)."""
    if not VERSION_RE.fullmatch(version):
        raise RegistryError(
            f"--model {spec!r}: version {version!r} is not vN (N = 1, 2, ...); "
            "write NAME or NAME@v2"
        )
