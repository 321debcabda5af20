"""The walk-forward's learner table: per method, its settings and how to train it on one fold.

ONE place: the orchestrator (``evaluate.walkforward.cli`` / ``grid``) reads only ``LEARNERS``,
which is built from the project's learner table (``agents.learners``): every learner the table
lets the walk-forward serve (``supporting("walkforward")``) gets its family's fold trainer
here, because the table's ``train(argv)`` trains on a preset's named splits while a fold trains
on arbitrary row ranges; a learner the table refuses is absent, with the table's reason.

* every RL algorithm of ``agents.algorithms.ALGOS`` (``ppo``, ``sac``, ...):
  ``evaluate.walkforward.learn_rl`` (the main job's configuration);
* ``supervised`` / ``trees``: ``evaluate.walkforward.learn_supervised``;
* ``momentum`` (SMOKE PATH, no learning): the lookback among ``MOMENTUM_GRID`` with the best
  Sharpe on the fold's val rows. Cheap and deterministic; it exercises the same folds,
  selection, stitching and reporting as the learned methods; its 4 lookbacks are 4 trials.

Every learner selects on the fold's val rows only and hands back a ``TrainedFold``; the
evaluation (val Sharpe of the selected policy, test backtest) is the caller's, with one set of
costs for everyone.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agents.learners import LEARNERS as TABLE
from agents.learners import supporting
from backtest.baselines import MomentumPolicy, Policy, PolicySpec
from backtest.fold_backtest import backtest_rows
from backtest.record import Backtest
from evaluate.walkforward.context import FoldContext, MethodSettings, TrainedFold, jsonable
from evaluate.walkforward.learn_rl import RL_ALGOS, rl_settings, train_rl_fold
from evaluate.walkforward.learn_supervised import (
    supervised_settings,
    train_supervised_fold,
    train_trees_fold,
)

RL_FLAGS = ("timesteps", "config")
MOMENTUM_GRID = (24, 72, 168, 336)  # 1 day .. 2 weeks of hourly bars
MOMENTUM_FEATURES = "core17"  # the smoke path reads prices only; any feature set builds the env
DEFAULT_WINDOW = 32


@dataclass(frozen=True)
class Learner:
    """One method: the flags it reads, its settings and its fold trainer."""

    flags: tuple[str, ...]  # walk-forward flags this method reads (others are refused)
    train: Callable[[FoldContext], TrainedFold]


def val_backtest(spec: PolicySpec, ctx: FoldContext) -> Backtest:
    """``spec`` over the fold's val rows (costs as in evaluation)."""
    return backtest_rows(
        spec, ctx.train_market, ctx.plan.val, ctx.eval_options, ctx.data.periods_per_year
    )


def val_sharpe(spec: PolicySpec, ctx: FoldContext) -> float:
    """Annualised Sharpe of ``spec`` over the fold's val rows (costs as in evaluation)."""
    return float(val_backtest(spec, ctx).summary()["sharpe"])


def _finite(x: float) -> float:
    return x if math.isfinite(x) else -math.inf


def train_momentum_fold(ctx: FoldContext) -> TrainedFold:
    """SMOKE PATH: pick the momentum lookback with the best val Sharpe (ties: the shorter)."""
    ctx.run_dir.mkdir(parents=True, exist_ok=True)
    settings = {"feature_set": ctx.data.feature_set, "window": ctx.window, "action": "discrete"}
    sharpes = {
        lb: val_sharpe(PolicySpec(f"momentum_{lb}", "momentum", MomentumPolicy(lb)), ctx)
        for lb in MOMENTUM_GRID
    }
    best = max(MOMENTUM_GRID, key=lambda lb: (_finite(sharpes[lb]), -lb))
    selection = {
        "lookback": best,
        "val_sharpe": {str(k): v for k, v in sharpes.items()},
        "note": "smoke path: baseline selection, no learning",
    }
    (ctx.run_dir / "selection.json").write_text(json.dumps(jsonable(selection), indent=2))
    spec = PolicySpec(
        "wf_momentum",
        "wf_momentum",
        MomentumPolicy(best),
        None,
        settings,
        ctx.normaliser,
        source=f"lookback {best} chosen on val",
    )
    trials: dict[str, Policy] = {f"momentum_{lb}": MomentumPolicy(lb) for lb in MOMENTUM_GRID}
    return TrainedFold(spec, trials, selection)


def _rl_learner(algo: str) -> Learner:
    return Learner(RL_FLAGS, lambda ctx: train_rl_fold(ctx, algo))


# how the walk-forward trains each family of the project's learner table on a fold's rows
FAMILIES: dict[str, Callable[[str], Learner]] = {
    "rl": _rl_learner,
    "supervised": lambda _: Learner(("epochs", "max_train_samples"), train_supervised_fold),
    "trees": lambda _: Learner(("max_train_samples", "config"), train_trees_fold),
}
LEARNERS: dict[str, Learner] = {
    # every learner the table (agents.learners) lets the walk-forward serve, by its family
    **{
        name: FAMILIES[TABLE[name].family](TABLE[name].algo or name)
        for name in supporting("walkforward")
    },
    "momentum": Learner((), train_momentum_fold),  # the walk-forward's own smoke path
}
METHODS = tuple(LEARNERS)


def method_settings(
    method: str,
    env: str,
    *,
    config: Path | None = None,
    feature_set: str | None = None,
    window: int | None = None,
    timesteps: int | None = None,
    epochs: int | None = None,
) -> MethodSettings:
    """The settings ``method`` trains with on ``env`` (``feature_set``/``window``: overrides)."""
    if method in RL_ALGOS and method in LEARNERS:
        return rl_settings(
            method, env, config=config, feature_set=feature_set, window=window, timesteps=timesteps
        )
    if method in ("supervised", "trees"):
        return supervised_settings(method, feature_set, window, epochs)
    if method == "momentum":
        return MethodSettings(
            method,
            feature_set or MOMENTUM_FEATURES,
            int(window or DEFAULT_WINDOW),
            f"lookback chosen on val among {MOMENTUM_GRID} bars (no learning)",
            {"n_configs": len(MOMENTUM_GRID)},
        )
    raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
