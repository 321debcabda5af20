"""A model registry: promote a checked run into ``models/NAME/vN/``; list, show, roll back.

    python -m agents.registry promote RUN_OR_CKPT --name NAME [--market btc1h] [--root models]
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agents.acting.fast_policy import export_numpy
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
from agents.serving.serve_config import (
    REGISTRY_COMMANDS,
    RegistryConfig,
    default_models_root,
)
from envs.marketspec import is_market
from envs.multiframe import extra_layout
from envs.presets import get_preset
from lab.atomic import atomic_write_json
from lab.config import ConfigError, add_fields, from_args
from lab.rundir import utc_now

COMMON_FILES = (
    "normaliser.json",
    "normalisers.json",
    "config.yaml",
    "meta.json",
    "metrics.json",
    "command.txt",
)


@dataclass
class RunInfo:
    """What the registry reads from a run before promoting it."""

    kind: str  # trees | supervised | sb3
    run_dir: Path
    model_files: list[Path]
    env: str | None
    feature_set: str | None
    window: int | None
    metrics: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    layout: dict[str, Any] = field(default_factory=dict)  # daily_window, context where set


_json = (
    read_json  # a damaged JSON file is a RegistryError naming it (agents.serving.registry_checks)
)


def describe_run(path: str | os.PathLike[str]) -> RunInfo:
    """Classify a run folder (or the model file inside one) and read its layout."""
    p = Path(path)
    if not p.exists():
        raise RegistryError(f"{p}: no such run folder or checkpoint")
    d = p.parent if p.is_file() else p
    metrics, meta = _json(d / "metrics.json"), _json(d / "meta.json")
    if (d / "tree.json").is_file():
        info = _json(d / "tree.json")
        files = [d / "model.skops", d / "tree.json"]
        if not files[0].is_file():  # tree.json alone is a layout, not a model
            raise RegistryError(
                f"{files[0]}: missing, a tree run is tree.json + model.skops; promote the folder "
                "of a finished supervised.trees run"
            )
        return RunInfo("trees", d, files, info.get("env"), info.get("feature_set"),
                       info.get("window"), metrics, meta)  # fmt: skip
    if (d / "model.pt").is_file():
        import torch

        try:
            ck = torch.load(d / "model.pt", map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001  (any unreadable file is the same refusal)
            raise RegistryError(
                f"{d / 'model.pt'}: not a readable supervised checkpoint ({type(err).__name__}); "
                "promote the run folder of a finished supervised.train run"
            ) from None
        if not isinstance(ck, dict):
            raise RegistryError(f"{d / 'model.pt'}: not a supervised checkpoint (no mapping)")
        return RunInfo("supervised", d, [d / "model.pt"], ck.get("env"), ck.get("feature_set"),
                       ck.get("window"), metrics, meta)  # fmt: skip
    zips = [d / n for n in ("best_model.zip", "final_model.zip") if (d / n).is_file()]
    if zips and (d / "config.yaml").is_file():
        cfg = yaml.safe_load((d / "config.yaml").read_text()) or {}
        if not isinstance(cfg, dict) or not isinstance(cfg.get("env") or {}, dict):
            raise RegistryError(f"{d / 'config.yaml'}: not a run config (sections env/ppo/...)")
        env_cfg = cfg.get("env", {}) or {}
        return RunInfo("sb3", d, [zips[0]], cfg.get("env_name"), env_cfg.get("feature_set"),
                       env_cfg.get("window"), metrics, meta, extra_layout(env_cfg))  # fmt: skip
    raise RegistryError(f"{d}: not a tree run, supervised checkpoint or PPO/SAC run folder")


def _class_problems(info: RunInfo) -> list[str]:
    """Collapse / missing-class reasons from the run's own val class predictions."""
    m = info.metrics
    if info.kind == "trees":
        vc = (m.get("checks") or {}).get("val_classes") or {}
        return [] if vc.get("ok", False) else [f"val classes: {vc.get('message', 'no check')}"]
    if info.kind == "supervised":
        rep = (m.get("val") or {}).get("corrected") or {}
        shares = rep.get("pred_shares") or []
        out = [f"collapsed: {rep['alarm']}"] if rep.get("alarm") else []
        if shares and min(shares) == 0:
            out.append(f"a class is never predicted on val (shares {shares})")
        return out
    return []  # PPO/SAC runs record no class predictions: their checks are the others


def _has_val_metrics(info: RunInfo) -> bool:
    m = info.metrics
    if info.kind == "trees":
        return bool(m.get("val_backtest"))
    if info.kind == "supervised":
        return bool(m.get("val_env") or m.get("val"))
    return m.get("split") == "val" and bool(m.get("policies"))


def promotion_problems(
    info: RunInfo, market: str | None, latest: dict[str, Any] | None
) -> list[str]:
    """Every reason to refuse ``info`` (empty: promotable)."""
    out = _class_problems(info)
    if not _has_val_metrics(info):
        out.append("no val metrics (metrics.json lacks the val backtest)")
    if not (info.meta.get("data_sha256") or {}):
        out.append("no data hash (meta.json lacks data_sha256)")
    market = market or info.env
    if market is None or info.env is None or not is_market(market) or not is_market(info.env):
        out.append(f"unknown market {market!r} / run env {info.env!r}")
    elif (bar := get_preset(market).freq) != (run_bar := get_preset(info.env).freq):
        out.append(f"bar size {run_bar} ({info.env}) is not the market's {bar} ({market})")
    if latest:
        for key in ("feature_set", "window"):
            if latest.get(key) != getattr(info, key):
                out.append(
                    f"{key} {getattr(info, key)!r} differs from the registered {latest.get(key)!r}"
                )
        if extra_layout(latest) != info.layout:  # daily rows / context market
            out.append(f"layout {info.layout} differs from the registered {extra_layout(latest)}")
    return out


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
    return d, check_record(_json(d / "registry.json"), d / "registry.json")


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
        if a.cmd == "promote":
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
