"""Batched env throughput with multi-timeframe observations against the bar window alone, in one run.

Run: ``python bench/multiframe_step.py [--n-envs 16] [--steps 2000] [--repeats 3] [--daily-window 30]``.

On the shipped BTC hourly candles, ``daily`` features (28 columns), window 32, random discrete
actions, every cost on: (b) ``envs.BatchedTradingEnv`` with the bar window only (the default
layout, 32 x 28 + 4 floats) and (m) the same with ``--daily-window`` daily rows appended
(``envs.multiframe``: a gather of D rows per account after the kernel's step, + D x 28 floats).
Prints env-steps/s of each (best of ``--repeats``) and the ratio m/b. Also the daily feature
set's build time against core17's on the same candles (numpy/pandas, once per run). Timings on
a shared CPU are noisy: compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from envs.batched import BatchedTradingEnv
from envs.data import load_clean, load_funding
from envs.features import compute_features
from envs.registry import load_market, split_range


def rate(env: BatchedTradingEnv, steps: int, repeats: int) -> float:
    """Best env-steps/s over ``repeats`` timings of ``steps`` batched steps."""
    actions = np.random.default_rng(0).integers(0, 3, (steps, env.num_envs))
    env.reset()
    env.step(actions[0])  # warm-up: numba compile or cache load
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        for a in actions:
            env.step(a)
        best = max(best, steps * env.num_envs / (time.perf_counter() - t0))
    return best


def build_seconds(feature_set: str, repeats: int) -> float:
    """Best wall seconds of ``compute_features`` on the whole btc1h file with funding."""
    candles, funding = load_clean("btc1h")[0], load_funding("btc1h")
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        compute_features(candles, feature_set, funding=funding)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    """Print both rates, their ratio, and the feature build times."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-envs", type=int, default=16)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--daily-window", type=int, default=30)
    a = p.parse_args()
    rates = {}
    for label, dw in (("b", 0), ("m", a.daily_window)):
        market, _ = load_market("btc1h", "daily", 32, daily_window=dw)
        rows = split_range(market, "btc1h", "train")
        env = BatchedTradingEnv(market, a.n_envs, rows, seed=0)
        rates[label] = rate(env, a.steps, a.repeats)
        print(f"({label}) daily_window {dw}: obs {env.tables.obs_dim} floats, "
              f"{rates[label]:,.0f} env-steps/s")  # fmt: skip
    print(f"ratio m/b: {rates['m'] / rates['b']:.2f}x")
    core, daily = build_seconds("core17", a.repeats), build_seconds("daily", a.repeats)
    print(f"feature build, btc1h 61,243 bars: core17 {core:.3f} s, daily {daily:.3f} s "
          f"({daily / core:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
