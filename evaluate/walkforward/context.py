"""What a walk-forward learner gets and hands back: the fold's context and the trained fold.

``MethodSettings`` is decided once per method on the driver (feature set, window, the config it
came from), so every task of that method builds the same market and the report can say which
configuration was used; ``FoldContext`` is one (method, fold, seed) on a worker; ``TrainedFold``
is the policy selected on the fold's val rows plus every configuration tried there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from backtest.baselines import Policy, PolicySpec
from backtest.folds import FoldPlan, WFData
from envs import MarketData


@dataclass(frozen=True)
class MethodSettings:
    """One method's fixed settings for the whole walk-forward (the same for every fold/seed)."""

    method: str
    feature_set: str
    window: int
    source: str  # where the configuration came from, in words (for the report)
    summary: dict[str, Any] = field(default_factory=dict)  # the settings a reader checks

    def describe(self) -> str:
        """``ppo: agents/configs/ppo.yml [btc1h] (flagtrader60, window 16, gamma 0.99)``."""
        keys = ", ".join(f"{k} {v}" for k, v in self.summary.items())
        return f"{self.method}: {self.source} ({self.feature_set}, window {self.window}; {keys})"


@dataclass
class FoldContext:
    """Everything a fold learner may use: the fold's rows, normaliser, markets and budget."""

    data: WFData
    plan: FoldPlan
    normaliser: Any  # fitted on plan.train rows only
    market: MarketData  # the full series with that normaliser (test rows untouched)
    train_market: MarketData  # the same with the embargo holes masked
    run_dir: Path
    seed: int
    window: int
    eval_options: dict[str, Any]  # env options of every evaluation (costs, max_drawdown=None)
    timesteps: int | None = None
    epochs: int | None = None
    max_train_samples: int | None = None
    config: Path | None = None  # PPO/SAC: --config YAML; trees: its trees: section
    argv: list[str] = field(default_factory=list)

    def costs(
        self, keys: tuple[str, ...] = ("fee_bps", "slippage_bps", "funding")
    ) -> dict[str, Any]:
        """The evaluation's cost overrides among ``keys`` (training pays what evaluation pays)."""
        return {k: self.eval_options[k] for k in keys if k in self.eval_options}


@dataclass
class TrainedFold:
    """What a fold learner hands back: the selected policy, every trial and why it was chosen."""

    spec: PolicySpec  # the selected policy
    trials: dict[str, Policy]  # every configuration tried this fold, for the trial variance
    selection: dict[str, Any]  # what was chosen on val and why


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars as Python numbers, non-finite floats as None, keys as str."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
