"""The walk-forward's task grid on the engine vs the same tasks one after another, in one run.

    python bench/walkforward_grid.py [--workers 2] [--skip-reference] -- WALKFORWARD_ARGS...

Reference: ``python -m evaluate.walkforward ARGS --workers 1`` (every (method, fold, seed) task
inline, one after another). Measured: the same with ``--workers W`` (one local Ray, one CPU and
one torch thread per task). Prints both walls, tasks per minute and the ratio parallel /
sequential, plus the measured run's own "sum of task wall times / elapsed" figure (what
``--skip-reference`` leaves when the sequential run is too long to repeat). Run folders and the
ledger go to a temporary folder. Default ARGS: a tiny grid (supervised and momentum, 2 folds,
2 seeds, 1 epoch) on btc1h 2023.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TINY = ["--env", "btc1h", "--methods", "supervised", "momentum", "--seeds", "0", "1",
        "--folds", "2", "--start", "2023-01-01", "--end", "2024-01-01", "--min-train-bars",
        "4000", "--val-bars", "500", "--epochs", "1", "--max-train-samples", "2000",
        "--n-boot", "200", "--no-plots"]  # fmt: skip


def _run(args: list[str], run_dir: Path, env: dict[str, str]) -> tuple[float, dict]:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "evaluate.walkforward", *args, "--run-dir", str(run_dir)],
        cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    return wall, json.loads((run_dir / "summary.json").read_text())["context"]


def main() -> None:
    """Run the reference and the measured grid; print walls, tasks/min and the ratio."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--skip-reference", action="store_true")
    p.add_argument("args", nargs="*", help="evaluate.walkforward arguments (after --)")
    a = p.parse_args()
    args = a.args or TINY
    tmp = Path(tempfile.mkdtemp(prefix="wf-bench-"))
    env = {**os.environ, "RLTRADE_RUNS_ROOT": str(tmp / "runs")}
    wall_par, ctx = _run([*args, "--workers", str(a.workers)], tmp / "parallel", env)
    n = int(ctx["tasks"].split()[0])
    print(f"command: python -m evaluate.walkforward {' '.join(args)}")
    print(
        f"workers {a.workers}: {wall_par:.0f} s wall for {n} tasks = {60 * n / wall_par:.2f} tasks/min"
    )
    print(f"  {ctx['throughput']}")
    if not a.skip_reference:
        wall_seq, _ = _run([*args, "--workers", "1"], tmp / "sequential", env)
        print(
            f"workers 1 (one after another): {wall_seq:.0f} s = {60 * n / wall_seq:.2f} tasks/min"
        )
        print(f"ratio parallel / sequential: {wall_par / wall_seq:.2f}")


if __name__ == "__main__":
    main()
