"""An RL agent trained on one walk-forward fold's rows, its checkpoint chosen on the fold's val rows.

One implementation for the two callers that train on arbitrary row ranges rather than a
preset's named splits: the walk-forward (``evaluate.walkforward.learn_rl``: every (method, fold,
seed)) and ``agents.tune --objective walkforward|cpcv`` (every trial on every fold), so a
configuration is tuned on exactly the folds, rows and selection rule it is evaluated with.

``rl_config`` resolves the main job's configuration (``agents.training.config.resolve_config``:
defaults -> ``agents/configs/<algo>.yml`` default -> its ``ENV`` entry -> ``--config`` ->
overrides). ``train_on_fold`` fits nothing itself: the caller hands the fold's market built with
a normaliser fitted on the fold's train rows (``backtest.folds.WFData``); it trains with
``agents.training.pipeline.train_ppo`` (either algorithm) on the inner-train rows with the
embargo holes masked and keeps ``best_model.zip`` chosen on the fold's val rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.acting.loading import load_run
from agents.training.config import RunConfig, resolve_config
from agents.training.pipeline import train_ppo as train_agent
from backtest.baselines import PolicySpec
from backtest.folds import FoldPlan, env_split
from envs import MarketData
from lab.rundir import create_run_dir
from lab.runtime import seed_everything, set_torch_threads


def rl_config(
    algo: str,
    env: str,
    *,
    config: Path | None = None,
    feature_set: str | None = None,
    window: int | None = None,
    timesteps: int | None = None,
    seed: int = 0,
    costs: dict[str, Any] | None = None,
) -> RunConfig:
    """The main job's resolved config for ``algo`` on ``env`` with the walk-forward's overrides."""
    env_layer: dict[str, Any] = dict(costs or {})
    if feature_set is not None:
        env_layer["feature_set"] = feature_set
    if window is not None:
        env_layer["window"] = int(window)
    cli: dict[str, Any] = {"seed": int(seed), "env": env_layer}
    if timesteps is not None:
        cli["train"] = {"total_timesteps": int(timesteps)}
    return resolve_config(algo, env, config_file=config, cli=cli)


@dataclass
class FoldMarket:
    """One fold's rows and markets: the full series normalised on the fold's train rows, and
    the same with the embargo holes masked (what training and selection see)."""

    plan: FoldPlan
    market: MarketData
    train_market: MarketData
    normaliser: Any
    data_files: list[Path]


def train_on_fold(
    cfg: RunConfig,
    fold: FoldMarket,
    run_dir: Path,
    name: str,
    *,
    argv: list[str] | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[PolicySpec, dict[str, Any]]:
    """Train ``cfg`` on ``fold``'s inner-train rows into ``run_dir``; the val-selected policy
    (labelled ``name``) and what was selected (best checkpoint step, its val reward)."""
    run_dir = create_run_dir(
        env=cfg.env_name, algo=cfg.algo, seed=cfg.seed, config=cfg.to_dict(),
        data_files=fold.data_files, run_dir=run_dir, argv=argv or [],
    )  # fmt: skip
    seed_everything(cfg.seed)
    set_torch_threads(cfg.train.torch_threads)
    n = fold.market.n_bars
    model, _ = train_agent(
        cfg,
        run_dir,
        fold.train_market,
        env_split(fold.plan.train_span, n),
        env_split(fold.plan.val, n),
        normaliser=fold.normaliser,
        log=log or (lambda s: None),
    )
    best_json = run_dir / "eval" / "best.json"
    best = json.loads(best_json.read_text()) if best_json.is_file() else {}
    spec = load_run(run_dir, label=name)
    spec.name, spec.seed = name, cfg.seed
    selection = {
        "best_model_step": best.get("num_timesteps"),
        "val_mean_reward": best.get("mean_reward"),
        "num_timesteps": int(model.num_timesteps),
    }
    return spec, selection
