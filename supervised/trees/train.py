"""Train the stacked tree-ensemble baseline.

    python -m supervised.trees --env btc1h [--feature-set core17] [--labels threshold] \
        [--horizon 6] [--label-param threshold=0.005] [--seed 0] [--n-jobs 2] [--run-dir DIR]

Samples, labels, purging and costs are the classifier's (``supervised.fitting.prepare``); the
model sees bar t's normalised features (the last row of the env's observation window). Labels
default to the +-0.5% three-class target: ``threshold`` with ``threshold=0.005, cost_bps=0``
(override with ``--label-param``); ``forward_sharpe`` and ``triple_barrier`` keep the project's
defaults (the round-trip cost in the label).

Checks that stop the run (one line, exit 2): the label direction on train (before fitting,
``supervised.trees.checks``); after fitting, every class predicted on val and none above the
collapse threshold (the run folder is kept, with the failed check in ``metrics.json``, so the
registry refuses it).

Writes ``runs/<env>/trees/<UTC stamp>_s<seed>/``: ``config.yaml``, ``command.txt``,
``meta.json`` (seed, data sha256, versions, git commit), ``model.skops``, ``tree.json``,
``normaliser.json``, ``metrics.json`` (class distributions, checks, val classifier report, the
val-fitted decision rule, the val backtest through ``backtest.runner``, train time).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from dataclasses import field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from backtest.collapse import constant_position
from backtest.runner import CostOverrides, run_env, run_policy
from backtest.verdict import period_of
from envs import make_env
from envs.marketspec import (
    add_market_flags,
    market_flags_given,
    market_from_args,
    market_record,
)
from envs.presets import get_preset
from lab.atomic import atomic_write_json
from lab.config import Rule, add_fields, check_rules, doc, resolve_many
from lab.ledger import append_record, default_runs_root, ledger_enabled, make_record
from lab.ledger_returns import run_returns, save_run_returns
from lab.rundir import create_run_dir, discard_unfinished, preset_files
from supervised.data import load_supervised_data
from supervised.decision_fit import fit_rule
from supervised.diagnostics import CLASS_NAMES, classifier_report
from supervised.fitting import FitConfig, Prepared, prepare, val_market
from supervised.labels import class_shares
from supervised.logit_correction import CORRECTION_METHODS, LogitCorrection, fit_logit_correction
from supervised.reporting import val_verdict, verdict_text
from supervised.trees import checks
from supervised.trees.ensemble import TreeSizes, TreeStack, fit_stack
from supervised.trees.persist import save_stack
from supervised.trees.policy import (
    FORMAT,
    INFO_FILE,
    MODEL_FILE,
    NORMALISER_FILE,
    TreePolicy,
    corrected_probs,
    load_tree_run,
)

THRESHOLD_DEFAULTS = {"threshold": 0.005, "cost_bps": 0.0}


class TreeCheckError(RuntimeError):
    """A check failed (label direction, val classes): one line, exit 2."""


@dataclasses.dataclass
class TreesConfig:
    """The tree baseline's samples, labels, costs and fitting options (sizes: ``TreeSizes``)."""

    env: str = field(
        default="btc1h", metadata=doc("market: a data preset, a candle file or a catalog entry")
    )
    feature_set: str = field(default="core17", metadata=doc("feature set"))
    window: int = field(default=32, metadata=doc("observation window of the env, bars"))
    labels: str = field(
        default="threshold",
        metadata=doc("label scheme", ("threshold", "forward_sharpe", "triple_barrier")),
    )
    horizon: int = field(default=6, metadata=doc("label horizon, bars (= the purge)"))
    label_params: dict[str, Any] = field(
        default_factory=dict, metadata=doc("label scheme parameters (threshold: 0.005, cost 0)")
    )
    correction: str = field(
        default="balanced_accuracy",
        metadata=doc(
            "post-hoc class bias fitted on val (as the classifier's)", tuple(CORRECTION_METHODS)
        ),
    )
    seed: int = field(default=0, metadata=doc("seed of the fit"))
    n_jobs: int = field(default=2, metadata=doc("cores for the forests"))
    n_folds: int = field(default=2, metadata=doc("out-of-fold blocks for meta-features"))
    calib_share: float = field(default=0.15, metadata=doc("train tail for calibration"))
    max_train_samples: int | None = field(
        default=None, metadata=doc("keep only the last N training samples (quick runs)")
    )
    max_val_bars: int | None = field(default=None, metadata=doc("cap on the val bars"))
    fee_bps: float = field(
        default=FitConfig().fee_bps, metadata=doc("fee per unit notional traded, bps")
    )
    slippage_bps: float = field(
        default=FitConfig().slippage_bps, metadata=doc("slippage per unit notional, bps")
    )
    no_funding: bool = field(default=False, metadata=doc("do not charge perpetual funding"))

    RULES: ClassVar[dict[str, Rule]] = {
        "window": (lambda v: 1 <= v <= 4096, "from 1 to 4096 bars"),
        "horizon": (lambda v: v >= 1, ">= 1 bar"),
        "n_jobs": (lambda v: 1 <= v <= 256, "from 1 to 256"),
        "n_folds": (lambda v: v >= 1, ">= 1"),
        "calib_share": (lambda v: 0 < v < 1, "in (0, 1)"),
        "max_train_samples": (lambda v: v >= 1, ">= 1 (or unset)"),
        "max_val_bars": (lambda v: v >= 1, ">= 1 (or unset)"),
        "fee_bps": (lambda v: v >= 0, ">= 0 bps"),
        "slippage_bps": (lambda v: v >= 0, ">= 0 bps"),
    }


