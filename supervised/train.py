"""Train the supervised FLAG-TRADER baseline classifier.

    python -m supervised.train --env btc1h --labels forward_sharpe --class-weights logit_adjusted \
        [--epochs 8] [--seed 0] [--run-dir DIR] [--feature-set core17] [--window 32] \
        [--horizon 6] [--label-param k=0.2] [--loss-param tau=1.0] [--correction balanced_accuracy] \
        [--fee-bps 10] [--slippage-bps 2] [--no-funding]

Costs default to the env's (``envs.params.EnvParams``: fee 10 bps, slippage 2 bps, funding on) and
apply everywhere: the labels' round-trip cost (``2 * (fee + slippage)`` unless ``--label-param
cost_bps=...``), the selection backtest and the env backtest. They are recorded in config.yaml
and in the checkpoint (``costs``), so a warm-started PPO run and ``evaluate`` can check them.

Reads top to bottom: parse -> run dir -> seed -> data -> samples -> model/fit -> save -> report.
Writes ``runs/<env>/supervised/<UTC stamp>_s<seed>/``: ``config.yaml``, ``command.txt``,
``meta.json`` (seed, data sha256, versions, git commit; via ``lab.rundir``), TensorBoard
events, ``model.pt`` (see ``supervised.checkpoint``), ``normaliser.json``, ``metrics.json``
(history, val diagnostics raw and corrected, backtest), ``confusion_val.{png,txt}``.

After training, a cost-aware ``DecisionRule`` (``supervised.decision``) is fitted on val
(``supervised.decision_fit``: grid over tau x min_hold by the fast backtest's val Sharpe; the
number of grid points is ``metrics.json: decision_rule.n_grid``) and stored in the checkpoint.
The final val report steps the env three ways: ``raw`` (argmax of the raw logits), ``corrected``
(argmax after the logit correction) and ``rule`` (the fitted rule on the corrected
probabilities; in-sample on val, so optimistic: see ``decision_rule.half_check``).
A collapsed classifier (a class > 90% or < 2% of val predictions) is logged with a COLLAPSE banner.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from envs.data import DataValidationError
from envs.marketspec import (
    market_record,
)
from envs.presets import get_preset
from lab.atomic import atomic_write_json
from lab.cli import run_cli
from lab.ledger_returns import save_run_returns
from lab.rundir import create_run_dir, preset_files
from lab.runtime import seed_everything, set_torch_threads
from lab.seeds import wants_group
from supervised import seed_group, train_args
from supervised.checkpoint import save_checkpoint
from supervised.data import load_supervised_data
from supervised.decision_fit import RuleFit
from supervised.diagnostics import collapse_banner
from supervised.fitting import (
    FitConfig,
    FitResult,
    Prepared,
    env_metrics,
    fit,
    fit_val_rule,
    prepare,
)
from supervised.labels import class_shares
from supervised.nan_guard import NonFiniteError
from supervised.reporting import (
    buy_and_hold_val,
    save_confusion,
    val_period,
    val_verdict,
    verdict_text,
)
from supervised.train_args import config_from_args


def build_parser() -> argparse.ArgumentParser:
    """The command's parser (``supervised.train_args``) with this module's doc as its help."""
    return train_args.build_parser(description=__doc__)


# size: one write per run-folder file listed in the module doc, in that order
def save_run(
    run_dir: Path,
    cfg: FitConfig,
    prep: Prepared,
    res: FitResult,
    writer: Any = None,
    wall_s: float | None = None,
    rule_fit: RuleFit | None = None,
) -> dict[str, Any]:
    """Write model.pt, normaliser.json, confusion files and metrics.json; return the metrics."""
    d, ev = prep.data, res.evaluation
    save_checkpoint(
        run_dir / "model.pt",
        res.model,
        env=cfg.env,
        feature_set=cfg.feature_set,
        feature_names=d.feature_names,
        label_spec=prep.spec,
        split={
            **{k: list(v) for k, v in d.split_dates.items()},
            "val_backtest_bars": list(prep.val_range),
        },
        normaliser=d.normaliser.to_dict(),
        correction=ev.correction,
        loss={"name": cfg.class_weights, **cfg.loss_params},
        class_prior=prep.prior.tolist(),
        costs=cfg.costs(),
        preset=cfg.preset,
        extra={
            "best_epoch": res.best_epoch,
            "val_sharpe": ev.trading["sharpe"],
            "seed": cfg.seed,
            "rule_n_grid": rule_fit.n_grid if rule_fit else 0,
        },
        decision_rule=rule_fit.rule if rule_fit else None,
    )
    d.normaliser.save(run_dir / "normaliser.json")
    save_confusion(
        ev.raw,
        run_dir / "confusion_val_raw.png",
        f"val raw ({cfg.labels}, {cfg.class_weights})",
        writer,
        "val/confusion_raw",
    )
    save_confusion(
        ev.corrected,
        run_dir / "confusion_val.png",
        f"val corrected ({cfg.labels}, {cfg.class_weights})",
        writer,
        "val/confusion",
    )
    metrics = {
        "best_epoch": res.best_epoch,
        "n_train": len(prep.train),
        "n_val": len(prep.val),
        "train_label_shares": class_shares(prep.train.labels).round(4).tolist(),
        "val_label_shares": class_shares(prep.val.labels).round(4).tolist(),
        "val": ev.summary(),
        "history": res.history,
        "decision_rule": rule_fit.summary() if rule_fit else None,
        "wall_s": wall_s,
    }
    atomic_write_json(run_dir / "metrics.json", metrics)
    return metrics


# size: the run's steps in the order the module doc lists them (parse .. report)
def main(argv: list[str] | None = None) -> Path:
    """Train, fit the rule, save and report one classifier run; returns the run folder."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if wants_group(argv):  # --seeds: a seed group (supervised.seed_group)
        return seed_group.main(argv)
    args = build_parser().parse_args(argv)
    cfg = config_from_args(args)
    t0 = time.time()
    run_dir = create_run_dir(
        env=cfg.env,
        algo="supervised",
        seed=cfg.seed,
        config=dataclasses.asdict(cfg),
        data_files=preset_files(get_preset(cfg.env)),
        run_dir=args.run_dir,
        argv=["-m", "supervised.train", *argv],
        meta={"market": market_record(cfg.env)},  # spec, bar, splits, sha256 of every file
    )
    seed_everything(cfg.seed)
    set_torch_threads(cfg.threads)
    print(f"run folder: {run_dir}")
    data = load_supervised_data(cfg.env, cfg.feature_set, cfg.window)
    prep = prepare(cfg, data)
    print(
        f"samples: train {len(prep.train)}, val {len(prep.val)}; train label prior "
        f"(SELL/HOLD/BUY) {prep.prior.round(3).tolist()}"
    )
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(run_dir))
    try:
        try:
            res = fit(cfg, prep, writer)
        except NonFiniteError as err:  # one line, exit 2; no checkpoint is written
            print(f"python -m supervised.train: error: {err}", file=sys.stderr)
            raise SystemExit(2) from None
        for name, rep in (("raw", res.evaluation.raw), ("corrected", res.evaluation.corrected)):
            if rep.alarm:
                print(collapse_banner(f"{rep.alarm} [val, {name} logits]"))
        ev = res.evaluation
        rule_fit = fit_val_rule(prep, res.model, ev.correction.bias, cfg)
        print(
            f"decision rule (fitted on val, {rule_fit.n_grid} grid points): "
            f"{rule_fit.rule.label()}, fast val Sharpe {rule_fit.metrics['sharpe']:+.2f}"
        )
        metrics = save_run(run_dir, cfg, prep, res, writer, wall_s=None, rule_fit=rule_fit)
        kept: dict[str, Any] = {}  # the recorded (corrected) val pass: its returns to the ledger
        metrics["val_env"] = {
            "corrected": env_metrics(prep, res.model, ev.correction.bias, cfg, keep=kept),
            "raw": env_metrics(prep, res.model, np.zeros(3), cfg),
            "rule": env_metrics(prep, res.model, ev.correction.bias, cfg, rule=rule_fit.rule),
        }
    finally:
        writer.close()
    bench = buy_and_hold_val(prep.data, prep.val_range, cfg.costs())
    metrics["val_verdict"] = val_verdict(  # the rule the model trades with, vs buy-and-hold
        val_period(prep.data, prep.val_range),
        cfg.env,
        run_dir,
        metrics["val_env"]["rule"],
        bench,
        f"supervised ({rule_fit.rule.label()})",
    )
    wall = time.time() - t0
    metrics["wall_s"] = round(wall, 1)
    save_run_returns(run_dir, kept["backtest"].returns, kept["backtest"].timestamps)
    atomic_write_json(run_dir / "metrics.json", metrics)
    env = metrics["val_env"]
    print(
        f"best epoch {res.best_epoch}: val through the env (after costs): "
        + "; ".join(
            f"{k} Sharpe {env[k]['sharpe']:+.2f} turnover {env[k]['turnover']:.0f}"
            for k in ("raw", "corrected", "rule")
        )
        + f" (rule {rule_fit.rule.label()}, in-sample on val); proxy corrected "
        f"{ev.trading['sharpe']:+.2f}; bal acc {ev.corrected.balanced_accuracy:.3f}; wall {wall:.0f}s"
    )
    print(ev.corrected.confusion_text())
    seed_group.record_once(run_dir)  # the trial ledger (lab.ledger)
    print(verdict_text(metrics["val_verdict"]))
    return run_dir


if __name__ == "__main__":
    raise SystemExit(run_cli(main, (DataValidationError,)))
