"""What the registry reads from a run folder before promoting it, and every reason to refuse it.

``describe_run`` classifies a run folder (trees, supervised, sb3) and reads its layout;
``promotion_problems`` lists the refusals ``agents.serving.model_registry.promote`` names (and
``agents.serving.ensemble_registry`` applies to every member of a seed group).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agents.serving.registry_checks import RegistryError, read_json
from envs.marketspec import is_market
from envs.multiframe import extra_layout
from envs.presets import get_preset

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


_json = read_json  # a damaged JSON file is a RegistryError naming it (registry_checks)


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
        import torch  # only for a supervised run: predict and paper stay torch-free

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
