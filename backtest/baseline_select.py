"""Choose each known-edge baseline's parameters on val, and count every choice as a trial.

A baseline whose lookback was picked on the test period would be a straw man or a cheat; one
whose lookback was picked on val is the same honest bar an agent must clear. ``choose`` runs
every point of the baseline's fixed grid (``backtest.baseline_table``) through the caller's
backtest of the val block (``choose_on_split``: the runner over a preset's ``val`` split with the
comparison's costs; walk-forward: its fold's val rows), keeps the best annualised val Sharpe
(an always-flat pass counts as 0; ties go to the earlier grid point), and ``record_choice``
appends every grid point to the market's trial ledger (source ``baseline``) with its per-bar
val returns, once per configuration (a rerun of the same choice adds no trial).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backtest.baseline_table import TABLE, TREND_BASELINES, params_label, trend_spec
from backtest.baselines import PolicySpec, is_reference
from backtest.record import Backtest
from backtest.runner import CostOverrides, run_policy
from backtest.stats import per_period_sharpe
from envs.presets import get_preset
from lab.ledger import (
    append_record,
    config_hash,
    default_runs_root,
    ledger_enabled,
    make_record,
    read_records,
)

VAL_SPLIT = "val"


@dataclass
class Choice:
    """A baseline's parameters chosen on val, with every grid point's val pass."""

    name: str
    params: dict[str, Any]
    val_sharpe: dict[str, float]  # params label -> annualised val Sharpe (nan: flat)
    trials: list[tuple[dict[str, Any], Backtest]] = field(default_factory=list)
    note: str = ""

    def spec(self) -> PolicySpec:
        """The chosen baseline as a ``PolicySpec`` (its source says what was chosen where)."""
        return trend_spec(self.name, self.params, self.note or params_label(self.name, self.params))


def _score(bt: Backtest) -> float:
    s = per_period_sharpe(bt.returns) * math.sqrt(bt.periods_per_year)
    return s if math.isfinite(s) else 0.0  # an always-flat pass earned nothing: 0


def choose(name: str, backtest: Callable[[PolicySpec], Backtest]) -> Choice:
    """Run every grid point of table baseline ``name`` through ``backtest`` (a pass over the
    val block) and keep the best annualised Sharpe."""
    entry = TABLE[name]
    grid = entry.grid or ({},)
    trials, sharpes = [], {}
    for point in grid:
        params = {**entry.default, **point}
        bt = backtest(trend_spec(name, params))
        trials.append((params, bt))
        sharpes[params_label(name, params)] = _score(bt)
    best = max(range(len(trials)), key=lambda i: (_score(trials[i][1]), -i))
    params = trials[best][0]
    note = f"{params_label(name, params)} chosen on val (Sharpe {_score(trials[best][1]):+.2f})"
    return Choice(name, params, sharpes, trials, note)


def choose_on_split(
    name: str,
    env: str,
    *,
    costs: CostOverrides | None = None,
    split: str = VAL_SPLIT,
    seed: int = 0,
) -> Choice:
    """``choose`` over the preset's ``split`` with the runner and ``costs``; a market without
    that split keeps the default parameters (no trial: nothing was chosen)."""
    if split not in get_preset(env).splits:
        entry = TABLE[name]
        note = f"{params_label(name, entry.default)}: default (market {env} has no {split} split)"
        return Choice(name, dict(entry.default), {}, [], note)
    return choose(name, lambda spec: run_policy(spec, env, split, seed=seed, costs=costs))


def trial_config(name: str, params: dict[str, Any], costs: dict[str, Any], split: str) -> dict:
    """What a baseline trial's ``config_hash`` is made of."""
    return {"baseline": name, "params": params, "costs": costs, "split": split}


def record_choice(
    choice: Choice,
    market: str,
    costs: dict[str, Any],
    *,
    split: str = VAL_SPLIT,
    runs_root: str | os.PathLike[str] | None = None,
) -> int:
    """Append every grid point of ``choice`` not yet in the ledger; returns how many."""
    if not ledger_enabled() or not choice.trials:
        return 0
    root = runs_root or default_runs_root()
    seen = {r["config_hash"] for r in read_records(market, root) if r["source"] == "baseline"}
    n = 0
    for params, bt in choice.trials:
        cfg = trial_config(choice.name, params, costs, split)
        if config_hash(cfg) in seen:
            continue
        rec = make_record(
            market=market,
            source="baseline",
            algo=choice.name,
            config=cfg,
            seed=None,
            run_dir=None,
            val_sharpe=_score(bt),
            periods_per_year=bt.periods_per_year,
            extra={"params": params, "chosen": params == choice.params},
        )
        returns = np.nan_to_num(bt.returns)
        append_record(rec, root, val_returns=returns, val_timestamps=bt.timestamps)
        n += 1
    return n


def trend_baseline_specs(
    env: str,
    costs: CostOverrides | None = None,
    *,
    seed: int = 0,
    record: bool = True,
    runs_root: str | os.PathLike[str] | None = None,
) -> tuple[list[PolicySpec], list[Choice]]:
    """Every known-edge baseline chosen on ``env``'s val split at ``costs`` (recorded in the
    ledger when ``record``): the head-to-head's specs, in ``TREND_BASELINES`` order."""
    costs = costs or CostOverrides()
    if record and ledger_enabled():  # a damaged ledger fails now, before the val passes
        for _ in read_records(env, runs_root or default_runs_root()):
            pass
    choices = [choose_on_split(n, env, costs=costs, seed=seed) for n in TREND_BASELINES]
    if record:
        for c in choices:
            record_choice(c, env, costs.options(), runs_root=runs_root)
    return [c.spec() for c in choices], choices


def add_trend_baselines(
    specs: list[PolicySpec], env: str, costs: CostOverrides | None = None, **kwargs: Any
) -> list[PolicySpec]:
    """``specs`` with the known-edge baselines (``trend_baseline_specs``) after the other
    baselines and oracles, before the first trained policy."""
    trend, _ = trend_baseline_specs(env, costs, **kwargs)
    cut = next((i for i, s in enumerate(specs) if not is_reference(s.method)), len(specs))
    return specs[:cut] + trend + specs[cut:]