def build_parser() -> argparse.ArgumentParser:
    """One flag per ``TreesConfig`` and ``TreeSizes`` field, ``--config FILE``, ``--run-dir``."""
    p = argparse.ArgumentParser(
        prog="python -m supervised.trees",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_fields(p, TreesConfig)
    add_fields(p, TreeSizes, config_flag=False)
    add_market_flags(p)  # --env FILE|entry, --funding, --catalog, --bar (envs.marketspec)
    p.add_argument("--run-dir", default=None, help="run folder (default: runs/<env>/trees/...)")
    return p


def check_numbers(a: argparse.Namespace) -> None:
    """Tree sizes and options in range before any data is read (one line, exit 2)."""
    bad = [(f"--{f.name.replace('_', '-')}", getattr(a, f.name), ">= 1")
           for f in dataclasses.fields(TreeSizes)
           if f.name != "gb_subsample" and getattr(a, f.name) < 1]  # fmt: skip
    if not 0 < a.gb_subsample <= 1:
        bad.append(("--gb-subsample", a.gb_subsample, "in (0, 1]"))
    if a.horizon < 1:
        bad.append(("--horizon", a.horizon, ">= 1 bar"))
    if a.n_folds < 2:
        bad.append(("--n-folds", a.n_folds, ">= 2 (out-of-fold blocks)"))
    if a.n_jobs == 0 or a.n_jobs < -1:
        bad.append(("--n-jobs", a.n_jobs, ">= 1 (or -1: every core)"))
    if not 0 < a.calib_share < 1:
        bad.append(("--calib-share", a.calib_share, "in (0, 1)"))
    if bad:
        flag, value, rule = bad[0]
        raise ValueError(f"{flag} {value}: must be {rule}")


def configs(args: argparse.Namespace) -> tuple[FitConfig, TreeSizes, dict[str, Any]]:
    """The shared sample/label/cost config, the model sizes and the tree-only options."""
    a, sizes = resolve_many((TreesConfig, TreeSizes), args)
    check_rules(a, TreesConfig.RULES)
    check_numbers(argparse.Namespace(**dataclasses.asdict(a), **dataclasses.asdict(sizes)))
    params = dict(a.label_params)
    if a.labels == "threshold":
        params = {**THRESHOLD_DEFAULTS, **params}
    cfg = FitConfig(
        env=a.env,
        feature_set=a.feature_set,
        window=a.window,
        labels=a.labels,
        horizon=a.horizon,
        label_params=params,
        max_train_samples=a.max_train_samples,
        max_val_bars=a.max_val_bars,
        seed=a.seed,
        fee_bps=a.fee_bps,
        slippage_bps=a.slippage_bps,
        funding=not a.no_funding,
        correction=a.correction,
    )
    opts = {"n_jobs": a.n_jobs, "n_folds": a.n_folds, "calib_share": a.calib_share}
    return cfg, sizes, opts


def direction_check(prep: Prepared) -> dict[str, Any]:
    """Print the class distributions and the label-direction check on train; raise if wrong."""
    d, tr = prep.data, prep.train
    dist = ", ".join(
        f"{CLASS_NAMES[c]} {100 * s:.1f}%" for c, s in enumerate(class_shares(tr.labels))
    )
    vdist = ", ".join(
        f"{CLASS_NAMES[c]} {100 * s:.1f}%" for c, s in enumerate(class_shares(prep.val.labels))
    )
    print(f"class distribution: train ({len(tr)}) {dist}; val ({len(prep.val)}) {vdist}")
    fwd = checks.forward_returns(d.open, d.close, tr.t, prep.spec.horizon)
    res = checks.label_direction(tr.labels, fwd)
    print(res["message"])
    if not res["ok"]:
        raise TreeCheckError(res["message"])
    return res


def val_probabilities(
    prep: Prepared, stack: TreeStack, bias: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Corrected probabilities ``(n, 3)`` over the val backtest bars (uniform where no trade is
    possible) and the can-trade mask."""
    d, (lo, hi) = prep.data, prep.val_range
    ok = d.obs_ok[lo:hi] & d.can_step[lo:hi]
    probs = np.full((hi - lo, 3), 1.0 / 3.0)
    if ok.any():
        probs[ok] = corrected_probs(stack.predict_proba(d.features[lo:hi][ok]), bias)
    return probs, ok


def runner_backtest(
    prep: Prepared, cfg: FitConfig, policy: TreePolicy, run_dir: Path | None = None
) -> dict[str, Any]:
    """The val split through the project's runner (``backtest.runner.run_env``), summarised;
    with ``run_dir``, its per-bar returns go to ``val_returns.npz`` for the ledger."""
    env = make_env(
        cfg.env,
        split="val",
        feature_set=cfg.feature_set,
        window=cfg.window,
        normaliser=prep.data.normaliser,
        max_drawdown=None,
        **cfg.costs(),
    )
    bt = run_env(policy, env, "trees", periods_per_year=get_preset(cfg.env).periods_per_year)
    if run_dir is not None:
        save_run_returns(run_dir, bt.returns, bt.timestamps)
    held = constant_position(bt.positions)  # a collapse (always long/short/flat), else NaN
    return {
        **{k: float(v) for k, v in bt.summary().items()},
        "constant_position": None if np.isnan(held) else held,
    }


def trees_verdict(cfg: FitConfig, run_dir: Path, vb: dict[str, Any], rule: str) -> dict[str, Any]:
    """The val backtest against buy-and-hold over the same split with the same costs: the
    verdict, the collapse and the next command (``supervised.reporting.val_verdict``)."""
    bench = run_policy(
        "buy_and_hold", cfg.env, "val", seed=cfg.seed, costs=CostOverrides(**cfg.costs())
    )
    period = period_of("val", bench.timestamps)
    return val_verdict(period, cfg.env, run_dir, vb, bench.summary(), f"trees ({rule})")


def _info(
    cfg: FitConfig, prep: Prepared, rule_fit: Any, sizes: TreeSizes, corr: LogitCorrection
) -> dict[str, Any]:
    d = prep.data
    return {
        "format": FORMAT,
        "env": cfg.env,
        "feature_set": cfg.feature_set,
        "window": cfg.window,
        "feature_names": d.feature_names,
        "label_spec": prep.spec.to_dict(),
        "decision_rule": rule_fit.rule.to_dict(),
        "logit_correction": corr.to_dict(),
        "costs": cfg.costs(),
        "seed": cfg.seed,
        "split": {k: list(v) for k, v in d.split_dates.items()},
        "sizes": sizes.to_dict(),
        "classes": list(CLASS_NAMES),
    }


def record_trial(run_dir: Path, market: str, val_sharpe: float | None) -> None:
    """Append the run to the market's trial ledger (source ``trees``; failed checks included:
    the configuration was still tried on val)."""
    import yaml

    if not ledger_enabled():
        return
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
    rec = make_record(market=market, source="trees", algo="trees", config=cfg,
                      seed=cfg.get("seed"), run_dir=run_dir.resolve(), val_sharpe=val_sharpe,
                      periods_per_year=get_preset(market).periods_per_year)  # fmt: skip
    append_record(rec, default_runs_root(), **run_returns(run_dir))


@dataclasses.dataclass
class FittedTrees:
    """What ``fit_and_save`` produced: the saved model as evaluate loads it, and its val checks."""

    policy: TreePolicy
    rule_fit: Any
    raw_report: Any
    report: Any
    classes: dict[str, Any]
    fit_s: float


def fit_and_save(
    cfg: FitConfig, sizes: TreeSizes, opts: dict[str, Any], prep: Prepared, run_dir: Path
) -> FittedTrees:
    """Fit the stack on ``prep``'s train samples, the class correction and the decision rule on
    its val samples; save model, ``tree.json`` and normaliser into ``run_dir`` and reload them.

    Shared by ``train`` (the preset's splits) and walk-forward (``evaluate.walkforward.learn_supervised``: a fold's
    rows), so a fold's model is exactly a tree run."""
    d, tr = prep.data, prep.train
    t_fit = time.time()
    stack = fit_stack(d.features[tr.t], tr.labels, tr.t, prep.spec.horizon, sizes=sizes,
                      seed=cfg.seed, **opts)  # fmt: skip
    fit_s = time.time() - t_fit
    val_z = np.log(np.clip(stack.predict_proba(d.features[prep.val.t]), 1e-12, None))
    corr = fit_logit_correction(val_z, prep.val.labels, cfg.correction)
    probs, _ok = val_probabilities(prep, stack, corr.bias)
    rule_fit = fit_rule(probs, val_market(prep, cfg))
    save_stack(run_dir / MODEL_FILE, stack)
    atomic_write_json(run_dir / INFO_FILE, _info(cfg, prep, rule_fit, sizes, corr))
    d.normaliser.save(run_dir / NORMALISER_FILE)
    return FittedTrees(
        policy=TreePolicy.from_loaded(
            load_tree_run(run_dir)
        ),  # the saved model, as evaluate sees it
        rule_fit=rule_fit,
        raw_report=classifier_report(val_z, prep.val.labels),
        report=classifier_report(corr.apply(val_z), prep.val.labels),
        classes=checks.val_classes(corr.apply(val_z).argmax(axis=1)),
        fit_s=fit_s,
    )


# size: the run's steps in the order the module doc lists them (checks, fit, save, backtest)
def train(argv: list[str] | None = None) -> Path:
    """Parse, check labels, fit, fit the rule on val, save, backtest val; return the run folder."""
    args = build_parser().parse_args(argv)
    if getattr(args, "env", None) is None and market_flags_given(args):  # --config's or default
        args.env = resolve_many((TreesConfig, TreeSizes), args)[0].env
    market_from_args(args)  # args.env: the market's key
    cfg, sizes, opts = configs(args)
    t0 = time.time()

    prep = prepare(cfg, load_supervised_data(cfg.env, cfg.feature_set, cfg.window))
    direction = direction_check(prep)
    run_dir = create_run_dir(
        env=cfg.env,
        algo="trees",
        seed=cfg.seed,
        config={**dataclasses.asdict(cfg), "trees": {**sizes.to_dict(), **opts}},
        data_files=preset_files(get_preset(cfg.env)),
        run_dir=args.run_dir,
        argv=["-m", "supervised.trees", *(sys.argv[1:] if argv is None else argv)],
        meta={"market": market_record(cfg.env)},  # spec, bar, splits, sha256 of every file
    )
    print(f"run folder: {run_dir}")
    fitted = fit_and_save(cfg, sizes, opts, prep, run_dir)
    tr, report, classes = prep.train, fitted.report, fitted.classes
    rule_fit, fit_s, policy = fitted.rule_fit, fitted.fit_s, fitted.policy
    metrics = {
        "n_train": len(tr),
        "n_val": len(prep.val),
        "train_label_shares": class_shares(tr.labels).round(4).tolist(),
        "val_label_shares": class_shares(prep.val.labels).round(4).tolist(),
        "checks": {"label_direction": direction, "val_classes": classes},
        "val": {"raw": fitted.raw_report.to_dict(), "corrected": report.to_dict()},
        "decision_rule": rule_fit.summary(),
        "val_backtest": runner_backtest(prep, cfg, policy, run_dir),
        "fit_s": round(fit_s, 1),
        "wall_s": round(time.time() - t0, 1),
    }
    vb = metrics["val_backtest"]
    metrics["val_verdict"] = trees_verdict(cfg, run_dir, vb, rule_fit.rule.label())
    atomic_write_json(run_dir / "metrics.json", metrics)
    record_trial(run_dir, cfg.env, vb.get("sharpe"))  # the trial ledger (lab.ledger)
    print(
        f"fit {fit_s:.0f}s; {classes['message']}; val bal acc {report.balanced_accuracy:.3f}; "
        f"rule {rule_fit.rule.label()}; val (runner) Sharpe {vb.get('sharpe', float('nan')):+.2f}"
        f"; wall {metrics['wall_s']:.0f}s"
    )
    if not classes["ok"]:
        raise TreeCheckError(f"{classes['message']} (run kept at {run_dir}, marked failed)")
    print(verdict_text(metrics["val_verdict"]))
    return run_dir


def cli(argv: list[str] | None = None) -> int:
    """Exit 0, or 2 with one line on a failed check or bad input."""
    try:
        train(argv)
    except (TreeCheckError, ValueError, KeyError, FileNotFoundError, FileExistsError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        discard_unfinished()  # a folder with provenance only; a failed check's metrics stay
        print(f"error: {msg}", file=sys.stderr)
        return 2
    return 0
