"""Choose each known-edge baseline's parameters on val, and count every choice as a trial.

A baseline whose lookback was picked on the test period would be a straw man or a cheat; one
whose lookback was picked on val is the same honest bar an agent must clear. ``choose`` runs
every point of the baseline's fixed grid (``backtest.baseline_table``) through the caller's
backtest of the val block (``choose_on_split``: the runner over a preset's ``val`` split with the
comparison's costs; walk-forward: its fold's val rows), keeps the best annualised val Sharpe
(an always-flat pass counts as 0; ties go to the earlier grid point), and ``record_choice`` /
``pending_trials(...).commit()`` append every grid point to the market's trial ledger (source
``baseline``) with its per-bar val returns, once per configuration (a rerun of the same choice
adds no trial). ``evaluate`` counts the pending ones at once and commits them only when it
succeeds, so a command that fails writes nothing.
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


@dataclass
class PendingTrials:
    """Baseline grid points tried on val and not yet in ``market``'s ledger: counted by the
    caller now (``records``), appended by ``commit`` once its command has succeeded (a command
    that fails later writes nothing)."""

    market: str
    items: list[tuple[dict[str, Any], Backtest]] = field(default_factory=list)
    runs_root: str | os.PathLike[str] | None = None

    @property
    def records(self) -> list[dict[str, Any]]:
        """The ledger records to be appended (for the trial count)."""
        return [rec for rec, _ in self.items]

    def commit(self) -> int:
        """Append every pending record not yet in the ledger, with its val returns."""
        if not ledger_enabled():
            return 0
        root = self.runs_root or default_runs_root()
        seen = _recorded(self.market, root)
        n = 0
        for rec, bt in self.items:
            if rec["config_hash"] in seen:  # another process recorded it meanwhile
                continue
            returns = np.nan_to_num(bt.returns)
            append_record(rec, root, val_returns=returns, val_timestamps=bt.timestamps)
            seen.add(rec["config_hash"])
            n += 1
        return n


def _recorded(market: str, root: str | os.PathLike[str]) -> set[str]:
    return {r["config_hash"] for r in read_records(market, root) if r["source"] == "baseline"}


def pending_trials(
    choices: list[Choice],
    market: str,
    costs: dict[str, Any],
    *,
    split: str = VAL_SPLIT,
    runs_root: str | os.PathLike[str] | None = None,
) -> PendingTrials:
    """Every grid point of ``choices`` whose configuration the ledger does not hold yet."""
    out = PendingTrials(market, [], runs_root)
    if not ledger_enabled():
        return out
    seen = _recorded(market, runs_root or default_runs_root())
    for choice in choices:
        for params, bt in choice.trials:
            cfg = trial_config(choice.name, params, costs, split)
            if config_hash(cfg) in seen:
                continue
            seen.add(config_hash(cfg))
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
            out.items.append((rec, bt))
    return out


def record_choice(
    choice: Choice,
    market: str,
    costs: dict[str, Any],
    *,
    split: str = VAL_SPLIT,
    runs_root: str | os.PathLike[str] | None = None,
) -> int:
    """Append every grid point of ``choice`` not yet in the ledger; returns how many."""
    return pending_trials([choice], market, costs, split=split, runs_root=runs_root).commit()


def trend_baseline_specs(
    env: str,
    costs: CostOverrides | None = None,
    *,
    seed: int = 0,
    record: bool = True,
    runs_root: str | os.PathLike[str] | None = None,
) -> tuple[list[PolicySpec], PendingTrials]:
    """Every known-edge baseline chosen on ``env``'s val split at ``costs``: the head-to-head's
    specs, in ``TREND_BASELINES`` order, and the grid points not yet in the ledger (appended
    here when ``record``, else left to the caller's ``commit``)."""
    costs = costs or CostOverrides()
    if ledger_enabled():  # a damaged ledger fails now, before the val passes
        _recorded(env, runs_root or default_runs_root())
    choices = [choose_on_split(n, env, costs=costs, seed=seed) for n in TREND_BASELINES]
    pending = pending_trials(choices, env, costs.options(), runs_root=runs_root)
    if record:
        pending.commit()
    return [c.spec() for c in choices], pending


def add_trend_baselines(
    specs: list[PolicySpec], env: str, costs: CostOverrides | None = None, **kwargs: Any
) -> tuple[list[PolicySpec], PendingTrials]:
    """``specs`` with the known-edge baselines (``trend_baseline_specs``) after the other
    baselines and oracles, before the first trained policy; and their pending trials."""
    trend, pending = trend_baseline_specs(env, costs, **kwargs)
    cut = next((i for i, s in enumerate(specs) if not is_reference(s.method)), len(specs))
    return specs[:cut] + trend + specs[cut:], pending
