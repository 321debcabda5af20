"""``agents.tune --objective walkforward|cpcv``: a trial scored on the walk-forward's inner
validation blocks, never on a test block.

The folds are the walk-forward's own (``backtest.folds.plan_folds``, or ``backtest.cpcv
.cpcv_plans`` for ``--cv cpcv``) over the market's train and val splits only, less a purge
before the test split (no decision's outcome bar reaches the preset's test split): each fold trains the trial's configuration on its inner-train rows
(embargo holes masked, normaliser fitted there) and selects the checkpoint on its val block,
exactly as ``python -m evaluate.walkforward`` does (``agents.training.fold_train``). The fold's
score is the selected policy's annualised Sharpe on that val block (an always-flat policy,
Sharpe undefined, scores 0). The trial's objective: per fold the mean over its seeds, then over
the folds the mean (``--objective-stat mean``) or the lower quartile (``lower-quartile``: a
configuration must hold in most regimes, not shine in one). The test rows of each fold are
neither trained on, selected on nor backtested.

Pruning: after each fold of the first seed the running mean of its fold scores is reported
(step = fold number) to the study's pruner snapshot (``agents.experiments.tune_trial``).

Ledger: one record per (trial, seed), source ``tune``, its value the seed's objective, with the
seed's val returns of every fold laid end to end (``val_returns.npz`` in the seed's folder,
timestamps kept): every trial of a study shares those bars, so PBO and SPA run over the study.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from agents.algorithms import ALGOS
from agents.experiments.tune_trial import merge_layers, nested, snapshot_trial
from agents.training.cli import parse
from agents.training.fold_train import FoldMarket, train_on_fold
from backtest.cpcv import cpcv_plans
from backtest.fold_backtest import backtest_rows, eval_options
from backtest.folds import FoldPlan, WFData, mask_rows, plan_folds
from backtest.runner import CostOverrides
from envs.presets import get_preset
from lab.config import ConfigError
from lab.ledger import (
    append_record,
    default_runs_root,
    ledger_enabled,
    make_record,
    recorded_run_dirs,
)

OBJECTIVE_STATS = ("mean", "lower-quartile")
VAL_RETURNS = "val_returns.npz"


def tune_plans(
    env: str,
    cv: str,
    *,
    folds: int | None,
    groups: int | None,
    test_groups: int | None,
    val_bars: int,
    min_train_bars: int,
    purge_bars: int = 24,
    embargo_bars: int = 24,
) -> list[FoldPlan]:
    """The study's fold plans over ``env``'s train+val splits (ValueError: they do not fit)."""
    p = get_preset(env)
    data = market_data(env, "core17")
    lo, hi = data.span(p.splits["train"][0], p.splits["val"][1])
    span = (lo, hi - purge_bars)  # a purge before the test split: no outcome bar reaches it
    if cv == "cpcv":
        return cpcv_plans(
            span, int(groups or 0), int(test_groups or 0), val_bars=val_bars,
            purge_bars=purge_bars, embargo_bars=embargo_bars,
        )  # fmt: skip
    return plan_folds(
        span, int(folds or 0), val_bars=val_bars, purge_bars=purge_bars,
        embargo_bars=embargo_bars, min_train_bars=min_train_bars,
    )  # fmt: skip


@functools.lru_cache(maxsize=4)
def market_data(env: str, feature_set: str) -> WFData:
    """The market's candles and raw features, once per process and feature set."""
    return WFData.from_preset(env, feature_set)


def objective(fold_scores: np.ndarray, stat: str) -> float:
    """``fold_scores`` (seeds x folds, annualised val Sharpe; NaN = flat = 0): the mean over
    seeds per fold, then the mean or the lower quartile over folds."""
    per_fold = np.nan_to_num(np.asarray(fold_scores, dtype=np.float64), nan=0.0).mean(axis=0)
    if stat == "lower-quartile":
        return float(np.percentile(per_fold, 25))
    return float(per_fold.mean())


def _fold(data: WFData, plan: FoldPlan, window: int) -> FoldMarket:
    norm = data.fit_normaliser(plan.train)
    market = data.market(norm, window)
    return FoldMarket(plan, market, mask_rows(market, plan.holes), norm, list(data.data_files))


