"""Robustness of a verdict: the same comparison at double costs, and with fills one bar later.

Two stresses that a real edge survives and an artefact of the backtest often does not (Bailey,
Borwein, Lopez de Prado, Zhu 2014, "Pseudo-mathematics and financial charlatanism", Notices of
the AMS 61(5); Harvey, Liu 2015, "Backtesting", JPM 42(1): haircuts for costs and execution):

* ``double_costs``: fee and slippage per unit traded twice the comparison's (funding unchanged).
* ``late_fill``: every policy's order fills one bar later than it would (decided on bar t's
  close, submitted at bar t+1's close, filled at bar t+2's open): ``DelayedPolicy`` returns, at
  each call, the action its policy chose at the previous call of the pass, and flat at the first
  call of each episode (after a data gap nothing is carried over). A policy that acts every k bars
  is delayed by one decision (k bars). The policy still sees its own account state in the
  observation, now one bar stale relative to its decisions, as a delayed live system would.

``stress_variants(costs, specs)`` gives both as ``(name, costs, specs)`` for the caller's runner
(``evaluate --stress`` runs them beside the normal verdict).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from backtest.baselines import Policy, PolicySpec, position_to_action
from backtest.policy import initial_state, step
from backtest.runner import CostOverrides
from envs.params import EnvParams

STRESSES = ("double_costs", "late_fill")


@dataclass
class DelayedPolicy:
    """``policy``'s actions one call late (flat at each episode's first call)."""

    policy: Policy
    interval_bars: int = 1  # the runner calls the policy every k bars
    space: Any = field(default=None, repr=False)
    last_bar: int = field(default=-(10**18), repr=False)
    pending: np.ndarray | None = field(default=None, repr=False)

    def bind(self, market: Any, action_space: Any) -> None:
        """Bind the wrapped policy; forget any pending action."""
        self.policy.bind(market, action_space)
        self.space, self.last_bar, self.pending = action_space, -(10**18), None

    def initial_state(self, n: int) -> Any:
        """The wrapped policy's state (None when it is stateless)."""
        return initial_state(self.policy, n)

    def act_state(self, obs_batch: np.ndarray, bars: np.ndarray, state: Any) -> tuple[Any, Any]:
        """The action decided at the previous call, the wrapped policy's state carried."""
        now, state = step(self.policy, obs_batch, bars, state)
        return self._delay(now, bars), state

    def act(self, obs_batch: np.ndarray, bars: np.ndarray) -> np.ndarray:
        """The action decided at the previous call; flat when this call starts an episode."""
        return self._delay(self.policy.act(obs_batch, bars), bars)

    def _delay(self, now: np.ndarray, bars: np.ndarray) -> np.ndarray:
        bar = int(np.asarray(bars)[0])
        contiguous = self.pending is not None and bar - self.last_bar == self.interval_bars
        out = self.pending if contiguous else position_to_action(np.zeros(len(bars)), self.space)
        self.pending, self.last_bar = np.array(now, copy=True), bar
        return np.asarray(out)


def doubled(costs: CostOverrides) -> CostOverrides:
    """``costs`` with fee and slippage per unit traded twice as high (unset: the env's)."""
    defaults = EnvParams()
    fee = defaults.fee_bps if costs.fee_bps is None else costs.fee_bps
    slip = defaults.slippage_bps if costs.slippage_bps is None else costs.slippage_bps
    return replace(costs, fee_bps=2 * fee, slippage_bps=2 * slip)


def delayed(spec: PolicySpec) -> PolicySpec:
    """``spec`` whose policy fills one decision later (``DelayedPolicy``)."""
    k = int(spec.env_settings.get("decision_interval", 1))
    return replace(spec, policy=DelayedPolicy(spec.policy, interval_bars=k))


def stress_variants(
    costs: CostOverrides, specs: list[PolicySpec]
) -> list[tuple[str, CostOverrides, list[PolicySpec]]]:
    """``[(name, costs, specs)]`` of the two stresses (see the module doc)."""
    return [
        ("double_costs", doubled(costs), specs),
        ("late_fill", costs, [delayed(s) for s in specs]),
    ]
