"""Checkpoint selection by the criterion the run reports: a metric of the full val backtest.

SB3's EvalCallback scores a model by the mean reward of ``n_eval_episodes`` short val episodes,
while a run reports (metrics.json, the printed table) a deterministic backtest of the WHOLE val
split after costs, and ``evaluate`` loads ``best_model.zip``. With ``train.select_metric``
``sharpe`` (default; or sortino / total_return / cagr) every evaluation also runs that backtest
(``agents.training.validation.validation_backtest``, the code that writes metrics.json; buy-and-hold is
run once and reused) and ``best_model.zip`` is the checkpoint with the highest value.
``eval/selection.json`` keeps the per-evaluation history ``[{num_timesteps, value}]`` and
``eval/best.json`` the selected step, metric and value. An undefined metric (a flat policy's
Sharpe) never beats a defined one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from agents.training.multimarket import is_multi, multi_val_score
from agents.training.validation import benchmark_backtest, validation_backtest
from backtest.metric_table import METRICS
from envs.features import RobustNormaliser
from lab.atomic import atomic_save, atomic_write_json

SELECTION_JSON = "selection.json"


def _rank(value: float | None, sign: float = 1.0) -> float:
    """Larger is better: ``sign`` -1 for a metric the table says is better lower; undefined last."""
    return -math.inf if value is None or not math.isfinite(value) else sign * value


class ValBacktestSelection(BaseCallback):
    """Run after every evaluation: score the model, keep the history, save a new best."""

    def __init__(
        self, eval_dir: Path, run_dir: Path, metric: str, score: Callable[[Any], float]
    ) -> None:
        super().__init__(verbose=0)
        self.eval_dir, self.run_dir = Path(eval_dir), Path(run_dir)
        self.metric = metric
        self.sign = 1.0 if METRICS[metric].better == "higher" else -1.0  # backtest.metric_table
        self.score = score
        self.history: list[dict[str, Any]] = []

    @property
    def best(self) -> dict[str, Any] | None:
        """The history entry with the best value (the table's direction; the earliest on ties)."""
        if not self.history:
            return None
        return max(self.history, key=lambda h: _rank(h["value"], self.sign))

    def restore(self, upto: int) -> None:
        """On --resume: the history up to the checkpoint's step (later ones are redone)."""
        path = self.eval_dir / SELECTION_JSON
        if path.is_file():
            saved = json.loads(path.read_text())
            self.history = [h for h in saved["history"] if int(h["num_timesteps"]) <= upto]

    def _on_step(self) -> bool:
        raw = float(self.score(self.model))
        value = raw if math.isfinite(raw) else None
        best_before = self.best
        self.history.append({"num_timesteps": int(self.num_timesteps), "value": value})
        atomic_write_json(
            self.eval_dir / SELECTION_JSON, {"metric": self.metric, "history": self.history}
        )
        self.logger.record(f"eval/val_{self.metric}", raw)
        if best_before is None or _rank(value, self.sign) > _rank(best_before["value"], self.sign):
            atomic_save(self.run_dir / "best_model.zip", lambda p: self.model.save(p))
            atomic_write_json(
                self.eval_dir / "best.json",
                {"num_timesteps": int(self.num_timesteps), "metric": self.metric, "value": value},
            )
        return True


def val_backtest_score(cfg: Any, run_dir: Path) -> Callable[[Any], float] | None:
    """``model -> cfg.train.select_metric`` of the full val backtest (what metrics.json
    reports), or None when the run selects on mean reward."""
    metric = cfg.train.select_metric
    if metric == "mean_reward":
        return None
    if is_multi(cfg):  # the mean over the markets of each one's full val backtest
        return multi_val_score(cfg, run_dir)
    normaliser = RobustNormaliser.load(run_dir / "normaliser.json")
    cache: dict[str, Any] = {}

    def score(model: Any) -> float:
        if "bench" not in cache:
            cache["bench"] = benchmark_backtest(cfg, "val")
        res = validation_backtest(cfg, {"select": model}, normaliser, bench=cache["bench"])
        value = res[f"{cfg.algo}_select"].get(metric)
        return float("nan") if value is None else float(value)

    return score
