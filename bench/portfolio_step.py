"""Portfolio env throughput against the single-asset batched env, in one run.

Run: ``python bench/portfolio_step.py [--n-envs 256] [--steps 400] [--repeats 3]``.

On the shipped BTC (and ETH) hourly candles, core17 features, window 32, random actions,
every cost on (fees, slippage, funding, the drawdown reward):

(s) ``envs.BatchedTradingEnv`` (one asset, continuous action) at ``--n-envs``: env-steps/s,
    which is also asset-steps/s;
(p1) ``BatchedPortfolioEnv`` with one member (btc1h): env-steps/s = asset-steps/s;
(p2) ``BatchedPortfolioEnv`` with two members (btc1h, eth1h): asset-steps/s = 2 x env-steps/s.

Prints each rate (best of ``--repeats``) and the ratios p1/s and p2/s in asset-steps/s. The
portfolio observation is N x (window x F + 2) + 1 floats, the single env's window x F + 4, so
copying observations costs about the same per asset. Timings on a shared CPU are noisy:
compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from envs.batched import BatchedTradingEnv
from envs.portfolio import load_universe, split_rows
from envs.portfolio.batched import BatchedPortfolioEnv
from envs.registry import load_market, split_range


def rate(env, action_shape: tuple[int, ...], low: float, steps: int, repeats: int) -> float:
    """Best env-steps/s over ``repeats`` timings of ``steps`` batched steps."""
    rng = np.random.default_rng(0)
    actions = rng.uniform(low, 1.0, (steps, *action_shape)).astype(np.float32)
    env.reset()
    env.step(actions[0])  # warm-up: numba compile or cache load
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        for a in actions:
            env.step(a)
        best = max(best, steps * env.num_envs / (time.perf_counter() - t0))
    return best


def main() -> None:
    """Time the three envs and print the rates and ratios."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-envs", type=int, default=256)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    n = args.n_envs
    market, _ = load_market("btc1h", "core17", 32)
    single = BatchedTradingEnv(
        market, n, split_range(market, "btc1h", "train"), seed=0, action="continuous"
    )
    s = rate(single, (n, 1), -1.0, args.steps, args.repeats)
    one = load_universe(["btc1h"], "core17", 32)
    p1_env = BatchedPortfolioEnv(one, n, split_rows(one, "btc1h", "train"), seed=0,
                                 mode="long_short")  # fmt: skip
    p1 = rate(p1_env, (n, 1), -1.0, args.steps, args.repeats)
    two = load_universe(["btc1h", "eth1h"], "core17", 32)
    p2_env = BatchedPortfolioEnv(two, n, split_rows(two, "btc1h", "train"), seed=0,
                                 mode="long_only")  # fmt: skip
    p2 = 2 * rate(p2_env, (n, 3), 0.0, args.steps, args.repeats)
    print(f"n_envs {n}, {args.steps} steps, best of {args.repeats}")
    print(f"(s)  BatchedTradingEnv, 1 asset        {s:12,.0f} asset-steps/s")
    print(f"(p1) BatchedPortfolioEnv, 1 member     {p1:12,.0f} asset-steps/s  {p1 / s:.2f}x (s)")
    print(f"(p2) BatchedPortfolioEnv, 2 members    {p2:12,.0f} asset-steps/s  {p2 / s:.2f}x (s)")


if __name__ == "__main__":
    main()
