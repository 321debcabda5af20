"""Seed groups on the engine vs the same seeds one after another, in one run.

    python bench/seed_parallel.py [--seeds 0 1 2] [--workers 2] [--timesteps 20000] [--env btc1h]

Reference: ``python -m agents.ppo --env E --seed S --timesteps N`` for each seed in turn (today's
one-run-at-a-time workflow). Measured: ``python -m agents.ppo --env E --seeds ... --workers W
--timesteps N`` (one local Ray, one CPU and one torch thread per seed). Prints both walls and
the ratio parallel / sequential; run folders and the ledger go to a temporary folder. With 3
equal seeds on 2 workers the scheduling bound is 2/3; the group saves per-process start-up
(imports, data) for seeds that reuse a warm Ray worker, and pays Ray's start.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _run(args: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="btc1h")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--timesteps", type=int, default=20000)
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="seed-bench-") as tmp:
        env = {**os.environ, "RLTRADE_RUNS_ROOT": f"{tmp}/runs", "PYTHONPATH": str(REPO)}
        base = ["agents.ppo", "--env", a.env, "--timesteps", str(a.timesteps), "--no-progress"]
        seq = 0.0
        for s in a.seeds:
            wall = _run([*base, "--seed", str(s), "--run-dir", f"{tmp}/seq_s{s}"], env)
            print(f"sequential seed {s}: {wall:.1f}s", flush=True)
            seq += wall
        seeds = [str(s) for s in a.seeds]
        group = Path(tmp) / "group"
        par = _run(
            [*base, "--seeds", *seeds, "--workers", str(a.workers), "--run-dir", str(group)], env
        )
        runs = sorted(d.name for d in group.iterdir() if (d / "metrics.json").is_file())
        print(f"seed group run folders: {runs}; summary.json {(group / 'summary.json').is_file()}")
        print(f"sequential ({len(seeds)} seeds, one after another): {seq:.1f}s")
        print(f"seed group (--workers {a.workers}): {par:.1f}s")
        print(f"ratio group / sequential: {par / seq:.3f}x (target <= 0.65x)")


if __name__ == "__main__":
    main()
