"""Oracle baselines of the planted-signal markets (``envs.synthetic``) as runner policies.

``oracle_hidden`` reads the generator's hidden state (the upper bound); ``oracle_filter`` reads
past closes only (Hamilton / Kalman filter with a cost-aware no-trade band). Both return the
target positions ``envs.synthetic.oracle_positions`` computed in numpy, looked up by bar open
time, so they act on the runner's clock and costs like any baseline (decide at t's close, the
env fills at t+1's open). Other presets have no oracle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backtest.policy import ORACLES, PolicySpec, position_to_action
from envs.synthetic import MARKET_NAMES, oracle_positions


@dataclass
class OraclePolicy:
    """Target positions of oracle ``kind`` ("hidden"/"filter") on synthetic market ``market``."""

    market: str
    kind: str
    space: Any = None
    targets: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def bind(self, market: Any, action_space: Any) -> None:
        """Precompute the oracle's target position of every bar of the synthetic market."""
        self.space = action_space
        times_ns, positions = oracle_positions(self.market, self.kind)
        ts = np.asarray(market.timestamps, dtype=np.int64)
        rows = np.searchsorted(times_ns, ts).clip(0, len(times_ns) - 1)
        if not np.array_equal(times_ns[rows], ts):
            raise ValueError(
                f"oracle_{self.kind}: the env's bars are not those of synthetic market "
                f"{self.market!r}; oracles only apply to their own preset"
            )
        self.targets = positions[rows]

    def act(self, obs_batch: np.ndarray, bars: np.ndarray) -> np.ndarray:
        """The oracle's target position at each decision bar."""
        return position_to_action(self.targets[np.asarray(bars)], self.space)


def is_oracle(name: str) -> bool:
    """True for the oracle baseline names."""
    return name in ORACLES


def oracle_baseline(name: str, env: str | None) -> OraclePolicy:
    """The oracle baseline ``name`` on preset ``env`` (a synthetic market)."""
    if env is None or env not in MARKET_NAMES:
        raise ValueError(
            f"baseline {name!r} needs a synthetic preset ({', '.join(MARKET_NAMES)}), got {env!r}"
        )
    return OraclePolicy(str(env), name.removeprefix("oracle_"))


def oracle_specs(env: str) -> list[PolicySpec]:
    """The default oracle baselines the CLI adds for preset ``env`` (none for real markets)."""
    if env not in MARKET_NAMES:
        return []
    return [PolicySpec(n, n, oracle_baseline(n, env)) for n in ORACLES]
