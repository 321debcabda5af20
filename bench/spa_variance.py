"""Hansen's SPA on a walk-forward's size: arch's lag loop against the FFT variance step.

    python bench/spa_variance.py [--bars 17520] [--strategies 8] [--reps 100]

``backtest.spa.spa_test`` computes the loss differentials' variance from FFT autocovariances
(``stationary_bootstrap_variance``); arch's ``SPA._compute_variance`` sums the same kernel with a
Python loop over every lag. Both run here on the same returns (two years of hourly bars by
default), with the ratio of their wall times and the largest relative difference of the
variances, and the p-values of both (they must be equal).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from arch.bootstrap import SPA  # noqa: E402

from backtest.spa import spa_test, stationary_bootstrap_variance  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=17520)
    ap.add_argument("--strategies", type=int, default=8)
    ap.add_argument("--reps", type=int, default=100)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    bench = rng.normal(0.0, 0.01, args.bars)
    strat = rng.normal(0.0001, 0.01, (args.bars, args.strategies))

    t0 = time.perf_counter()
    ref = SPA(-bench, -strat, reps=args.reps, seed=0)
    ref.compute()
    t_arch = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = spa_test(bench, strat, reps=args.reps, seed=0)
    t_ours = time.perf_counter() - t0  # SPA and the Reality Check: two variance steps
    diffs = ref._loss_diff - ref._loss_diff.mean(axis=0)
    rel = np.max(
        np.abs(stationary_bootstrap_variance(diffs, ref.block_size) / ref._loss_diff_var - 1)
    )
    print(f"T={args.bars} k={args.strategies} reps={args.reps}")
    print(f"arch SPA (lag loop):              {t_arch:8.2f} s  p = {ref.pvalues['consistent']:.3f}")
    print(f"spa_test (FFT variance, SPA + RC): {t_ours:8.2f} s  p = {ours.pvalue:.3f}")
    print(
        f"ratio arch / ours: {t_arch / t_ours:.0f}x; largest relative variance difference {rel:.1e}"
    )


if __name__ == "__main__":
    main()