def _seed_folds(
    work_dir: Path, algo: str, argv: list[str], plans: list[FoldPlan], prune: Any,
    reports: dict[int, float],
) -> tuple[list[float], list[np.ndarray], list[np.ndarray], bool]:  # fmt: skip
    """One seed over every fold: val Sharpes, val returns and timestamps, whether pruned."""
    cfg = parse(algo, ALGOS[algo].hyper, argv).cfg
    data = market_data(cfg.env_name, cfg.env.feature_set)
    costs = CostOverrides(
        fee_bps=cfg.env.fee_bps, slippage_bps=cfg.env.slippage_bps, funding=cfg.env.funding,
        fill=cfg.env.fill,
    )  # fmt: skip
    scores, returns, stamps = [], [], []
    for plan in plans:
        fold = _fold(data, plan, cfg.env.window)
        spec, _ = train_on_fold(cfg, fold, work_dir / f"fold{plan.index:02d}", f"tune_{algo}")
        bt = backtest_rows(spec, fold.train_market, plan.val, eval_options(costs),
                           data.periods_per_year)  # fmt: skip
        sharpe = float(bt.summary()["sharpe"])
        scores.append(sharpe if math.isfinite(sharpe) else math.nan)
        returns.append(np.nan_to_num(bt.returns))
        stamps.append(np.asarray(bt.timestamps))
        if prune is not None:
            reports[plan.index] = float(np.mean(np.nan_to_num(scores)))
            prune.report(reports[plan.index], plan.index)
            if prune.should_prune():
                return scores, returns, stamps, True
    return scores, returns, stamps, False


