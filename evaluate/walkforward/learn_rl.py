"""PPO and SAC on one walk-forward fold, with the main job's configuration by default.

The configuration is the one ``python -m agents.ppo --env ENV`` (or ``agents.sac``) trains with:
``agents.training.config.resolve_config`` (defaults -> ``agents/configs/<algo>.yml`` default -> its
``ENV`` entry -> ``--config`` -> flags), so on btc1h PPO trains on flagtrader60 with window 16
and gamma 0.99 as the main job does. Only ``--timesteps``, an explicit ``--feature-set`` /
``--window`` and the evaluation's cost overrides change it. ``agents.training.pipeline.train_ppo`` (the
function ``agents.ppo.main`` trains with, for either algorithm) trains on the fold's inner-train
rows with the embargo holes masked and keeps ``best_model.zip`` chosen on the fold's val rows.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from agents.acting.loading import load_run
from agents.algorithms import ALGOS
from agents.training.config import CONFIG_DIR, RunConfig, resolve_config
from agents.training.pipeline import train_ppo as train_agent
from backtest.folds import env_split
from evaluate.walkforward.context import FoldContext, MethodSettings, TrainedFold
from lab.config import load_yaml
from lab.rundir import create_run_dir
from lab.runtime import seed_everything, set_torch_threads

RL_ALGOS = tuple(ALGOS)  # the RL algorithm table: a new entry walks forward too


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


def rl_settings(
    algo: str,
    env: str,
    *,
    config: Path | None,
    feature_set: str | None,
    window: int | None,
    timesteps: int | None,
) -> MethodSettings:
    """Which configuration ``algo`` trains with, said in words (the report's "config" line)."""
    cfg = rl_config(
        algo, env, config=config, feature_set=feature_set, window=window, timesteps=timesteps
    )
    zoo = load_yaml(CONFIG_DIR / f"{algo}.yml")
    entry = env if env in zoo else "default"
    source = f"the main job's configuration: agents/configs/{algo}.yml [{entry}]"
    if config is not None:
        source += f" + {config}"
    overrides = [
        f"--{k} {v}"
        for k, v in (("feature-set", feature_set), ("window", window), ("timesteps", timesteps))
        if v is not None
    ]
    if overrides:
        source += " + " + " ".join(overrides)
    hyper = cfg.hyper
    summary: dict[str, Any] = {
        "reward": cfg.env.reward,
        "decision_interval": cfg.env.decision_interval,
        "gamma": getattr(hyper, "gamma", None),
        "timesteps": cfg.train.total_timesteps,
    }
    return MethodSettings(algo, cfg.env.feature_set, cfg.env.window, source, summary)


def train_rl_fold(ctx: FoldContext, algo: str) -> TrainedFold:
    """``algo`` (ppo | sac) on the fold's inner-train rows, best checkpoint chosen on its val rows."""
    cfg = rl_config(
        algo,
        ctx.data.preset,
        config=ctx.config,
        feature_set=ctx.data.feature_set,
        window=ctx.window,
        timesteps=ctx.timesteps,
        seed=ctx.seed,
        costs=ctx.costs(("fee_bps", "slippage_bps", "funding", "fill")),
    )
    run_dir = create_run_dir(
        env=cfg.env_name,
        algo=algo,
        seed=cfg.seed,
        config=cfg.to_dict(),
        data_files=ctx.data.data_files,
        run_dir=ctx.run_dir,
        argv=ctx.argv,
    )
    seed_everything(cfg.seed)
    set_torch_threads(cfg.train.torch_threads)
    n = ctx.market.n_bars
    model, _ = train_agent(
        cfg,
        run_dir,
        ctx.train_market,
        env_split(ctx.plan.train_span, n),
        env_split(ctx.plan.val, n),
        normaliser=ctx.normaliser,
        log=lambda s: print(f"    {s}", file=sys.stderr),
    )
    best_json = run_dir / "eval" / "best.json"
    best = json.loads(best_json.read_text()) if best_json.is_file() else {}
    name = f"wf_{algo}"
    spec = load_run(run_dir, label=name)
    spec.name, spec.seed = name, cfg.seed
    selection = {
        "best_model_step": best.get("num_timesteps"),
        "val_mean_reward": best.get("mean_reward"),
        "num_timesteps": int(model.num_timesteps),
    }
    return TrainedFold(spec, {name: spec.policy}, selection)
