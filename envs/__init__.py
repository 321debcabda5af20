"""Trading environments on real crypto candles of any bar size, 1m .. 1d (numpy, pandas, gymnasium only).

Public API::

    from envs import make_env, TradingEnv, BatchedTradingEnv, MarketData
    env = make_env("btc1h", split="train")          # gymnasium.Env, spec in envs.trading_env
    venv = make_batched_env("btc1h", n_envs=1024, seed=0)   # VecEnv semantics, plain numpy

``gymnasium.make("TradingEnv-v1", market="path/to/candles.csv.gz", split="test")`` takes any
market spec (a preset, a candle file with ``funding=``, a ``catalog=`` entry, ``bar="4h"``;
``envs.marketspec``); ``make_env(spec)`` does too. ``import envs`` also registers ``TradingEnv-<preset>-v1`` (``TradingEnv-btc1h-v1``,
``TradingEnv-eth1h-v1``, ...) with gymnasium: the env's version (``ENV_VERSION``, history in
``envs.trading_env``). ``TradingEnv-<preset>-v0`` stays registered as v1 with
``decision_interval`` fixed to 1, which reproduces v0 bit for bit.
This package never imports torch or stable_baselines3.

The env classes are imported lazily (PEP 562), so ``python -m envs.data`` and
``envs.features`` do not pay for numba's start-up or the env modules.
"""

from __future__ import annotations

import importlib
from typing import Any

import gymnasium

from envs.preset_table import PRESETS

_LAZY = {
    "BatchedTradingEnv": "envs.batched",
    "EnvParams": "envs.params",
    "MarketData": "envs.market",
    "TradingEnv": "envs.trading_env",
    "load_market": "envs.registry",
    "make_batched_env": "envs.registry",
    "make_env": "envs.registry",
}

__all__ = [*sorted(_LAZY), "ENV_VERSION", "register_envs"]

ENV_VERSION = 1  # TradingEnv's spec version (history: envs.trading_env); the gymnasium ids' -vN


def register_envs() -> None:
    """Register ``TradingEnv-<preset>-v1`` (current) and ``-v0`` (v1 at decision_interval 1,
    bit-identical to v0) for every preset (idempotent)."""
    if f"TradingEnv-v{ENV_VERSION}" not in gymnasium.registry:  # any market: market=SPEC
        gymnasium.register(
            id=f"TradingEnv-v{ENV_VERSION}", entry_point="envs.registry:make_market_env"
        )
    entry = {ENV_VERSION: "envs.registry:make_env", 0: "envs.registry:make_env_v0"}
    for name in PRESETS:
        for version, entry_point in entry.items():
            env_id = f"TradingEnv-{name}-v{version}"
            if env_id not in gymnasium.registry:
                gymnasium.register(id=env_id, entry_point=entry_point, kwargs={"preset": name})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # cache: later lookups skip __getattr__
        return value
    raise AttributeError(f"module 'envs' has no attribute {name!r}")


register_envs()
