"""The one table of baselines every head-to-head and walk-forward compares against.

``TABLE`` lists each baseline with its policy factory, the env settings it needs (the action
type), its default parameters and the small fixed grid its parameters are chosen from on val
(``backtest.baseline_select``; every grid point is a trial in the ledger). Simple baselines
(``buy_and_hold``, ``flat``, ``random``, ``momentum``) have no grid; the known edges
(``backtest.trend``) do:

=================  =======================================  ====================  ==========
name               rule                                     grid                  action
=================  =======================================  ====================  ==========
tsmom_long_flat    50-day time-series momentum, long/flat   lookback 20-200 days  discrete
tsmom_long_short   the same, long/short                     lookback 20-200 days  discrete
trend_ensemble     mean of 7 trend signals, 5-360 days      ma / donchian         continuous
vol_target         long, scaled to 40% annual volatility    vol window 10-90 d    continuous
=================  =======================================  ====================  ==========

``baseline(name, seed, env, **params)`` builds any of them; ``HEAD_TO_HEAD`` is the order
``evaluate`` lists them in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from backtest import baselines as simple
from backtest.baselines import TREND_BASELINES, Policy, PolicySpec
from backtest.trend import DailyMomentumPolicy, TrendEnsemblePolicy, VolTargetPolicy

MOMENTUM_DAYS_GRID = (20, 50, 100, 200)


@dataclass(frozen=True)
class BaselineEntry:
    """One baseline: how to build it, what env it needs, its default and its val grid."""

    name: str
    make: Callable[..., Policy]
    env_settings: dict[str, Any] = field(default_factory=dict)
    default: dict[str, Any] = field(default_factory=dict)
    grid: tuple[dict[str, Any], ...] = ()  # () = nothing chosen on val

    def policy(self, **params: Any) -> Policy:
        """A fresh policy with ``params`` over the default."""
        return self.make(**{**self.default, **params})


TREND: tuple[BaselineEntry, ...] = (
    BaselineEntry(
        "tsmom_long_flat",
        lambda **p: DailyMomentumPolicy(long_short=False, **p),
        {"action": "discrete"},
        {"lookback_days": 50},
        tuple({"lookback_days": d} for d in MOMENTUM_DAYS_GRID),
    ),
    BaselineEntry(
        "tsmom_long_short",
        lambda **p: DailyMomentumPolicy(long_short=True, **p),
        {"action": "discrete"},
        {"lookback_days": 50},
        tuple({"lookback_days": d} for d in MOMENTUM_DAYS_GRID),
    ),
    BaselineEntry(
        "trend_ensemble",
        TrendEnsemblePolicy,
        {"action": "continuous"},
        {"kind": "ma"},
        ({"kind": "ma"}, {"kind": "donchian"}),
    ),
    BaselineEntry(
        "vol_target",
        VolTargetPolicy,
        {"action": "continuous"},
        {"window_days": 30, "target_vol": 0.4},
        tuple({"window_days": d} for d in (10, 30, 90)),
    ),
)
TABLE: dict[str, BaselineEntry] = {e.name: e for e in TREND}
assert tuple(TABLE) == TREND_BASELINES, "backtest.baselines.TREND_BASELINES must name TABLE"
HEAD_TO_HEAD = ("buy_and_hold", "flat", "random", "momentum", *TREND_BASELINES)


def baseline(name: str, seed: int = 0, env: str | None = None, **params: Any) -> Policy:
    """Any baseline by name: the simple ones (``backtest.baselines.baseline``) or a table
    entry with ``params`` over its default."""
    if name in TABLE:
        return TABLE[name].policy(**params)
    return simple.baseline(name, seed, env)


def params_label(name: str, params: dict[str, Any]) -> str:
    """``tsmom_long_flat[lookback_days=50]``: the baseline and the parameters it runs with."""
    inner = ",".join(f"{k}={v}" for k, v in sorted(params.items()))
    return f"{name}[{inner}]" if inner else name


def trend_spec(name: str, params: dict[str, Any] | None = None, source: str = "") -> PolicySpec:
    """The ``PolicySpec`` of table baseline ``name`` with ``params`` (default: its default)."""
    entry = TABLE[name]
    chosen = {**entry.default, **(params or {})}
    return PolicySpec(
        name,
        name,
        entry.policy(**chosen),
        None,
        dict(entry.env_settings),
        source=source or params_label(name, chosen),
    )


def named_spec(name: str, seed: int = 0, env: str | None = None) -> PolicySpec:
    """A baseline's ``PolicySpec`` by name (table entries with their default parameters)."""
    if name in TABLE:
        return trend_spec(name)
    return PolicySpec(name, name, simple.baseline(name, seed, env), seed)
