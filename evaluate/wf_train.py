"""Per-fold "training" for walk-forward: PPO, the supervised classifier, or a momentum smoke path.

Each trainer gets one ``FoldContext`` (the fold's rows, its normaliser and markets, a run folder)
and returns a ``TrainedFold``: the selected policy as a ``PolicySpec`` (evaluated afterwards on
the fold's test rows by ``evaluate.walkforward`` with the runner and the shared costs) plus the
configurations it tried, whose out-of-sample Sharpes feed the deflated Sharpe's trial variance.

* ``ppo``: resolved config -> ``create_run_dir`` -> seed -> ``agents.pipeline.train_ppo`` (the
  function ``agents.ppo.main`` trains with) on the fold's market: the train VecEnv on the fold's
  inner-train rows, the selection VecEnv (``best_model.zip``) on its val rows.
* ``supervised``: ``supervised.fitting.prepare`` / ``fit`` / ``supervised.train.save_run`` on a
  ``SupervisedData`` whose ``splits`` are the fold's train and val rows (a clean hook the
  supervised package already has: it indexes everything by ``splits``), costs = the evaluation's
  (the env's defaults unless overridden).
* ``momentum`` (SMOKE PATH, no learning): choose the lookback among ``MOMENTUM_GRID`` with the
  best Sharpe on the fold's val rows. Cheap, deterministic, exercises the same folds, selection,
  stitching and reporting as the learned algorithms; its 4 lookbacks are 4 configurations.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agents.config import resolve_config
from agents.loading import load_run
from agents.pipeline import train_ppo as train_agent
from backtest.baselines import MomentumPolicy, Policy, PolicySpec
from backtest.runner import run_env
from envs import MarketData, TradingEnv
from evaluate.wf_data import FoldPlan, WFData, env_split
from lab.rundir import create_run_dir
from lab.runtime import seed_everything, set_torch_threads
from supervised.data import SupervisedData
from supervised.fitting import FitConfig, fit, fit_val_rule, prepare
from supervised.train import save_run
from supervised.trees.ensemble import TreeSizes
from supervised.trees.train import THRESHOLD_DEFAULTS, direction_check, fit_and_save

MOMENTUM_GRID = (24, 72, 168, 336)  # 1 day .. 2 weeks of hourly bars


@dataclass
class FoldContext:
    """Everything a fold trainer may use (see the module docstring)."""

    data: WFData
    plan: FoldPlan
    normaliser: Any  # fitted on plan.train rows only
    market: MarketData  # the full series with that normaliser (test rows untouched)
    train_market: MarketData  # the same with the embargo holes masked
    run_dir: Path
    seed: int
    window: int
    eval_options: dict[str, Any]  # env options of every evaluation (costs, max_drawdown=None)
    timesteps: int | None = None
    epochs: int | None = None
    max_train_samples: int | None = None
    config: Path | None = None  # PPO: --config YAML (sections env/policy/ppo/train)
    argv: list[str] = field(default_factory=list)


@dataclass
class TrainedFold:
    """What a fold trainer hands back: the selected policy, every trial and why it was chosen."""

    spec: PolicySpec  # the selected policy
    trials: dict[str, Policy]  # every configuration tried this fold, for the trial variance
    selection: dict[str, Any]  # what was chosen on val and why


def _settings(ctx: FoldContext, action: str = "discrete") -> dict[str, Any]:
    return {"feature_set": ctx.data.feature_set, "window": ctx.window, "action": action}


def val_backtest(policy: Policy, ctx: FoldContext, name: str) -> float:
    """Annualised Sharpe of ``policy`` over the fold's val rows (costs as in evaluation)."""
    opts = {k: v for k, v in ctx.eval_options.items() if k != "action"}
    env = TradingEnv(ctx.train_market, env_split(ctx.plan.val, ctx.market.n_bars), **opts)
    bt = run_env(policy, env, name, periods_per_year=ctx.data.periods_per_year)
    return float(bt.summary()["sharpe"])


