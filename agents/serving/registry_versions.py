"""The registry's versions of one model: ``LATEST.json``, complete versions, rollback.

``models/NAME/`` holds ``vN/`` folders (each complete: promotion renames a finished temp folder)
and ``LATEST.json`` naming the served one. A version counts as complete when its
``registry.json`` is there; a LATEST that names a version that is not is refused by every
command with the fix (``dangling_error``), and ``rollback`` (which is that fix) says what it did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents.serving.registry_checks import VERSION_RE, RegistryError, check_model_name, check_record
from agents.serving.registry_checks import read_json as _json
from lab.atomic import atomic_write_json
from lab.rundir import utc_now


def versions(model_dir: Path) -> list[int]:
    """The N of every ``vN`` folder under ``model_dir``, sorted (complete or not)."""
    if not model_dir.is_dir():
        return []
    return sorted(
        int(p.name[1:]) for p in model_dir.iterdir() if p.is_dir() and p.name[1:].isdigit()
        and p.name.startswith("v")
    )  # fmt: skip


def complete_versions(model_dir: Path) -> list[int]:
    """Versions whose folder holds its ``registry.json`` (what resolve and rollback accept)."""
    return [v for v in versions(model_dir) if (model_dir / f"v{v}" / "registry.json").is_file()]


def dangling_error(model_dir: Path, version: str) -> RegistryError:
    """LATEST.json names a version that is not there: say which, what is there, and the fix."""
    have = ", ".join(f"v{v}" for v in complete_versions(model_dir)) or "none"
    older = [v for v in complete_versions(model_dir) if v < int(version[1:])]
    fix = (
        f"point it at v{older[-1]}: python -m agents.registry rollback {model_dir.name}"
        if older
        else f"no older version to roll back to: remove {model_dir / 'LATEST.json'} and promote "
        "a run again"
    )
    return RegistryError(
        f"{model_dir / 'LATEST.json'}: points to {version}, which is missing (no "
        f"{version}/registry.json; complete versions: {have}); {fix}"
    )


def latest_record(root: Path, name: str) -> dict[str, Any] | None:
    """The record of the version ``LATEST.json`` points at (None: nothing registered); a
    LATEST that points to a missing version is a RegistryError with the fix."""
    latest = read_latest(root / name)
    if not latest:
        return None
    path = root / name / latest["version"] / "registry.json"
    if not path.is_file():
        raise dangling_error(root / name, latest["version"])
    return check_record(_json(path), path)


def read_latest(model_dir: Path) -> dict[str, Any]:
    """``LATEST.json`` ({} when absent); its ``version`` checked to be vN."""
    latest = _json(model_dir / "LATEST.json")
    if latest and not (isinstance(latest.get("version"), str)
                       and VERSION_RE.fullmatch(latest["version"])):  # fmt: skip
        raise RegistryError(
            f"{model_dir / 'LATEST.json'}: damaged (version {latest.get('version')!r} is not vN); "
            f"point it at an existing version: python -m agents.registry rollback {model_dir.name}"
        )
    return latest


def point_latest(model_dir: Path, version: str) -> None:
    """Rewrite ``LATEST.json`` (atomically) to name ``version``."""
    atomic_write_json(
        model_dir / "LATEST.json",
        {"version": version, "updated_at_utc": utc_now().strftime("%Y-%m-%dT%H:%M:%SZ")},
    )


def rollback(root: Path, name: str) -> str:
    """Point LATEST at the newest complete version before it (kept as a backup); return it.

    A LATEST that points to a missing version rolls back to the newest complete one below it
    (``rollback_message`` says so); a version folder without ``registry.json`` is skipped."""
    model_dir = root / name
    check_model_name(name)
    latest = read_latest(model_dir)
    if not latest:
        raise RegistryError(f"no model {name!r} under {root}")
    current = int(latest["version"][1:])
    older = [v for v in complete_versions(model_dir) if v < current]
    if not older:
        raise RegistryError(
            f"{name}: {latest['version']} is the oldest version, nothing to roll back to"
            if (model_dir / latest["version"] / "registry.json").is_file()
            else str(dangling_error(model_dir, latest["version"]))
        )
    point_latest(model_dir, f"v{older[-1]}")
    return f"v{older[-1]}"


def rollback_message(root: Path, name: str) -> str:
    """``rollback`` and one line saying what it did, naming a missing or skipped version."""
    check_model_name(name)
    latest = read_latest(root / name)
    was = latest.get("version")
    gone = bool(was) and not (root / name / str(was) / "registry.json").is_file()
    version = rollback(root, name)
    skipped = [f"v{v}" for v in versions(root / name)
               if int(version[1:]) < v < int(str(was)[1:]) and f"v{v}" != was
               and not (root / name / f"v{v}" / "registry.json").is_file()]  # fmt: skip
    notes = f" (LATEST pointed to {was}, which is missing)" if gone else ""
    if skipped:
        notes += f" (skipped {', '.join(skipped)}: no registry.json)"
    return f"LATEST -> {version}{notes}"
