"""The policy protocol the runner steps, the ``PolicySpec`` record, and action mapping.

Protocol: ``bind(market, action_space)`` once before a pass (market = the env's ``MarketData``),
then ``act(obs_batch, bars) -> actions`` with ``obs_batch`` ``(B, obs_dim)`` float32 and ``bars``
``(B,)`` the decision-bar indices into the market arrays (the observation is of bar ``t``'s close).
Actions are in the env's action space: ``Discrete(3)`` ints (0 SELL, 1 HOLD, 2 BUY) or ``Box``
target exposures ``(B, 1)``. The baselines: ``backtest.baselines``; the oracles of the synthetic
markets: ``backtest.oracles``.

State (a recurrent policy's memory): a policy may also define ``initial_state(n)`` (the state of
``n`` accounts at the start of an episode, i.e. of a data segment) and ``act_state(obs_batch,
bars, state) -> (actions, next state)``. Whoever steps a policy goes through ``initial_state``
and ``step`` below, which call ``act`` and carry ``None`` for a stateless policy, so the
stateless ones (every policy so far) behave exactly as before. The runner resets the state at
every episode; an ensemble carries one state per member.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

ORACLES = ("oracle_hidden", "oracle_filter")  # synthetic markets only (backtest.oracles)


class Policy(Protocol):
    """What the runner steps: ``bind`` to a market once, then ``act`` on observation batches."""

    def bind(self, market: Any, action_space: Any) -> None:
        """Prepare for a pass over ``market`` with the env's ``action_space``."""

    def act(self, obs_batch: np.ndarray, bars: np.ndarray) -> np.ndarray:
        """The actions for observations ``obs_batch`` at decision bars ``bars``."""


class StatefulPolicy(Policy, Protocol):
    """A policy with memory: its state starts at ``initial_state`` each episode and is threaded
    through ``act_state`` by the caller (never kept inside the policy between calls)."""

    def initial_state(self, n: int) -> Any:
        """The state of ``n`` accounts at an episode's first decision."""

    def act_state(self, obs_batch: np.ndarray, bars: np.ndarray, state: Any) -> tuple[Any, Any]:
        """``(actions, next state)`` for observations ``obs_batch`` at decision bars ``bars``."""


def is_stateful(policy: Any) -> bool:
    """True for a policy with memory (``StatefulPolicy``)."""
    return callable(getattr(policy, "act_state", None))


def initial_state(policy: Any, n: int = 1) -> Any:
    """``policy``'s state at an episode's start for ``n`` accounts (None: stateless)."""
    return policy.initial_state(n) if is_stateful(policy) else None


def step(policy: Any, obs_batch: np.ndarray, bars: np.ndarray, state: Any) -> tuple[Any, Any]:
    """``(actions, next state)``: ``act_state`` for a stateful policy, ``act`` (state unchanged,
    None) for a stateless one."""
    if is_stateful(policy):
        return policy.act_state(obs_batch, bars, state)
    return policy.act(obs_batch, bars), state


def position_to_action(position: np.ndarray, action_space: Any) -> np.ndarray:
    """Target positions in {-1, 0, 1} -> env actions (Discrete: position + 1; Box: (B, 1))."""
    pos = np.asarray(position, dtype=np.float64)
    if hasattr(action_space, "n"):
        return (np.rint(pos).astype(np.int64) + 1).clip(0, 2)
    return pos.astype(np.float32).reshape(-1, 1)


@dataclass
class PolicySpec:
    """A policy plus what its env must look like (observation layout, normaliser)."""

    name: str
    method: str
    policy: Policy
    seed: int | None = None
    env_settings: dict[str, Any] = field(default_factory=dict)  # feature_set, window, action
    normaliser: Any = None  # a RobustNormaliser (or None: the env fits its own on train)
    source: str | None = None
    trained_costs: dict[str, Any] = field(default_factory=dict)  # fee_bps, slippage_bps, funding
