"""PPO and SAC on one walk-forward fold, with the main job's configuration by default.

The configuration is the one ``python -m agents.ppo --env ENV`` (or ``agents.sac``) trains with
(``agents.training.fold_train.rl_config``: defaults -> ``agents/configs/<algo>.yml`` default ->
its ``ENV`` entry -> ``--config`` -> flags), so on btc1h PPO trains on flagtrader60 with window
16 and gamma 0.99 as the main job does. Only ``--timesteps``, an explicit ``--feature-set`` /
``--window`` and the evaluation's cost overrides change it. The training itself is
``agents.training.fold_train.train_on_fold`` (inner-train rows, embargo holes masked,
``best_model.zip`` chosen on the fold's val rows), shared with ``agents.tune --objective
walkforward``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from agents.algorithms import ALGOS
from agents.training.config import CONFIG_DIR
from agents.training.fold_train import FoldMarket, rl_config, train_on_fold
from evaluate.walkforward.context import FoldContext, MethodSettings, TrainedFold
from lab.config import load_yaml

RL_ALGOS = tuple(ALGOS)  # the RL algorithm table: a new entry walks forward too


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
    """``algo`` (ppo | sac) on the fold's inner-train rows, best checkpoint chosen on its val rows
    (``agents.training.fold_train``, the same code ``agents.tune --objective walkforward`` runs)."""
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
    fold = FoldMarket(
        ctx.plan, ctx.market, ctx.train_market, ctx.normaliser, list(ctx.data.data_files)
    )
    name = f"wf_{algo}"
    spec, selection = train_on_fold(
        cfg, fold, ctx.run_dir, name, argv=ctx.argv,
        log=lambda s: print(f"    {s}", file=sys.stderr),
    )  # fmt: skip
    return TrainedFold(spec, {name: spec.policy}, selection)
