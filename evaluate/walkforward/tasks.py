"""One engine task per (method, fold, seed), its result files, and its ledger record.

A task (``lab.engine``) rebuilds the market on its worker (the method's feature set; cached per
process), runs ``evaluate.walkforward.folds.fit_fold`` into its ``work_dir`` and writes

    result.json   method, fold, seed, val Sharpe, trial Sharpes, selection, timings, summary
    test.npz      the selected policy's backtest over the fold's test rows (plain arrays)
    val.npz       per-bar val returns of every configuration tried (``r_<name>``) and the val
                  bars' ``timestamps``: the ledger records point to them (PBO, SPA)
    run/          the training run folder (checkpoints, normaliser, config)

The engine lands the folder on the driver by one rename, so a task folder holding
``result.json`` is complete: a killed walk-forward restarted on the same run folder skips it
(``load_outcome``). Nothing here executes code read from a file (``np.load`` without pickle).
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from backtest.folds import FoldPlan, WFData
from backtest.record import Backtest
from evaluate.walkforward.context import jsonable
from evaluate.walkforward.folds import TaskOutcome, fit_fold
from lab.ledger import make_record

RESULT = "result.json"
TEST = "test.npz"
VAL = "val.npz"
ARRAYS = ("timestamps", "equity", "positions", "fees", "slippage", "funding", "segment_starts")


@functools.lru_cache(maxsize=4)
def market_data(env: str, feature_set: str) -> WFData:
    """The market's candles and raw features, once per worker process and feature set."""
    return WFData.from_preset(env, feature_set)


def task_key(method: str, fold: int, seed: int) -> str:
    """``ppo/fold03/seed1``: the task's key and its folder under ``<run>/tasks/``."""
    return f"{method}/fold{fold:02d}/seed{seed}"


def run_task(
    work_dir: Path,
    env: str,
    method: str,
    feature_set: str,
    plan: FoldPlan,
    seed: int,
    window: int,
    options: dict[str, Any],
    train_kwargs: dict[str, Any],
) -> dict[str, Any]:
    """Engine task: ``fit_fold`` into ``work_dir/run``; writes result.json and test.npz."""
    out = fit_fold(
        market_data(env, feature_set),
        plan,
        method,
        work_dir / "run",
        seed=seed,
        window=window,
        options=options,
        **train_kwargs,
    )
    save_outcome(work_dir, method, seed, out)
    return {"val_sharpe": jsonable(out.val_sharpe), "train_s": round(out.train_s, 1)}


def save_outcome(folder: Path, method: str, seed: int, out: TaskOutcome) -> None:
    """result.json + test.npz of one task into ``folder``."""
    bt = out.test
    np.savez(folder / TEST, **{k: np.asarray(getattr(bt, k)) for k in ARRAYS})
    if out.val_timestamps is not None:
        vals = {f"r_{n}": np.asarray(r, dtype=np.float64) for n, r in out.val_returns.items()}
        np.savez(folder / VAL, timestamps=np.asarray(out.val_timestamps), **vals)
    for g, gbt in out.group_tests.items():  # CPCV: one file per tested group
        np.savez(folder / f"test_g{g}.npz", **{k: np.asarray(getattr(gbt, k)) for k in ARRAYS})
    result = {
        "method": method,
        "fold": out.plan.index,
        "seed": seed,
        "name": bt.name,
        "periods_per_year": bt.periods_per_year,
        "meta": bt.meta,
        "val_sharpe": out.val_sharpe,
        "trial_sharpes": out.trial_sharpes,
        "selection": out.selection,
        "train_s": out.train_s,
        "eval_s": out.eval_s,
        "test_summary": bt.summary(),
        "groups": {str(g): gbt.meta for g, gbt in out.group_tests.items()},
    }
    (folder / RESULT).write_text(json.dumps(jsonable(result), indent=2))


def _num(v: Any) -> float:
    return math.nan if v is None else float(v)


def load_outcome(folder: Path, plan: FoldPlan) -> TaskOutcome | None:
    """A finished task's outcome from its folder, or None when it has not finished."""
    if not (folder / RESULT).is_file() or not (folder / TEST).is_file():
        return None
    res = json.loads((folder / RESULT).read_text())
    groups = {}
    for g, meta in (res.get("groups") or {}).items():
        path = folder / f"test_g{g}.npz"
        if not path.is_file():
            return None
        groups[int(g)] = _backtest(path, res, meta)
    bt = _backtest(folder / TEST, res, res["meta"])
    val_returns, val_ts = _val_returns(folder / VAL)
    return TaskOutcome(
        plan=plan,
        test=bt,
        val_sharpe=_num(res["val_sharpe"]),
        trial_sharpes={k: _num(v) for k, v in res["trial_sharpes"].items()},
        selection=res["selection"],
        train_s=float(res["train_s"]),
        eval_s=float(res["eval_s"]),
        group_tests=groups,
        val_returns=val_returns,
        val_timestamps=val_ts,
    )


def _val_returns(path: Path) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """val.npz's returns per configuration; none for a task finished before it was written."""
    if not path.is_file():
        return {}, None
    with np.load(path, allow_pickle=False) as z:
        return {k[2:]: z[k] for k in z.files if k.startswith("r_")}, z["timestamps"]


def _backtest(path: Path, res: dict[str, Any], meta: dict[str, Any]) -> Backtest:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in ARRAYS}
    return Backtest(
        name=res["name"], periods_per_year=float(res["periods_per_year"]), meta=meta, **arrays
    )


def _trial_returns(out: TaskOutcome, method: str, name: str) -> np.ndarray | None:
    """The val returns of configuration ``name`` ("" = the selected policy, the only one)."""
    if not name:
        return next(iter(out.val_returns.values())) if len(out.val_returns) == 1 else None
    return out.val_returns.get(name, out.val_returns.get(f"{method}_{name}"))


def ledger_records(
    env: str, method: str, seed: int, out: TaskOutcome, config: dict[str, Any], folder: Path,
    ppy: float,
) -> list[tuple[dict[str, Any], np.ndarray | None]]:  # fmt: skip
    """The task's trial-ledger records, each with its per-bar val returns (None for a task
    finished before they were stored): one per configuration evaluated on the fold's val rows
    (the momentum smoke path: each lookback), else one with the selected policy's val Sharpe."""
    per_config = out.selection.get("val_sharpe")
    tried = per_config if isinstance(per_config, dict) else {"": out.val_sharpe}
    records = []
    for name, sharpe in tried.items():
        value = _num(sharpe)
        missing = not math.isfinite(value)
        rec = make_record(
            market=env,
            source="walkforward",
            algo=method,
            config={
                **config,
                "method": method,
                "env": env,
                **({"config": name} if name else {}),
            },
            seed=seed,
            run_dir=folder.resolve(),
            val_sharpe=None if missing else value,
            periods_per_year=ppy,
            extra={"fold": out.plan.index, **({"no_val_sharpe": True} if missing else {})},
        )
        records.append((rec, _trial_returns(out, method, name)))
    return records
