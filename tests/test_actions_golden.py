"""Default settings stay bit-identical: digests of whole trajectories recorded before the
action rules (no-trade band, minimum hold, decision interval in time units, volatility
target) were added to the env.

Every number the env returns (observations, rewards, dones, every info value) of a seeded
random-action run is hashed (sha256 of the float64/float32 bytes) for the single env, the
batched env and the backtest runner; the expected digests were computed on the commit before
the change, so a default that moved a single bit fails here.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from conftest import synthetic_candles

from backtest.runner import run_env
from envs import BatchedTradingEnv, MarketData, TradingEnv

KEYS = ("equity", "position", "fee", "slippage", "funding", "turnover", "drawdown", "bar")


def golden_market() -> MarketData:
    """400 hourly bars with a gap and 8-hourly funding."""
    c = synthetic_candles(400, seed=5)
    c = c.drop(c.index[[150, 151]])
    funding = pd.Series(
        np.random.default_rng(6).uniform(-0.002, 0.002, 51),
        index=pd.date_range("2020-01-01T08:00", periods=51, freq="8h", tz="UTC"),
    )
    f = np.random.default_rng(7).standard_normal((len(c), 2))
    return MarketData.build(c, f, funding, window=4)


def _digest(parts: list[np.ndarray]) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(np.ascontiguousarray(p).tobytes())
    return h.hexdigest()[:16]


def single_digest(opts: dict, n_steps: int = 300) -> str:
    """Digest of a seeded random-action run of ``TradingEnv`` (with resets)."""
    env = TradingEnv(golden_market(), **opts)
    rng = np.random.default_rng(11)
    obs, info = env.reset(seed=3)
    parts = [obs]
    for _ in range(n_steps):
        if env.params.action == "discrete":
            action = int(rng.integers(3))
        else:
            action = rng.uniform(-1.2, 1.2, 1).astype(np.float32)
        obs, reward, term, trunc, info = env.step(action)
        parts += [obs, np.array([reward, term, trunc] + [info[k] for k in KEYS], dtype=np.float64)]
        if term or trunc:
            obs, info = env.reset()
            parts.append(obs)
    return _digest(parts)


def batched_digest(opts: dict, n_steps: int = 120) -> str:
    """Digest of a seeded random-action run of a 4-account ``BatchedTradingEnv``."""
    venv = BatchedTradingEnv(golden_market(), 4, seed=3, **opts)
    rng = np.random.default_rng(12)
    parts = [venv.reset()]
    for _ in range(n_steps):
        if venv.params.action == "discrete":
            actions = rng.integers(3, size=4)
        else:
            actions = rng.uniform(-1.2, 1.2, (4, 1)).astype(np.float32)
        obs, rewards, dones, _ = venv.step(actions)
        parts += [obs, rewards, dones.astype(np.float64)]
        parts += [np.asarray(venv.last_info[k], dtype=np.float64) for k in KEYS]
    return _digest(parts)


class _Cycle:
    """A policy that cycles BUY, SELL, HOLD, BUY, BUY (no state but a call counter)."""

    probabilistic = False

    def bind(self, market, action_space) -> None:  # noqa: ANN001
        self.calls = 0

    def act(self, obs: np.ndarray, bar: np.ndarray) -> np.ndarray:
        a = (2, 0, 1, 2, 2)[self.calls % 5]
        self.calls += 1
        return np.array([a])


def runner_digest(k: int) -> str:
    """Digest of the backtest runner's per-bar record with decision interval ``k``."""
    env = TradingEnv(golden_market(), max_drawdown=None)
    bt = run_env(_Cycle(), env, "x", periods_per_year=8760, decision_interval=k)
    return _digest([bt.timestamps, bt.equity, bt.positions, bt.fees, bt.slippage, bt.funding])


SINGLE = {
    "default": ({}, "3ae2685e2fe6ea1f"),
    "k3_dsr_vol": (
        dict(decision_interval=3, reward="dsr", slippage_model="vol"),
        "c249d609556561b6",
    ),
    "continuous_long_only": (
        dict(action="continuous", long_only=True, episode_length=50),
        "5364f139e166ab6f",
    ),
    "continuous_k2_close": (
        dict(action="continuous", decision_interval=2, fill="close", max_drawdown=None),
        "9f17b1d561129e7c",
    ),
}
BATCHED = {
    "default": ({}, "ed7b66ec5e0fa5eb"),
    "continuous_k4": (dict(action="continuous", decision_interval=4), "e3102cd8d6089a6f"),
}
RUNNER = {1: "d0ceb335d51f231f", 5: "408f73f959ebb016"}


@pytest.mark.parametrize("case", sorted(SINGLE))
def test_single_env_defaults_are_unchanged(case):
    opts, expected = SINGLE[case]
    assert single_digest(opts) == expected


@pytest.mark.parametrize("case", sorted(BATCHED))
def test_batched_env_defaults_are_unchanged(case):
    opts, expected = BATCHED[case]
    assert batched_digest(opts) == expected


@pytest.mark.parametrize("k", sorted(RUNNER))
def test_runner_defaults_are_unchanged(k):
    assert runner_digest(k) == RUNNER[k]