def run_fold_trial(
    work_dir: Path,
    algo: str,
    env: str,
    params: dict[str, Any],
    seeds: list[int],
    extra_argv: list[str],
    history: list[dict[str, Any]],
    plans: list[FoldPlan],
    stat: str = "mean",
    pruner: str = "median",
    base_layer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Engine task: the trial's seeds over every fold; per-seed fold scores and objective, the
    trial's objective, the pruner reports; each seed's val returns in ``s<seed>/``."""
    layer = merge_layers(base_layer or {}, nested(params))
    cfg_file = work_dir / "trial_config.yml"
    cfg_file.write_text(yaml.safe_dump(layer, sort_keys=True), encoding="utf-8")
    reports: dict[int, float] = {}
    out: dict[str, Any] = {"seeds": {}, "intermediate": reports, "pruned": False}
    all_scores = []
    for i, s in enumerate(seeds):
        argv = ["--env", env, "--config", str(cfg_file), *extra_argv, "--seed", str(s),
                "--no-progress"]  # fmt: skip
        prune = snapshot_trial(history, pruner) if i == 0 else None
        seed_dir = work_dir / f"s{s}"
        scores, rets, stamps, pruned = _seed_folds(seed_dir, algo, argv, plans, prune, reports)
        np.savez(seed_dir / VAL_RETURNS, returns=np.concatenate(rets),
                 timestamps=np.concatenate(stamps),
                 fold_bars=np.array([len(r) for r in rets]))  # fmt: skip
        out["seeds"][str(s)] = {
            "fold_val_sharpes": [None if math.isnan(x) else x for x in scores],
            "val_sharpe": objective(np.array([scores]), stat),
        }
        if pruned:
            out["pruned"] = True
            break
        all_scores.append(scores)
    if not out["pruned"]:
        out["objective"] = objective(np.array(all_scores), stat)
    return out


# --- the driver's side: flags, the study's objective, the ledger ------------------------------

FOLD_ONLY = ("folds", "groups", "test_groups")  # read by --objective walkforward only
NOT_ON_FOLDS = {  # trial flags a fold trial cannot honour: refused, never silently ignored
    "--warm-start": "a fold trains from scratch on its own rows",
    "--pretrained": "a fold trains from scratch on its own rows",
}


def check_fold_args(args: Any) -> list[FoldPlan] | None:
    """The walk-forward objective's flags, one line each; its fold plans (None: --objective val)."""
    if args.objective != "walkforward":
        given = [f for f in FOLD_ONLY if getattr(args, f) is not None]
        if args.cv != "walkforward":
            given.append("cv")
        if args.objective_stat != "mean":
            given.append("objective_stat")
        if given:
            flag = "--" + given[0].replace("_", "-")
            raise ConfigError(
                f"{flag} is read by --objective walkforward only; add --objective walkforward "
                f"or drop {flag}"
            )
        return None
    if args.algo not in ALGOS:
        raise ConfigError(
            f"--objective walkforward trains RL agents on fold rows ({', '.join(ALGOS)}); "
            f"--algo {args.algo}: use --objective val, or python -m evaluate.walkforward "
            f"--methods {args.algo} to walk it forward"
        )
    for flag, why in NOT_ON_FOLDS.items():
        if flag in args.passthrough:
            raise ConfigError(f"{flag} with --objective walkforward: {why}; drop {flag}")
    if args.cv == "walkforward":
        if args.folds is None or args.groups is not None or args.test_groups is not None:
            raise ConfigError(
                "--objective walkforward needs --folds K (or --cv cpcv --groups N --test-groups k)"
            )
    elif args.folds is not None or args.groups is None or args.test_groups is None:
        raise ConfigError("--cv cpcv needs --groups N --test-groups k and no --folds")
    try:
        return tune_plans(
            args.env, args.cv, folds=args.folds, groups=args.groups,
            test_groups=args.test_groups, val_bars=args.val_bars,
            min_train_bars=args.min_train_bars,
        )  # fmt: skip
    except ValueError as err:
        raise ConfigError(f"--objective walkforward on {args.env}: {err}") from None


def objective_key(args: Any) -> str:
    """What the study's values mean; a study resumed with another objective is refused."""
    if args.objective != "walkforward":
        return "val"
    split = f"folds {args.folds}" if args.cv == "walkforward" else (
        f"cpcv {args.groups}/{args.test_groups}"
    )  # fmt: skip
    return (
        f"walkforward {split}, val {args.val_bars} bars, min train {args.min_train_bars} bars, "
        f"{args.objective_stat}"
    )


def check_study_objective(study: Any, args: Any) -> None:
    """Record the objective in a new study; refuse to mix objectives in one study."""
    key = objective_key(args)
    saved = study.user_attrs.get("objective", "val" if study.trials else None)
    if saved is None:
        study.set_user_attr("objective", key)
    elif saved != key:
        raise ConfigError(
            f"study {args.study} scores trials by {saved!r}, this command by {key!r}; rerun "
            "with the same objective flags or give a new --study"
        )


def record_fold_trial(args: Any, number: int, out_dir: Path, value: dict[str, Any],
                      state: str) -> int:  # fmt: skip
    """Each seed of a fold trial into the market's ledger (source tune) with its val returns
    (every fold's val block, end to end); a seed folder already recorded is skipped."""
    if not ledger_enabled():
        return 0
    root = default_runs_root()
    done = recorded_run_dirs(args.env, root)
    layer = yaml.safe_load((out_dir / "trial_config.yml").read_text(encoding="utf-8")) or {}
    n = 0
    for s, m in value.get("seeds", {}).items():
        run = (out_dir / f"s{s}").resolve()
        if str(run) in done or not (run / VAL_RETURNS).is_file():
            continue
        with np.load(run / VAL_RETURNS, allow_pickle=False) as z:
            returns, stamps = z["returns"], z["timestamps"]
        rec = make_record(
            market=args.env, source="tune", algo=args.algo,
            config={**layer, "objective": objective_key(args), "passthrough": args.passthrough},
            seed=int(s), run_dir=run, val_sharpe=m.get("val_sharpe"),
            periods_per_year=get_preset(args.env).periods_per_year,
            extra={"study": args.study, "trial": number, "state": state,
                   "fold_val_sharpes": m.get("fold_val_sharpes")},
        )  # fmt: skip
        append_record(rec, root, val_returns=returns, val_timestamps=stamps)
        n += 1
    return n
