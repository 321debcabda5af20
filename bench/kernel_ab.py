"""A/B of the accounting kernel: this tree's ``envs/kernel.py`` against another git revision's.

Run: ``python bench/kernel_ab.py --ref HEAD~1`` (``--help`` for options). The reference
kernel is read with ``git show REV:envs/kernel.py`` into a temporary module, and both kernels
drive the same envs (btc1h train, core17, window 32, every cost on) in one process, timings
interleaved (``--repeats`` rounds of A then B), so machine load hits both alike. Prints the
best CPU rate of each and the ratio new / reference for the single env (``TradingEnv.step``)
and the batched env (N = ``--n-envs``). Also checks that both kernels give bit-identical
observations, rewards and infos over the timed steps.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OPTS = dict(fee_bps=10.0, slippage_bps=2.0, slippage_model="vol", funding=True, reward="drawdown")


def load_reference_kernel(rev: str, tmp: Path) -> ModuleType:
    """``envs/kernel.py`` of git revision ``rev`` as a module named ``kernel_ref``."""
    source = subprocess.run(
        ["git", "show", f"{rev}:envs/kernel.py"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    path = tmp / "kernel_ref.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location("kernel_ref", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["kernel_ref"] = module
    spec.loader.exec_module(module)
    return module


def time_single(kernel: ModuleType, steps: int) -> tuple[float, bytes]:
    """CPU steps/s of ``TradingEnv.step`` driven by ``kernel``; a digest of its outputs."""
    import envs
    import envs.trading_env as te

    te._step_one = kernel.step_one
    env = envs.make_env("btc1h", split="train", **OPTS)
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 3, steps).tolist()
    rewards = np.empty(steps)
    c0 = time.process_time()
    for k, a in enumerate(actions):
        _, r, term, trunc, _ = env.step(a)
        rewards[k] = r
        if term or trunc:
            env.reset()
    return steps / (time.process_time() - c0), rewards.tobytes()


def time_batched(kernel: ModuleType, n_envs: int, steps: int) -> tuple[float, bytes]:
    """CPU env-steps/s of ``BatchedTradingEnv.step`` driven by ``kernel``; an output digest."""
    import envs
    import envs.batched as eb

    eb.K = kernel
    venv = envs.make_batched_env("btc1h", n_envs=n_envs, split="train", seed=0, **OPTS)
    venv.reset()
    actions = np.random.default_rng(1).integers(0, 3, (steps, n_envs))
    c0 = time.process_time()
    for a in actions:
        obs, r, _, _ = venv.step(a)
    rate = steps * n_envs / (time.process_time() - c0)
    return rate, obs.tobytes() + r.tobytes() + venv.last_info["equity"].tobytes()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ref", default="HEAD~1", help="git revision of the reference kernel")
    ap.add_argument("--steps", type=int, default=100_000, help="single-env steps per timing")
    ap.add_argument("--batched-steps", type=int, default=300)
    ap.add_argument("--n-envs", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    import envs.kernel as new

    with tempfile.TemporaryDirectory() as tmp:
        ref = load_reference_kernel(args.ref, Path(tmp))
        kernels = {"reference": ref, "this tree": new}
        for k in kernels.values():  # compile (or load the cache) before timing
            time_single(k, 10)
            time_batched(k, 4, 2)
        best: dict[tuple[str, str], float] = {}
        digests: dict[tuple[str, str], bytes] = {}
        for _ in range(args.repeats):
            for name, k in kernels.items():
                rate, digests[name, "single"] = time_single(k, args.steps)
                best[name, "single"] = max(best.get((name, "single"), 0.0), rate)
                rate, digests[name, "batched"] = time_batched(k, args.n_envs, args.batched_steps)
                best[name, "batched"] = max(best.get((name, "batched"), 0.0), rate)
    for what in ("single", "batched"):
        r, t = best["reference", what], best["this tree", what]
        same = digests["reference", what] == digests["this tree", what]
        print(
            f"{what:8s} reference {r:14,.0f}  this tree {t:14,.0f}  CPU steps/s  "
            f"ratio {t / r:.3f}  outputs bit-identical: {same}"
        )


if __name__ == "__main__":
    main()
