"""A model registry: promote a checked run into ``models/NAME/vN/``; list, show, roll back.

    python -m agents.registry promote RUN_OR_CKPT --name NAME [--market btc1h] [--root models]
    python -m agents.registry promote GROUP --name NAME --ensemble voting [--allow-failed-members]
    python -m agents.registry list | show NAME | rollback NAME   [--root models]

The root defaults to ``$RLTRADE_MODELS_ROOT`` or the repository's ``models/``; ``--root`` may
stand before or after the subcommand.

Promotion copies what using the model needs (the model file, ``normaliser.json``, the feature
spec and config, ``meta.json`` provenance, ``metrics.json``) into a temp folder beside the new
version, renames it to ``vN`` (atomic: a version is complete or absent) and then rewrites
``models/NAME/LATEST.json`` atomically. Old versions stay as backups; ``rollback`` points
LATEST at the previous version. Each version has ``registry.json``: kind, source, checks, layout.

Kinds: ``trees`` (``tree.json`` + ``model.skops``), ``supervised`` (``model.pt``), ``sb3``
(a PPO/SAC run folder: ``config.yaml`` + ``best_model.zip`` or ``final_model.zip``). A version
folder is itself a run folder of its kind, so ``agents.acting.loading.load_run`` loads it.
``ensemble`` (``--ensemble RULE`` on a seed-group folder): one member run folder per seed under
``vN/members/`` and the rule (``agents.serving.ensemble_registry``).

Promotion refuses (naming every reason): a collapsed model or one that never predicts a class on
val (where the run recorded class predictions), no val metrics, no data hash in ``meta.json``, a
bar size other than the market's (``--market``, default the run's own env), or a feature set /
window other than the one already registered under NAME.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from agents.acting.fast_policy import export_numpy
from agents.serving.ensemble_registry import promote_group
from agents.serving.registry_checks import (
    RegistryError,
    check_model_name,
    check_record,
    check_version,
    read_json,
)
from agents.serving.registry_versions import (
    complete_versions,
    dangling_error,
    latest_record,
    point_latest,
    read_latest,
    rollback,  # noqa: F401  (re-exported: agents.registry is the registry's one entry point)
    rollback_message,
    versions,
)
from agents.serving.run_checks import COMMON_FILES, describe_run, promotion_problems
from agents.serving.serve_config import (
    REGISTRY_COMMANDS,
    RegistryConfig,
    default_models_root,
)
from lab.atomic import atomic_write_json
from lab.config import ConfigError, add_fields, from_args
from lab.rundir import utc_now


def promote(
    path: str | os.PathLike[str],
    name: str,
    root: Path | None = None,
    market: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Check, copy into ``root/name/vN`` and move LATEST; return the version folder.

    ``extra``: more keys for the version's ``registry.json`` (e.g. ``agents.retrain``'s result)."""
    root = default_models_root() if root is None else root
    check_model_name(name)
    info = describe_run(path)
    problems = promotion_problems(info, market, latest_record(root, name))
    if problems:
        raise RegistryError(f"refused to promote {info.run_dir}: " + "; ".join(problems))
    model_dir = root / name
    version = f"v{(versions(model_dir) or [0])[-1] + 1}"
    tmp = model_dir / f".{version}.tmp{os.getpid()}"
    tmp.mkdir(parents=True)
    try:
        for f in [*info.model_files, *(info.run_dir / n for n in COMMON_FILES)]:
            if f.is_file():
                shutil.copy2(f, tmp / f.name)
        if info.kind == "sb3":  # a torch-free actor for agents.predict (discrete PPO only)
            export_numpy(tmp)
        record = {
            "name": name,
            "version": version,
            "kind": info.kind,
            "source": str(info.run_dir.resolve()),
            "env": info.env,
            "market": market or info.env,
            "feature_set": info.feature_set,
            "window": info.window,
            **info.layout,  # daily_window, context: only where the run set them
            "data_sha256": info.meta.get("data_sha256"),
            "git": info.meta.get("git"),
            "promoted_at_utc": utc_now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            **(extra or {}),
        }
        atomic_write_json(tmp / "registry.json", record)
        os.rename(tmp, model_dir / version)  # atomic; fails rather than overwrite a version
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    point_latest(model_dir, version)
    return model_dir / version


