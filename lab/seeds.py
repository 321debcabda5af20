"""Many seeds of one configuration, one command: the group folder, its tasks and its summary.

    <group>/group.json     {"kind": "seed_group", algo, env, seeds, runs: {seed: "s<seed>"},
                            command, config (resolved, seed 0's), created}
    <group>/s<seed>/       each seed's ordinary run folder (the single-run CLI's files + log.txt)
    <group>/summary.json   per-seed val metrics, aggregates (mean, median, worst, collapsed
                           seeds) and failures (listed, never dropped)
    <group>/summary.md     the same as a table

The caller (``agents.experiments.seed_group``, ``supervised.seed_group``) resolves the configuration, says
how to read a finished run's val metrics and appends ledger records; this module only needs a
module whose ``main(argv)`` trains one run into ``--run-dir``. A restarted group (same
``--run-dir``, same configuration and seeds) skips every seed whose folder has a complete
``metrics.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.config import SEED_MAX, ConfigError
from lab.engine import Engine, Task, TaskResult, check_address
from lab.ledger import config_hash
from lab.outputs import check_output_dir
from lab.rundir import market_dirname

# A finished run's val metrics ({"val_sharpe", ..., "collapsed"}) or None when incomplete.
MetricsReader = Callable[[Path], "dict[str, Any] | None"]


@dataclass
class GroupSpec:
    """One seed group: ``module``'s ``main(argv + ["--seed", s, "--run-dir", dir])`` per seed."""

    algo: str
    env: str
    module: str
    argv: list[str]
    seeds: list[int]
    config: dict[str, Any]
    group_dir: Path
    read_metrics: MetricsReader
    command: list[str] = field(default_factory=list)


