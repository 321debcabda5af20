"""Every (method, fold, seed) as one engine task, resumable: the walk-forward's run loop.

``run_grid`` lists the tasks, skips those whose folder under ``<run>/tasks/`` already holds a
complete result (a killed run restarted on the same run folder redoes nothing finished), runs
the rest on ``lab.engine.Engine`` (``--workers`` local processes or ``--address`` a Ray
cluster), appends one trial-ledger record per newly finished task (the driver's ledger; tasks
never write it) and returns every outcome plus the failures (listed, never dropped).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backtest.folds import FoldPlan
from evaluate.walkforward.context import MethodSettings
from evaluate.walkforward.folds import TaskOutcome
from evaluate.walkforward.tasks import ledger_records, load_outcome, task_key
from lab.engine import Engine, Task, TaskResult
from lab.ledger import append_record, ledger_enabled

TASK_FN = "evaluate.walkforward.tasks:run_task"
Key = tuple[str, int, int]  # (method, fold, seed)


@dataclass
class GridSpec:
    """What to run: the market, methods with their settings, fold plans, seeds and options."""

    env: str
    settings: dict[str, MethodSettings]
    plans: list[FoldPlan]
    seeds: list[int]
    options: dict[str, Any]  # evaluation env options (costs)
    train_kwargs: dict[str, dict[str, Any]]  # per method: timesteps/epochs/config/...
    run_dir: Path
    periods_per_year: float
    ledger_config: dict[str, Any] = field(default_factory=dict)


@dataclass
class GridResult:
    """Every finished task's outcome and every failure (its last error line)."""

    outcomes: dict[Key, TaskOutcome]
    failures: dict[Key, str]
    n_resumed: int
    n_run: int
    wall_s: float  # the engine's wall time (Ray start included), tasks run now only
    task_s: float  # sum of the wall times of the tasks run now (one after another: about this)

    def throughput(self) -> str:
        """``18 tasks in 540 s = 2.0 tasks/min; their own times sum to 1000 s (1.85x)``."""
        if not self.n_run:
            return "no task run now (all resumed)"
        per_min = 60.0 * self.n_run / max(self.wall_s, 1e-9)
        return (
            f"{self.n_run} tasks in {self.wall_s:.0f} s = {per_min:.2f} tasks/min; their own wall "
            f"times sum to {self.task_s:.0f} s, {self.task_s / max(self.wall_s, 1e-9):.2f}x the "
            "elapsed time (tasks one after another would take about the sum)"
        )


def task_dir(run_dir: Path, method: str, fold: int, seed: int) -> Path:
    """``<run>/tasks/<method>/fold<kk>/seed<s>``."""
    return run_dir / "tasks" / task_key(method, fold, seed)


def _last_line(error: str | None) -> str:
    lines = [ln for ln in (error or "").strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else "failed without a message"


def _task(spec: GridSpec, method: str, plan: FoldPlan, seed: int) -> Task:
    ms = spec.settings[method]
    kwargs = {
        "env": spec.env,
        "method": method,
        "feature_set": ms.feature_set,
        "plan": plan,
        "seed": seed,
        "window": ms.window,
        "options": spec.options,
        "train_kwargs": spec.train_kwargs.get(method, {}),
    }
    out = task_dir(spec.run_dir, method, plan.index, seed)
    return Task(task_key(method, plan.index, seed), TASK_FN, kwargs, str(out))


# size: one loop over the task list (skip finished, submit, collect) plus the ledger appends
def run_grid(
    spec: GridSpec,
    workers: int,
    address: str | None,
    log: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
) -> GridResult:
    """Run every unfinished (method, fold, seed) task; see the module docstring."""
    plans = {p.index: p for p in spec.plans}
    outcomes: dict[Key, TaskOutcome] = {}
    todo: list[Task] = []
    keys: dict[str, Key] = {}
    for method in spec.settings:
        for plan in spec.plans:
            for seed in spec.seeds:
                done = load_outcome(task_dir(spec.run_dir, method, plan.index, seed), plan)
                if done is not None:
                    outcomes[(method, plan.index, seed)] = done
                    continue
                task = _task(spec, method, plan, seed)
                keys[task.key] = (method, plan.index, seed)
                todo.append(task)
    n_resumed, total = len(outcomes), len(outcomes) + len(todo)
    if n_resumed:
        log(f"resuming {spec.run_dir}: {n_resumed} of {total} tasks already finished, skipped")
    failures: dict[Key, str] = {}
    task_s = 0.0

    def on_result(res: TaskResult) -> None:
        nonlocal task_s
        key = keys[res.key]
        task_s += res.wall_s
        if not res.ok:
            failures[key] = _last_line(res.error)
            where = task_dir(spec.run_dir, *key)
            log(f"  {res.key}: FAILED ({failures[key]}); log: {where}.failed/log.txt")
            return
        folder = task_dir(spec.run_dir, *key)
        out = load_outcome(folder, plans[key[1]])
        if out is None:
            failures[key] = "finished without result.json/test.npz"
            return
        outcomes[key] = out
        if ledger_enabled():
            cfg = {**spec.ledger_config, **spec.settings[key[0]].summary}
            for rec, returns in ledger_records(
                spec.env, key[0], key[2], out, cfg, folder, spec.periods_per_year
            ):
                append_record(rec, val_returns=returns, val_timestamps=out.val_timestamps)
        log(
            f"  {res.key}: val Sharpe {out.val_sharpe:+.2f}, test Sharpe "
            f"{out.test.summary()['sharpe']:+.2f}, {res.wall_s:.0f} s "
            f"({len(outcomes) + len(failures)}/{total})"
        )

    t0 = time.perf_counter()
    if todo:
        log(
            f"running {len(todo)} task(s) on {workers} worker(s){' at ' + address if address else ''}"
        )
        with Engine(workers, address, log_dir=spec.run_dir) as engine:  # Ray: run_dir/ray.log
            engine.run(todo, on_result=on_result)
    return GridResult(outcomes, failures, n_resumed, len(todo), time.perf_counter() - t0, task_s)
