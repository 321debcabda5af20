"""Evaluate trained runs on a market they have never seen (``python -m evaluate --env NEW``).

A run keeps its own normaliser and feature set (``agents.acting.loading.load_run``); the market must
have the run's bar size and produce the run's feature columns. ``check_runs_on_market`` refuses
a mismatch with one line naming the run, what it was trained on and what the market has.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from backtest.baselines import PolicySpec
from envs import barsize, load_market
from envs.presets import get_preset
from lab.config import ConfigError
from lab.rundir import read_config


def run_folder(source: str) -> Path | None:
    """The run folder (the one with ``config.yaml``) holding ``source`` (a zip/model.pt/folder)."""
    path = Path(source.split("@")[0])
    for folder in [path, *path.parents][:4]:
        if (folder / "config.yaml").is_file():
            return folder
    return None


def read_meta(folder: Path) -> dict[str, Any]:
    """A run folder's ``meta.json`` (empty when absent); ``ConfigError`` (one line, exit 2) when
    it is not a JSON object: the folder is damaged."""
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        return {}
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as err:
        raise ConfigError(
            f"{meta_path}: not valid JSON ({err}); the run folder is damaged: restore meta.json "
            "from a copy, or evaluate another run"
        ) from None
    if not isinstance(meta, dict):
        raise ConfigError(f"{meta_path}: expected a JSON object; the run folder is damaged")
    return meta


def run_bar(folder: Path) -> str | None:
    """The bar size a run was trained on: its recorded market, else its market key re-resolved."""
    meta = read_meta(folder)
    if isinstance(meta.get("market"), dict) and meta["market"].get("bar"):
        return barsize.canonical(str(meta["market"]["bar"]))
    cfg = read_config(folder)
    env = cfg.get("env_name") or cfg.get("env")
    try:
        return barsize.canonical(get_preset(str(env)).freq) if env else None
    except (KeyError, ValueError, OSError):
        return None


def check_runs_on_market(specs: list[PolicySpec], market_key: str) -> None:
    """``ConfigError`` (one line, exit 2) when a run's bar size or feature columns differ from
    ``market_key``'s."""
    market = get_preset(market_key)
    bar = barsize.canonical(market.freq)
    for spec in specs:
        folder = run_folder(spec.source) if spec.source else None
        trained = run_bar(folder) if folder is not None else None
        if trained is not None and trained != bar:
            raise ConfigError(
                f"bar size mismatch: run {folder} was trained on {trained} bars, --env "
                f"{market.name} has {bar} bars; evaluate it on {trained} bars (a {trained} file, "
                f"or --bar {trained} on a finer one)"
            )
        names = getattr(spec.normaliser, "feature_names", None)
        if not names:
            continue
        fset = str(spec.env_settings.get("feature_set", "core17"))
        window = int(spec.env_settings.get("window", 32))
        try:  # the run's own normaliser: nothing is fitted on the new market
            load_market(market_key, fset, window, normaliser=spec.normaliser)
        except ValueError as err:
            if "do not match the fitted normaliser" not in str(err):
                raise
            detail = str(err).split(": ", 1)[-1]
            raise ConfigError(
                f"feature set mismatch: run {folder or spec.source} uses {fset} with "
                f"{len(names)} columns, --env {market.name} gives other columns ({detail}); "
                "a funding feature needs --funding FILE"
            ) from None