def default_group_dir(runs_root: Path, env: str, algo: str, seeds: list[int]) -> Path:
    """``<runs_root>/<env>/<algo>/<UTC YYYYmmdd-HHMMSS>_seeds<first>-<last>``."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return runs_root / market_dirname(env) / algo / f"{stamp}_seeds{seeds[0]}-{seeds[-1]}"


# Where the engine lands a task's run folder on the driver: what the run's messages name
# (its next command) instead of the worker's temporary folder (read by backtest.verdict).
SHOWN_RUN_DIR_ENV = "RLTRADE_SHOWN_RUN_DIR"


def train_seed(work_dir: Path, module: str, argv: list[str], shown_dir: str | None = None) -> str:
    """Engine task: one ordinary run of ``module`` into ``work_dir``; returns its module name.
    ``shown_dir``: the folder its files land in, named in its messages instead of ``work_dir``."""
    import importlib

    if shown_dir:
        os.environ[SHOWN_RUN_DIR_ENV] = shown_dir
    try:
        importlib.import_module(module).main([*argv, "--run-dir", str(work_dir)])
    finally:
        os.environ.pop(SHOWN_RUN_DIR_ENV, None)
    return module


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


def open_group(spec: GroupSpec) -> None:
    """Create the group folder with group.json, or check a restarted one is the same group."""
    gj = spec.group_dir / "group.json"
    if gj.is_file():
        try:
            have = json.loads(gj.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as err:  # a damaged group.json: one line, exit 2
            raise ConfigError(
                f"{gj}: not valid JSON ({err}); the seed group folder is damaged: rerun into a "
                "new --run-dir (its finished seeds' run folders stay usable by evaluate)"
            ) from None
        if not isinstance(have, dict):
            raise ConfigError(f"{gj}: expected a JSON object; the seed group folder is damaged")
        same = (
            have.get("algo") == spec.algo
            and have.get("seeds") == spec.seeds
            and config_hash(have.get("config") or {}) == config_hash(spec.config)
        )
        if not same:
            raise SystemExit(
                f"error: {spec.group_dir} holds another seed group (algo, seeds or config "
                "differ); restart it with its own command (group.json: command) or pick a new "
                "--run-dir"
            )
        print(f"restarting seed group {spec.group_dir}: finished seeds are skipped")
        return
    if spec.group_dir.exists() and any(spec.group_dir.iterdir()):
        raise SystemExit(
            f"error: {spec.group_dir} exists, is not empty and has no group.json; pick another "
            "--run-dir"
        )
    spec.group_dir.mkdir(parents=True, exist_ok=True)
    _write_json(
        gj,
        {
            "kind": "seed_group",
            "algo": spec.algo,
            "env": spec.env,
            "seeds": spec.seeds,
            "runs": {str(s): f"s{s}" for s in spec.seeds},
            "command": spec.command,
            "config": spec.config,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        },
    )


def seed_tasks(spec: GroupSpec) -> tuple[list[Task], list[int]]:
    """Tasks for the seeds without a complete run folder, and the seeds already finished."""
    tasks, done = [], []
    for s in spec.seeds:
        run = spec.group_dir / f"s{s}"
        if spec.read_metrics(run) is not None:
            done.append(s)
            continue
        argv = [*spec.argv, "--seed", str(s)]
        tasks.append(
            Task(
                f"s{s}",
                "lab.seeds:train_seed",
                {"module": spec.module, "argv": argv, "shown_dir": str(run)},
                str(run),
            )
        )
    return tasks, done


def run_group(
    spec: GroupSpec, engine: Engine, on_seed: Callable[[int, Path], None]
) -> dict[str, Any]:
    """Train the unfinished seeds on ``engine``; ``on_seed(seed, run_dir)`` runs on the driver
    for every finished seed (skipped ones too: the caller appends its ledger record if
    missing). Writes and returns the summary."""
    open_group(spec)
    engine.log_to(spec.group_dir)  # Ray's log (started before the folder existed): ray.log
    tasks, done = seed_tasks(spec)
    for s in done:
        print(f"seed {s}: already finished ({spec.group_dir / f's{s}'}), skipped")
        on_seed(s, spec.group_dir / f"s{s}")
    errors: dict[int, str] = {}

    def landed(res: TaskResult) -> None:
        seed = int(res.key[1:])
        if not res.ok:
            errors[seed] = (res.error or "failed").strip().splitlines()[-1]
            print(f"seed {seed}: FAILED on {res.hostname} ({errors[seed]})")
            return
        on_seed(seed, Path(str(res.out_dir)))
        m = spec.read_metrics(Path(str(res.out_dir))) or {}
        print(
            f"seed {seed}: val Sharpe {_fmt(m.get('val_sharpe'))} in {res.wall_s:.0f}s "
            f"on node {res.node_id[:12]} ({res.hostname})"
        )

    print(f"seed group {spec.group_dir}: {len(tasks)} to train, {len(done)} finished")
    engine.run(tasks, on_result=landed)
    summary = summarise(spec, errors)
    write_summary(spec.group_dir, summary)
    return summary


def _fmt(v: Any, spec: str = "+.2f") -> str:
    return "n/a" if v is None or not math.isfinite(float(v)) else format(float(v), spec)


def summarise(spec: GroupSpec, errors: dict[int, str]) -> dict[str, Any]:
    """Per-seed val metrics and aggregates over the finished seeds. An undefined Sharpe (an
    always-flat policy) counts as 0 and its seed as collapsed; failures are listed."""
    per_seed: dict[str, Any] = {}
    failures = []
    sharpes: list[float] = []
    collapsed: list[int] = []
    for s in spec.seeds:
        m = spec.read_metrics(spec.group_dir / f"s{s}")
        if m is None:
            err = errors.get(s, "no complete metrics.json")
            per_seed[str(s)] = {"status": "failed", "run_dir": f"s{s}", "error": err}
            failures.append({"seed": s, "error": err})
            continue
        v = m.get("val_sharpe")
        sharpe = float(v) if v is not None and math.isfinite(float(v)) else 0.0
        if m.get("collapsed") or v is None:
            collapsed.append(s)
        sharpes.append(sharpe)
        per_seed[str(s)] = {"status": "ok", "run_dir": f"s{s}", **m, "collapsed": s in collapsed}
    agg: dict[str, Any] = {
        "metric": "val_sharpe",
        "n_seeds": len(spec.seeds),
        "n_ok": len(sharpes),
        "n_failed": len(failures),
        "n_collapsed": len(collapsed),
        "collapsed_seeds": collapsed,
    }
    if sharpes:
        agg.update(
            mean=statistics.fmean(sharpes),
            median=statistics.median(sharpes),
            worst=min(sharpes),
            best=max(sharpes),
            std=statistics.stdev(sharpes) if len(sharpes) > 1 else 0.0,
        )
    return {
        "kind": "seed_group_summary",
        "algo": spec.algo,
        "env": spec.env,
        "split": "val",
        "seeds": spec.seeds,
        "per_seed": per_seed,
        "aggregate": agg,
        "failures": failures,
    }


def write_summary(group_dir: Path, summary: dict[str, Any]) -> None:
    """``summary.json`` and ``summary.md`` (one row per seed, then the aggregates)."""
    _write_json(group_dir / "summary.json", summary)
    agg = summary["aggregate"]
    lines = [
        f"# {summary['algo']} on {summary['env']}: {agg['n_seeds']} seeds (val split)",
        "",
        "| seed | status | val Sharpe | total return | max drawdown | collapsed |",
        "|---:|---|---:|---:|---:|---|",
    ]
    for s, row in summary["per_seed"].items():
        if row["status"] != "ok":
            lines.append(f"| {s} | failed: {row['error']} | | | | |")
            continue
        lines.append(
            f"| {s} | ok | {_fmt(row.get('val_sharpe'))} | {_fmt(row.get('total_return'), '+.1%')} "
            f"| {_fmt(row.get('max_drawdown'), '.1%')} | {(row.get('collapse') or 'yes') if row['collapsed'] else ''} |"
        )
    lines += ["", "| aggregate | value |", "|---|---:|"]
    for k in ("mean", "median", "worst", "best", "std"):
        if k in agg:
            lines.append(f"| {k} val Sharpe | {_fmt(agg[k])} |")
    lines += [
        f"| collapsed seeds | {agg['n_collapsed']} {agg['collapsed_seeds'] or ''} |",
        f"| failed seeds | {agg['n_failed']} |",
    ]
    (group_dir / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def add_group_flags(parser: Any) -> None:
    """``--seeds``, ``--workers``, ``--address`` on an argparse parser (the single-run CLIs)."""
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        help="train these seeds as one seed group (a group folder with one run per seed and "
        "summary.json); --run-dir is then the group folder, and rerunning it skips "
        "finished seeds",
    )
    parser.add_argument(
        "--workers", type=int, help="seeds trained at once (Ray CPUs; default: one per seed)"
    )
    parser.add_argument(
        "--address", help="join this Ray cluster (ray start --head) instead of a local Ray"
    )


def check_group_flags(group: Any) -> None:
    """Seeds >= 0 (numpy's generators refuse negatives), --workers >= 1, and a --run-dir that
    may hold a group (not a file, not inside data/), before Ray or any folder starts."""
    bad = [s for s in group.seeds or [] if not 0 <= s <= SEED_MAX]
    if bad:
        raise ConfigError(
            f"--seeds {bad[0]}: seeds must be >= 0 and <= {SEED_MAX} (e.g. --seeds 0 1 2)"
        )
    twice = sorted({s for s in group.seeds or [] if group.seeds.count(s) > 1})
    if twice:  # one folder per seed: a repeated seed would train (and count) the same run twice
        raise ConfigError(f"--seeds: seed {twice[0]} is given twice; give each seed once")
    if group.workers is not None and group.workers < 1:
        raise ConfigError(f"--workers {group.workers}: must be >= 1")
    if group.workers is not None and group.seeds and group.workers > len(group.seeds):
        raise ConfigError(  # a local Ray would reserve that many CPUs on this machine
            f"--workers {group.workers}: more than the {len(group.seeds)} seeds; at most one "
            f"worker per seed (--workers {len(group.seeds)})"
        )
    check_address(group.address)
    if group.run_dir is not None:
        check_output_dir(group.run_dir, "--run-dir", allow_nonempty=True)  # rerun: resumes


def wants_group(argv: list[str]) -> bool:
    """Whether a command line asks for a seed group: ``--seeds`` in every form argparse takes
    (``--seeds 0 1``, ``--seeds=0``), read by argparse as the run's own parser reads it (a
    ``--seeds=3`` missed here would train one run of seed 0 and say nothing)."""
    p = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    p.add_argument("--seeds", nargs="*")
    known, _ = p.parse_known_args(argv)
    return known.seeds is not None


def split_group_argv(argv: list[str]) -> tuple[Any, list[str]]:
    """Split argv into the group's flags (seeds, workers, address, run_dir, seed) and the flags
    every seed's run gets."""
    p = argparse.ArgumentParser(add_help=False)
    add_group_flags(p)
    p.add_argument("--run-dir", type=Path)
    p.add_argument("--seed", type=int)
    p.add_argument("--device")
    group, rest = p.parse_known_args(argv)
    check_group_flags(group)
    if group.device is not None:
        rest += ["--device", group.device]
    return group, rest
