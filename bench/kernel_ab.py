"""A/B of the accounting kernel: this tree's ``envs/kernel.py`` against another git revision's.

Run: ``python bench/kernel_ab.py --ref HEAD~1`` (``--help`` for options). The reference
kernel is read with ``git show REV:envs/kernel.py`` into a temporary module; both kernels
(``step_accounts`` alone, no env wrapper) step the same accounts (btc1h train, core17,
window 32, every cost on, random starts and targets) in one process, in back-to-back pairs
of identical blocks (``--repeats`` pairs, order alternated), so the load of a shared machine
hits both alike. Prints the median over pairs of the speed ratio new / reference for one
account (the single env's case) and for N = ``--n-envs`` accounts (the batched env's), and
checks that both kernels' outputs (observations, out rows, states) are bit-identical.
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


def kernel_inputs(n_envs: int, steps: int) -> dict:
    """The kernel's inputs for ``n_envs`` accounts at random starts, and random targets."""
    import envs

    venv = envs.make_batched_env("btc1h", n_envs=n_envs, split="train", seed=0, **OPTS)
    venv.reset()
    targets = np.random.default_rng(1).choice([-1.0, 0.0, 1.0], (steps, n_envs))
    return dict(venv=venv, start=venv._state.copy(), targets=targets)


def run_block(kernel: ModuleType, inp: dict) -> tuple[float, bytes]:
    """Wall seconds of ``steps`` kernel calls from the same start state; an output digest.

    Every block does identical work (same starts, same targets), so two kernels' blocks
    timed back to back see the same machine load.
    """
    venv, targets = inp["venv"], inp["targets"]
    state = venv._state
    state[:] = inp["start"]
    n = state.shape[0]
    obs = np.empty(n * venv.tables.obs_dim, dtype=np.float32)
    out = np.empty(kernel.N_OUT * n)
    step = kernel.step_accounts
    c0 = time.perf_counter()
    for w in targets:
        state[:, kernel.S_TARGET] = w
        step(state, venv._consts, venv._bars, venv._feats, obs, out)
    return time.perf_counter() - c0, obs.tobytes() + out.tobytes() + state.tobytes()


def paired(kernels: dict, inp: dict, repeats: int) -> tuple[float, float, bool]:
    """Median over ``repeats`` back-to-back pairs of (reference time / new time); the best
    time of each; whether their outputs were bit-identical."""
    ratios, best, digests = [], {name: np.inf for name in kernels}, {}
    for r in range(repeats):
        order = list(kernels) if r % 2 == 0 else list(kernels)[::-1]
        dt = {}
        for name in order:
            dt[name], digests[name] = run_block(kernels[name], inp)
            best[name] = min(best[name], dt[name])
        ratios.append(dt["reference"] / dt["this tree"])
    same = digests["reference"] == digests["this tree"]
    return float(np.median(ratios)), best["reference"] / best["this tree"], same


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ref", default="HEAD~1", help="git revision of the reference kernel")
    ap.add_argument("--steps", type=int, default=2000, help="n=1 kernel calls per block")
    ap.add_argument("--batched-steps", type=int, default=20, help="n=N kernel calls per block")
    ap.add_argument("--n-envs", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=101, help="back-to-back pairs of blocks")
    args = ap.parse_args()
    import envs.kernel as new

    with tempfile.TemporaryDirectory() as tmp:
        ref = load_reference_kernel(args.ref, Path(tmp))
        kernels = {"reference": ref, "this tree": new}
        for label, n_envs, steps in (
            ("single (n=1)", 1, args.steps),
            (f"batched (n={args.n_envs})", args.n_envs, args.batched_steps),
        ):
            inp = kernel_inputs(n_envs, steps)
            for k in kernels.values():  # compile (or load the cache) before timing
                run_block(k, inp)
            median, best, same = paired(kernels, inp, args.repeats)
            print(
                f"{label:20s} speed new/reference: median of {args.repeats} pairs {median:.3f}, "
                f"best-of ratio {best:.3f}; outputs bit-identical: {same}"
            )


if __name__ == "__main__":
    main()
