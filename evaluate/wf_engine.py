"""Walk-forward folds on the experiment engine (``--workers N``, ``--address ADDR``).

Each fold is one engine task (``lab.engine``): the worker rebuilds the preset's data, trains
and backtests its fold exactly as ``evaluate.wf_folds.run_fold`` does in-process, into its
own ``work_dir``; the fold's run folder lands in ``<out>/fold_<k>/`` on the driver and its
``FoldResult`` comes back to be stitched. ``record_folds`` appends the walk-forward
configuration to the market's trial ledger (source ``walkforward``), one record per fold and
configuration evaluated on the fold's val rows.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from lab.engine import Engine, Task
from lab.ledger import append_record, make_record


def fold_task(
    work_dir: Path,
    env: str,
    feature_set: str,
    plan: Any,
    algo: str,
    seed: int,
    window: int,
    options: dict[str, Any],
    train_kwargs: dict[str, Any],
) -> Any:
    """Engine task: one fold (``run_fold``) on a worker; returns its ``FoldResult``."""
    from evaluate.wf_data import WFData
    from evaluate.wf_folds import run_fold

    data = WFData.from_preset(env, feature_set)
    return run_fold(
        data, plan, algo, work_dir, seed=seed, window=window, options=options, **train_kwargs
    )


def fold_runner(env: str, feature_set: str, workers: int, address: str | None) -> Any:
    """A ``run_walkforward(fold_runner=...)`` that runs every fold on the engine at once and
    returns ``{fold index: FoldResult}``; a failed fold stops the walk-forward (no stitching
    with a hole)."""

    def run(plans: list[Any], algo: str, out: Path, **kw: Any) -> dict[int, Any]:
        fixed = {k: kw.pop(k) for k in ("seed", "window", "options")}
        tasks = [
            Task(
                f"fold{p.index}",
                "evaluate.wf_engine:fold_task",
                {"env": env, "feature_set": feature_set, "plan": p, "algo": algo, **fixed}
                | {"train_kwargs": kw},
                str(out / f"fold_{p.index:02d}"),
            )
            for p in plans
        ]
        with Engine(workers, address, log_dir=out) as engine:  # Ray's log: out/ray.log
            results = engine.run(tasks)
        failed = [r for r in results if not r.ok]
        if failed:
            raise SystemExit(
                "python -m evaluate.walkforward: error: fold(s) failed: "
                + "; ".join(f"{r.key}: {(r.error or '').strip().splitlines()[-1:]}" for r in failed)
            )
        return {int(r.key[4:]): r.value for r in results}

    return run


def record_folds(
    env: str, algo: str, wf: Any, config: dict[str, Any], seed: int, ppy: float, out: Path
) -> int:
    """One ledger record per (fold, configuration) with its val Sharpe; returns how many.

    Momentum folds evaluate every lookback on val (one configuration each); a PPO fold selects
    on val mean reward and measures no val Sharpe (recorded with ``extra.no_val_sharpe``)."""
    n = 0
    for f in wf.folds:
        sel = f.selection.get("val_sharpe")
        per_config = sel if isinstance(sel, dict) else {"": sel}
        for name, sharpe in per_config.items():
            cfg = {**config, "algo": algo, "env": env, **({"lookback": name} if name else {})}
            missing = sharpe is None or not math.isfinite(float(sharpe))
            rec = make_record(
                market=env,
                source="walkforward",
                algo=algo,
                config=cfg,
                seed=seed,
                run_dir=(out / f"fold_{f.plan.index:02d}").resolve(),
                val_sharpe=None if missing else float(sharpe),
                periods_per_year=ppy,
                extra={"fold": f.plan.index, **({"no_val_sharpe": True} if missing else {})},
            )
            append_record(rec)
            n += 1
    return n