def train_momentum_fold(ctx: FoldContext) -> TrainedFold:
    """SMOKE PATH: pick the momentum lookback with the best val Sharpe (ties: the shorter)."""
    ctx.run_dir.mkdir(parents=True, exist_ok=True)
    sharpes = {lb: val_backtest(MomentumPolicy(lb), ctx, f"momentum_{lb}") for lb in MOMENTUM_GRID}
    best = max(MOMENTUM_GRID, key=lambda lb: (_finite(sharpes[lb]), -lb))
    selection = {
        "lookback": best,
        "val_sharpe": {str(k): v for k, v in sharpes.items()},
        "note": "smoke path: baseline selection, no learning",
    }
    (ctx.run_dir / "selection.json").write_text(json.dumps(_jsonable(selection), indent=2))
    spec = PolicySpec(
        "wf_momentum",
        "wf_momentum",
        MomentumPolicy(best),
        None,
        _settings(ctx),
        ctx.normaliser,
        source=f"lookback {best} chosen on val",
    )
    trials: dict[str, Policy] = {f"momentum_{lb}": MomentumPolicy(lb) for lb in MOMENTUM_GRID}
    return TrainedFold(spec, trials, selection)


def train_ppo_fold(ctx: FoldContext) -> TrainedFold:
    """PPO on the fold's inner-train rows, best checkpoint chosen on its val rows.

    ``agents.pipeline.train_ppo`` does the training (the same function as ``agents.ppo``) on the
    fold's market with the embargo holes masked; costs are the evaluation's."""
    costs: dict[str, Any] = {
        k: ctx.eval_options[k]
        for k in ("fee_bps", "slippage_bps", "funding", "fill")
        if k in ctx.eval_options
    }
    cli: dict[str, Any] = {
        "seed": ctx.seed,
        "env": {"feature_set": ctx.data.feature_set, "window": ctx.window, **costs},
    }
    if ctx.timesteps is not None:
        cli["train"] = {"total_timesteps": int(ctx.timesteps)}
    cfg = resolve_config("ppo", ctx.data.preset, config_file=ctx.config, cli=cli)
    if cfg.env.action != "discrete":
        raise ValueError("walk-forward PPO needs env.action: discrete")
    run_dir = create_run_dir(
        env=cfg.env_name,
        algo="ppo",
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
    spec = load_run(run_dir, label="wf_ppo")
    spec.name, spec.seed = "wf_ppo", cfg.seed
    selection = {
        "best_model_step": best.get("num_timesteps"),
        "val_mean_reward": best.get("mean_reward"),
        "num_timesteps": int(model.num_timesteps),
    }
    return TrainedFold(spec, {"wf_ppo": spec.policy}, selection)


def fold_supervised_data(ctx: FoldContext) -> Any:
    """The fold as a ``supervised.data.SupervisedData``: ``splits`` are its train and val rows,
    the normaliser the fold's (fitted on its train rows), embargo holes masked in ``obs_ok``."""
    m, tm, d = ctx.market, ctx.train_market, ctx.data
    fold = ctx.plan.describe(d.index)
    return SupervisedData(
        env=d.preset,
        feature_set=d.feature_set,
        feature_names=list(m.feature_names),
        window=ctx.window,
        index=d.index,
        open=m.open,
        high=m.high,
        low=m.low,
        close=m.close,
        segment=m.segment,
        features=m.features,
        obs_ok=tm.obs_ok,
        can_step=m.can_step,
        funding=m.funding,
        splits={"train": ctx.plan.train_span, "val": ctx.plan.val},
        split_dates={"train": tuple(fold["train"]), "val": tuple(fold["val"])},
        normaliser=ctx.normaliser,
        data_files=list(d.data_files),
    )


def train_supervised_fold(ctx: FoldContext) -> TrainedFold:
    """The supervised classifier on the fold's train rows, early-stopped/corrected on its val rows."""
    # costs: the evaluation's overrides, else FitConfig's defaults, which are the env's
    options: dict[str, Any] = {
        k: ctx.eval_options[k]
        for k in ("fee_bps", "slippage_bps", "funding")
        if k in ctx.eval_options
    }
    if ctx.epochs is not None:
        options["epochs"] = int(ctx.epochs)
    cfg = FitConfig(
        env=ctx.data.preset,
        feature_set=ctx.data.feature_set,
        window=ctx.window,
        seed=ctx.seed,
        max_train_samples=ctx.max_train_samples,
        **options,
    )
    run_dir = create_run_dir(
        env=cfg.env,
        algo="supervised",
        seed=cfg.seed,
        config=dataclasses.asdict(cfg),
        data_files=ctx.data.data_files,
        run_dir=ctx.run_dir,
        argv=ctx.argv,
    )
    seed_everything(cfg.seed)
    set_torch_threads(cfg.threads)
    data = fold_supervised_data(ctx)
    prep = prepare(cfg, data)
    res = fit(cfg, prep, writer=None, log=lambda s: print(f"    {s}", file=sys.stderr))
    # the same cost-aware decision rule as supervised.train, fitted on the fold's val rows only
    rule_fit = fit_val_rule(prep, res.model, res.evaluation.correction.bias, cfg)
    save_run(run_dir, cfg, prep, res, rule_fit=rule_fit)
    spec = load_run(run_dir / "model.pt", label="wf_supervised")
    spec.name, spec.seed = "wf_supervised", cfg.seed
    selection = {
        "best_epoch": res.best_epoch,
        "val_sharpe": res.evaluation.trading.get("sharpe"),
        "n_train_samples": len(prep.train),
        "decision_rule": rule_fit.rule.label(),
        "rule_grid_points": rule_fit.n_grid,
    }
    return TrainedFold(spec, {"wf_supervised": spec.policy}, selection)


def train_trees_fold(ctx: FoldContext) -> TrainedFold:
    """The stacked tree ensemble (``supervised.trees``) on the fold's train rows; its class
    correction and decision rule fitted on the fold's val rows (``fit_and_save``, as a tree run).

    Labels and sizes: the tree CLI's defaults (+-0.5% threshold over 6 bars), overridden by the
    ``trees:`` section of ``--config`` (``TreeSizes`` fields and ``n_jobs``/``n_folds``/
    ``calib_share``); costs the evaluation's."""
    import yaml

    section = dict((yaml.safe_load(ctx.config.read_text()) or {}).get("trees") or {}) if ctx.config else {}  # fmt: skip
    opts = {
        k: section.pop(k, v) for k, v in {"n_jobs": 1, "n_folds": 2, "calib_share": 0.15}.items()
    }
    sizes = TreeSizes(**section)  # an unknown key fails here, naming it
    keys = ("fee_bps", "slippage_bps", "funding")
    costs = {k: ctx.eval_options[k] for k in keys if k in ctx.eval_options}
    cfg = FitConfig(env=ctx.data.preset, feature_set=ctx.data.feature_set, window=ctx.window,
                    labels="threshold", horizon=6, label_params=dict(THRESHOLD_DEFAULTS),
                    correction="balanced_accuracy", seed=ctx.seed,
                    max_train_samples=ctx.max_train_samples, **costs)  # fmt: skip
    run_dir = create_run_dir(
        env=cfg.env,
        algo="trees",
        seed=cfg.seed,
        config={**dataclasses.asdict(cfg), "trees": {**sizes.to_dict(), **opts}},
        data_files=ctx.data.data_files,
        run_dir=ctx.run_dir,
        argv=ctx.argv,
    )
    prep = prepare(cfg, fold_supervised_data(ctx))
    direction = direction_check(prep)
    fitted = fit_and_save(cfg, sizes, opts, prep, run_dir)
    spec = load_run(run_dir, label="wf_trees")
    spec.name, spec.seed = "wf_trees", cfg.seed
    selection = {
        "label_direction": direction["message"],
        "val_classes": fitted.classes["message"],
        "val_classes_ok": bool(fitted.classes["ok"]),
        "n_train_samples": len(prep.train),
        "decision_rule": fitted.rule_fit.rule.label(),
        "rule_grid_points": fitted.rule_fit.n_grid,
        "fit_s": round(fitted.fit_s, 1),
    }
    (run_dir / "selection.json").write_text(json.dumps(_jsonable(selection), indent=2))
    return TrainedFold(spec, {"wf_trees": spec.policy}, selection)


TRAINERS = {
    "ppo": train_ppo_fold,
    "supervised": train_supervised_fold,
    "trees": train_trees_fold,
    "momentum": train_momentum_fold,
}


def _finite(x: float) -> float:
    return x if math.isfinite(x) else -math.inf


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
