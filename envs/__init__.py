"""Trading environments on real hourly crypto candles (numpy, pandas, gymnasium only).

Public API::

    from envs import make_env, TradingEnv, BatchedTradingEnv, MarketData
    env = make_env("btc1h", split="train")          # gymnasium.Env, spec in envs.trading_env
    venv = make_batched_env("btc1h", n_envs=1024, seed=0)   # VecEnv semantics, plain numpy

``import envs`` registers ``TradingEnv-btc1h-v0`` and ``TradingEnv-eth1h-v0`` with gymnasium.
This package never imports torch or stable_baselines3.
"""

from envs.batched import BatchedTradingEnv
from envs.market import MarketData
from envs.params import EnvParams
from envs.registry import load_market, make_batched_env, make_env, register_envs
from envs.trading_env import TradingEnv

register_envs()

__all__ = [
    "BatchedTradingEnv",
    "EnvParams",
    "MarketData",
    "TradingEnv",
    "load_market",
    "make_batched_env",
    "make_env",
    "register_envs",
]
