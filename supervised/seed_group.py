"""``python -m supervised.train --env E --seeds 0 1 2 [--workers N] [--address ADDR]``.

Like ``agents.experiments.seed_group`` for the supervised classifier: one run per seed in a group folder
(``lab.seeds``), a summary, and one ledger record per seed (source ``supervised``; a single
``--seed`` run appends one too). The val metric is the policy the model trades with (its
decision rule, ``metrics.json: val_env.rule``; ``val_env.corrected`` for a run without one)
stepped through the real env over the val split, after every cost.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from backtest.collapse import collapse_name
from backtest.verdict import evaluate_command, group_verdict, verdict_block
from envs.marketspec import pin_market_argv
from envs.presets import get_preset
from lab.engine import Engine
from lab.ledger import (
    append_record,
    default_runs_root,
    ledger_enabled,
    make_record,
    recorded_run_dirs,
)
from lab.ledger_returns import run_returns
from lab.seeds import GroupSpec, default_group_dir, run_group, split_group_argv
from supervised.train_args import build_parser, config_from_args

ALGO = "supervised"


def traded_rule(val_env: dict[str, Any]) -> str | None:
    """Which of ``metrics.json: val_env`` the model trades with: ``rule`` (the decision rule
    stored in its checkpoint, what evaluate and predict apply), else ``corrected`` (older runs
    without a rule); None when neither was written."""
    for key in ("rule", "corrected"):
        if val_env.get(key):
            return key
    return None


def read_supervised_metrics(run_dir: Path) -> dict[str, Any] | None:
    """Val metrics of a finished supervised run (``val_env`` is written last), else None: the
    policy the model TRADES with (its decision rule), stepped through the env after costs."""
    path = run_dir / "metrics.json"
    if not path.is_file():
        return None
    m = json.loads(path.read_text(encoding="utf-8"))
    val_env = m.get("val_env") or {}
    key = traded_rule(val_env)
    if key is None:
        return None
    env = val_env[key]
    sharpe = env.get("sharpe")
    collapse = collapse_name(env.get("constant_position"))
    if collapse is None and (sharpe is None or not env.get("n_trades")):
        collapse = "always flat"
    verdict = m.get("val_verdict") or {}
    return {
        "buy_and_hold_sharpe": verdict.get("buy_and_hold_sharpe"),
        "period": verdict.get("period"),
        "val_sharpe": sharpe,
        "val_policy": key,
        "total_log_return": env.get("total_log_return"),
        "turnover": env.get("turnover"),
        "n_trades": env.get("n_trades"),
        "best_epoch": m.get("best_epoch"),
        "collapsed": collapse is not None,
        "collapse": collapse,
    }


def record_once(run_dir: Path, source: str = ALGO, **extra: Any) -> None:
    """Append the run's ledger record unless its folder is already in the ledger."""
    metrics = read_supervised_metrics(run_dir)
    if metrics is None or not ledger_enabled():
        return
    import yaml

    cfg = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
    rec = make_record(
        market=cfg["env"],
        source=source,
        algo=ALGO,
        config=cfg,
        seed=cfg.get("seed"),
        run_dir=run_dir.resolve(),
        val_sharpe=metrics["val_sharpe"],
        periods_per_year=get_preset(cfg["env"]).periods_per_year,
        extra=extra,
    )
    if rec["run_dir"] not in recorded_run_dirs(rec["market"], default_runs_root()):
        append_record(rec, default_runs_root(), **run_returns(run_dir))


def main(argv: list[str]) -> Path:
    """Train a supervised seed group; returns the group folder."""
    group, rest = split_group_argv(argv)
    seeds = list(dict.fromkeys(group.seeds))
    cfg = config_from_args(build_parser().parse_args([*rest, "--seed", str(seeds[0])]))
    spec = GroupSpec(
        algo=ALGO,
        env=cfg.env,
        module="supervised.train",
        argv=pin_market_argv(rest, cfg.env),
        seeds=seeds,
        config=dataclasses.asdict(cfg),
        group_dir=group.run_dir or default_group_dir(default_runs_root(), cfg.env, ALGO, seeds),
        read_metrics=read_supervised_metrics,
        command=[sys.executable, "-m", "supervised.train", *argv],
    )
    group_name = str(spec.group_dir.resolve())
    with Engine(group.workers or len(seeds), group.address) as engine:
        summary = run_group(spec, engine, lambda s, d: record_once(d, group=group_name))
    agg = summary["aggregate"]
    print(f"seed group {spec.group_dir}: {agg['n_ok']}/{agg['n_seeds']} seeds (summary.md)")
    print(verdict_block(group_verdict(summary), evaluate_command(cfg.env, spec.group_dir)))
    return spec.group_dir
