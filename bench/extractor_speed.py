"""Forward+backward and inference time of the transformer backbone vs an SB3-sized MLP.

Not a test: prints a table. Usage:
    .venv/bin/python bench/extractor_speed.py [--configs cpu d64l2 p4] [--reps 200]

PPO budget this checks (default SB3 PPO on the lab: n_steps*n_envs = 2048 per rollout, n_envs=16,
n_epochs=10, batch 256): per rollout 128 inference calls at batch 16 + 80 fwd/bwd minibatches
at batch 256 must cost well under 2048 ms for >= 1,000 env steps/s (env, SB3 overhead included).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from policies import TransformerBackbone, make_config

VARIANTS = {
    "cpu": {},
    "p4": dict(patch_len=4),
    "l2": dict(n_layers=2),
    "lora4": dict(lora_rank=4),
    "d64": dict(d_model=64, d_ff=128, n_heads=4),
    "d64l2": dict(d_model=64, d_ff=128, n_heads=4, n_layers=2),
    "p1": dict(patch_len=1),
}


def heads(in_dim: int) -> nn.ModuleDict:
    """PPO's heads with net_arch=dict(pi=[], vf=[64, 64])."""
    return nn.ModuleDict(
        dict(
            pi=nn.Linear(in_dim, 3),
            vf=nn.Sequential(
                nn.Linear(in_dim, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1)
            ),
        )
    )


def timeit(fn, reps: int) -> float:
    """Median milliseconds of ``fn`` over ``reps`` calls (in 10 chunks, after warm-up).

    With one torch thread the clock is the process's CPU time, which other users of a shared
    machine do not inflate; with more threads it has to be wall time (CPU time sums threads).
    """
    clock = time.process_time if torch.get_num_threads() == 1 else time.perf_counter
    for _ in range(10):
        fn()
    chunk = max(reps // 10, 1)
    times = []
    for _ in range(10):
        t0 = clock()
        for _ in range(chunk):
            fn()
        times.append((clock() - t0) / chunk * 1e3)
    return statistics.median(times)


def measure(body: nn.Module, obs_dim: int, reps: int) -> dict[str, float]:
    with torch.no_grad():
        out_dim = body(torch.zeros(1, obs_dim)).shape[1]
    h = heads(out_dim)
    params = list(body.parameters()) + list(h.parameters())
    opt = torch.optim.Adam(params, lr=1e-4, foreach=True)  # as ppo_policy_kwargs sets
    res = {}
    for b in (64, 256):
        x = torch.randn(b, obs_dim)

        def step(x=x) -> None:
            z = body(x)
            loss = h["pi"](z).logsumexp(1).mean() + h["vf"](z).pow(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        res[f"train_b{b}"] = timeit(step, reps)
    for b in (8, 16):
        x = torch.randn(b, obs_dim)

        @torch.no_grad()
        def infer(x=x) -> None:
            z = body(x)
            h["pi"](z), h["vf"](z)

        res[f"infer_b{b}"] = timeit(infer, reps)
    # per env step: (128 * infer_b16 + 80 * train_b256) / 2048
    res["ms_per_env_step"] = (128 * res["infer_b16"] + 80 * res["train_b256"]) / 2048
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", nargs="+", default=["cpu"], choices=sorted(VARIANTS))
    ap.add_argument("--features", nargs="+", type=int, default=[17, 60])
    ap.add_argument("--threads", nargs="+", type=int, default=[2, 1])
    ap.add_argument("--window", type=int, default=32)
    ap.add_argument("--reps", type=int, default=200)
    args = ap.parse_args()
    cols = ["train_b64", "train_b256", "infer_b8", "infer_b16", "ms_per_env_step"]
    print(
        f"torch {torch.__version__}; ms (median; 1 thread: CPU time, else wall); window={args.window}"
    )
    print(f"{'model':>12} {'F':>3} {'thr':>3} {'params':>7} " + " ".join(f"{c:>15}" for c in cols))
    for threads in args.threads:
        torch.set_num_threads(threads)
        for n_features in args.features:
            obs_dim = args.window * n_features + 4
            torch.manual_seed(0)
            mlp = nn.Sequential(nn.Linear(obs_dim, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh())
            bodies = {"mlp64x2": mlp}
            for name in args.configs:
                cfg = make_config(
                    "cpu", window=args.window, n_features=n_features, **VARIANTS[name]
                )
                bodies[name] = TransformerBackbone(cfg)
            ref = None
            for name, body in bodies.items():
                r = measure(body, obs_dim, args.reps)
                ref = ref or r
                n = sum(p.numel() for p in body.parameters())
                cells = " ".join(f"{r[c]:>7.3f} ({r[c] / ref[c]:4.1f}x)" for c in cols)
                print(f"{name:>12} {n_features:>3} {threads:>3} {n:>7} {cells}", flush=True)


if __name__ == "__main__":
    main()