def resolve(spec: str, root: Path | None = None) -> tuple[Path, dict[str, Any]]:
    """``NAME`` (LATEST) or ``NAME@vN`` -> (version folder, its registry record)."""
    root = default_models_root() if root is None else root
    name, at, version = spec.partition("@")
    check_model_name(name)
    if at:
        check_version(spec, version)
    if not version:
        latest = read_latest(root / name)
        if not latest:
            raise RegistryError(f"no model {name!r} under {root} (promote one first)")
        version = latest["version"]
        if not (root / name / version / "registry.json").is_file():
            raise dangling_error(root / name, version)
    d = root / name / version
    if not (d / "registry.json").is_file():
        have = ", ".join(f"v{v}" for v in complete_versions(root / name)) or "none"
        raise RegistryError(f"{name}@{version}: no such version under {root} (have: {have})")
    return d, check_record(read_json(d / "registry.json"), d / "registry.json")


def list_models(root: Path | None = None) -> list[dict[str, Any]]:
    """One row per registered name: latest version, kind, env, number of versions."""
    root = default_models_root() if root is None else root
    rows = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        rec = latest_record(root, d.name)
        if rec:
            rows.append({**rec, "n_versions": len(versions(d))})
    return rows


def build_parser() -> argparse.ArgumentParser:
    """One subparser per subcommand, flags from ``agents.serving.serve_config``; ``--root`` is accepted
    before or after the subcommand (after wins when both are given)."""
    p = argparse.ArgumentParser(prog="python -m agents.registry", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    add_fields(p, RegistryConfig, config_flag=False)
    sub = p.add_subparsers(dest="cmd", required=True)
    for cmd, cls in REGISTRY_COMMANDS.items():
        sp = sub.add_parser(cmd, help=cls.__doc__)
        add_fields(sp, cls, config_flag=False)
        add_fields(sp, RegistryConfig, config_flag=False)
    return p


def _print_list(root: Path) -> None:
    rows = list_models(root)
    for r in rows:
        print(f"{r['name']:<20} {r['version']:<5} {r['kind']:<11} {r['env']:<8} "
              f"{r['feature_set']}  ({r['n_versions']} versions)")  # fmt: skip
    if not rows:  # said, not an empty screen: a mistyped --root shows here
        gone = "" if root.is_dir() else " (no such folder)"
        print(f"no models under {root}{gone}; promote one: python -m agents.registry promote "
              "RUN --name NAME")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run one registry subcommand (promote, list, show, rollback); 0, or 2 with one error line."""
    a = build_parser().parse_args(argv)
    try:
        for cls in (RegistryConfig, REGISTRY_COMMANDS[a.cmd]):  # resolved, checked values
            vars(a).update(vars(from_args(cls, a, config_file=False)))
        root = Path(a.root)
        if root.exists() and not root.is_dir():
            raise ConfigError(f"--root {root} is a file; give the registry folder")
        if a.cmd == "promote" and a.ensemble:
            vdir = promote_group(a.run, a.name, a.ensemble, root, a.market, a.allow_failed_members)
            print(f"promoted {a.run} ({a.ensemble} ensemble) -> {vdir}")
        elif a.cmd == "promote":
            if a.allow_failed_members:
                raise ConfigError("--allow-failed-members goes with --ensemble (a seed group)")
            print(f"promoted {a.run} -> {promote(a.run, a.name, root, a.market)}")
        elif a.cmd == "list":
            _print_list(root)
        elif a.cmd == "show":
            d, rec = resolve(a.name, root)
            print(json.dumps({"latest": rec, "versions": versions(d.parent)}, indent=2))
        else:
            print(f"{a.name}: {rollback_message(root, a.name)}")
    except (RegistryError, FileNotFoundError, json.JSONDecodeError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
