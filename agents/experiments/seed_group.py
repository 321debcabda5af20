"""``python -m agents.ppo|sac --env E --seeds 0 1 2 [--workers N] [--address ADDR]``.

The single-run CLIs hand ``--seeds`` here: the configuration is resolved once (seed 0's),
each seed becomes an engine task running the ordinary ``main`` into ``<group>/s<seed>/``
(``lab.seeds``), and every finished seed is appended to the market's trial ledger (source
``seed_group``). A single ``--seed`` run appends one record (source ``run``) via
``record_single_run``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from agents.algorithms import ALGOS
from agents.training.cli import parse
from agents.training.multimarket import pin_markets_argv, run_label
from backtest.verdict import evaluate_command, group_verdict, verdict_block
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
from lab.rundir import read_config
from lab.seeds import GroupSpec, default_group_dir, run_group, split_group_argv

# A run with less than this share of bars in the market stayed flat: counted, flagged.
FLAT_TIME_IN_MARKET = 0.01


def read_rl_metrics(run_dir: Path, algo: str) -> dict[str, Any] | None:
    """The val backtest of ``<algo>_best`` (the val-selected model) from a complete
    metrics.json, or None when the run has not finished."""
    path = run_dir / "metrics.json"
    if not path.is_file():
        return None
    m = json.loads(path.read_text(encoding="utf-8"))
    best = (m.get("policies") or {}).get(f"{algo}_best")
    if best is None:
        return None
    tim = best.get("time_in_market")
    collapse = (m.get("collapse") or {}).get(f"{algo}_best")  # named in training (validation)
    flat = best.get("sharpe") is None or (tim is not None and tim < FLAT_TIME_IN_MARKET)
    return {
        "val_sharpe": best.get("sharpe"),
        "buy_and_hold_sharpe": ((m.get("policies") or {}).get("buy_and_hold") or {}).get("sharpe"),
        "period": m.get("period"),
        "collapse": collapse or ("always flat" if flat else None),
        "total_return": best.get("total_return"),
        "max_drawdown": best.get("max_drawdown"),
        "turnover_annual": best.get("turnover_annual"),
        "time_in_market": tim,
        "num_timesteps": m.get("num_timesteps"),
        "collapsed": flat or collapse is not None,
    }


def ledger_record(
    run_dir: Path, algo: str, source: str, metrics: dict[str, Any], extra: dict[str, Any]
) -> dict[str, Any]:
    """The ledger record of a finished run folder (its config.yaml is the configuration)."""
    cfg = read_config(run_dir)
    env = str(cfg.get("env_name") or cfg.get("env"))
    return make_record(
        market=env,
        source=source,
        algo=algo,
        config=cfg,
        seed=cfg.get("seed"),
        run_dir=run_dir.resolve(),
        val_sharpe=metrics.get("val_sharpe"),
        periods_per_year=get_preset(env).periods_per_year,
        extra=extra,
    )


def record_once(
    run_dir: Path, algo: str, source: str, metrics: dict[str, Any] | None, **extra: Any
) -> None:
    """Append the run's ledger record unless this run folder is already in the ledger."""
    if metrics is None or not ledger_enabled():
        return
    rec = ledger_record(run_dir, algo, source, metrics, extra)
    if rec["run_dir"] not in recorded_run_dirs(rec["market"], default_runs_root()):
        append_record(rec, default_runs_root(), **run_returns(run_dir))


def record_single_run(algo: str, run_dir: Path) -> None:
    """Hook for ``agents.ppo``/``agents.sac`` main: one ledger record, source ``run``."""
    record_once(run_dir, algo, "run", read_rl_metrics(run_dir, algo))


def main(algo: str, argv: list[str], hyper_cls: type) -> Path:
    """Train a seed group; returns the group folder."""
    group, rest = split_group_argv(argv)
    if group.seed is not None or any(a.split("=")[0] == "--resume" for a in rest):
        raise SystemExit(
            f"{ALGOS[algo].prog}: error: --seeds trains a group: drop --seed/--resume "
            "(restart a killed group with the same command and --run-dir GROUP)"
        )
    seeds = list(dict.fromkeys(group.seeds))
    cfg = parse(algo, hyper_cls, [*rest, "--seed", str(seeds[0])]).cfg
    runs_root = default_runs_root()
    spec = GroupSpec(
        algo=algo,
        env=cfg.env_name,
        module=ALGOS[algo].entry[0],
        argv=[*ALGOS[algo].entry[1], *pin_markets_argv(rest, cfg), "--no-progress"],
        seeds=seeds,
        config=cfg.to_dict(),
        group_dir=group.run_dir or default_group_dir(runs_root, run_label(cfg), algo, seeds),
        read_metrics=lambda d: read_rl_metrics(d, algo),
        command=[sys.executable, *ALGOS[algo].command, *argv],
    )
    workers = group.workers or len(seeds)
    group_name = str(spec.group_dir.resolve())

    def on_seed(seed: int, run_dir: Path) -> None:
        record_once(run_dir, algo, "seed_group", read_rl_metrics(run_dir, algo), group=group_name)

    with Engine(workers, group.address, device=cfg.train.device) as engine:
        summary = run_group(spec, engine, on_seed)
    agg = summary["aggregate"]
    print(
        f"seed group {spec.group_dir}: {agg['n_ok']}/{agg['n_seeds']} seeds, val Sharpe mean "
        f"{agg.get('mean', float('nan')):+.2f} median {agg.get('median', float('nan')):+.2f} "
        f"worst {agg.get('worst', float('nan')):+.2f}, {agg['n_collapsed']} collapsed, "
        f"{agg['n_failed']} failed (summary.md)"
    )
    print(verdict_block(group_verdict(summary), evaluate_command(cfg.env_name, spec.group_dir)))
    return spec.group_dir
