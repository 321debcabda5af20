"""The supervised classifier and the tree ensemble on one walk-forward fold.

* ``supervised``: ``supervised.fitting.prepare`` / ``fit`` / ``supervised.train.save_run`` on a
  ``SupervisedData`` whose ``splits`` are the fold's train and val rows (the supervised package
  indexes everything by ``splits``); early stopping, the logit correction and the cost-aware
  decision rule are chosen on the fold's val rows; costs are the evaluation's.
* ``trees``: the stacked tree ensemble (``supervised.trees``) on the fold's train rows; its class
  correction and decision rule fitted on the fold's val rows (``fit_and_save``, as a tree run).
  Labels and sizes: the tree CLI's defaults (+-0.5% threshold over 6 bars), overridden by the
  ``trees:`` section of ``--config`` (``TreeSizes`` fields and ``n_jobs``/``n_folds``/
  ``calib_share``).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any

import yaml

from agents.acting.loading import load_run
from evaluate.walkforward.context import FoldContext, MethodSettings, TrainedFold, jsonable
from lab.rundir import create_run_dir
from lab.runtime import seed_everything, set_torch_threads
from supervised.data import SupervisedData
from supervised.fitting import FitConfig, fit, fit_val_rule, prepare
from supervised.train import save_run
from supervised.trees.ensemble import TreeSizes
from supervised.trees.train import THRESHOLD_DEFAULTS, direction_check, fit_and_save

SUPERVISED_DEFAULTS = FitConfig()


def supervised_settings(
    method: str, feature_set: str | None, window: int | None, epochs: int | None = None
) -> MethodSettings:
    """The classifier's / trees' settings: ``supervised.train``'s defaults unless overridden."""
    fs = feature_set or SUPERVISED_DEFAULTS.feature_set
    win = int(window or SUPERVISED_DEFAULTS.window)
    if method == "trees":
        return MethodSettings(
            method,
            fs,
            win,
            "python -m supervised.trees defaults (threshold labels over 6 bars)",
            {"labels": "threshold", "horizon": 6},
        )
    return MethodSettings(
        method,
        fs,
        win,
        "python -m supervised.train defaults",
        {"labels": SUPERVISED_DEFAULTS.labels, "epochs": epochs or SUPERVISED_DEFAULTS.epochs},
    )


def fold_supervised_data(ctx: FoldContext) -> SupervisedData:
    """The fold as a ``SupervisedData``: ``splits`` are its train and val rows, the normaliser
    the fold's (fitted on its train rows), embargo holes masked in ``obs_ok``."""
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
    """The classifier on the fold's train rows, early-stopped/corrected on its val rows."""
    options: dict[str, Any] = ctx.costs()
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
    prep = prepare(cfg, fold_supervised_data(ctx))
    res = fit(cfg, prep, writer=None, log=lambda s: print(f"    {s}", file=sys.stderr))
    # the same cost-aware decision rule as supervised.train, fitted on the fold's val rows only
    rule_fit = fit_val_rule(prep, res.model, res.evaluation.correction.bias, cfg)
    save_run(run_dir, cfg, prep, res, rule_fit=rule_fit)
    spec = load_run(run_dir / "model.pt", label="wf_supervised")
    spec.name, spec.seed = "wf_supervised", cfg.seed
    selection = {
        "best_epoch": res.best_epoch,
        "n_train_samples": len(prep.train),
        "decision_rule": rule_fit.rule.label(),
        "rule_grid_points": rule_fit.n_grid,
    }
    return TrainedFold(spec, {"wf_supervised": spec.policy}, selection)


def _tree_section(ctx: FoldContext) -> dict[str, Any]:
    if ctx.config is None:
        return {}
    return dict((yaml.safe_load(ctx.config.read_text()) or {}).get("trees") or {})


def train_trees_fold(ctx: FoldContext) -> TrainedFold:
    """The tree ensemble on the fold's train rows; correction and rule fitted on its val rows."""
    section = _tree_section(ctx)
    defaults = {"n_jobs": 1, "n_folds": 2, "calib_share": 0.15}
    opts = {k: section.pop(k, v) for k, v in defaults.items()}
    sizes = TreeSizes(**section)  # an unknown key fails here, naming it
    cfg = FitConfig(
        env=ctx.data.preset,
        feature_set=ctx.data.feature_set,
        window=ctx.window,
        labels="threshold",
        horizon=6,
        label_params=dict(THRESHOLD_DEFAULTS),
        correction="balanced_accuracy",
        seed=ctx.seed,
        max_train_samples=ctx.max_train_samples,
        **ctx.costs(),
    )
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
    (run_dir / "selection.json").write_text(json.dumps(jsonable(selection), indent=2))
    return TrainedFold(spec, {"wf_trees": spec.policy}, selection)
