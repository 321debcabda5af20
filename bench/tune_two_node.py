"""A 4-trial ``agents.tune`` on a two-node local Ray cluster; prints each trial's node.

    python bench/tune_two_node.py [--algo ppo] [--trials 4] [--timesteps 2048]

The cluster is two raylets of one CPU each on this machine (``ray.cluster_utils.Cluster``, what
``ray start --head --num-cpus 1`` and ``ray start --address HEAD --num-cpus 1`` make), stopped
at the end by stopping exactly its own processes (``ray stop`` would stop every Ray process on a
shared machine). The study, its run folders and the ledger go to a temporary folder.
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--algo", default="ppo")
    p.add_argument("--trials", type=int, default=4)
    p.add_argument("--timesteps", type=int, default=2048)
    a = p.parse_args()
    import optuna
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        with tempfile.TemporaryDirectory(prefix="tune-2node-") as tmp:
            env = {**os.environ, "RLTRADE_RUNS_ROOT": f"{tmp}/runs", "PYTHONPATH": str(REPO)}
            cmd = ["-m", "agents.tune", "--env", "btc1h", "--algo", a.algo]
            cmd += ["--trials", str(a.trials), "--workers", "2", "--address", cluster.address]
            cmd += ["--timesteps", str(a.timesteps), "--n-envs", "4", "--out", f"{tmp}/study"]
            print("python", " ".join(cmd), flush=True)
            t0 = time.perf_counter()
            subprocess.run([sys.executable, *cmd], cwd=REPO, env=env, check=True)
            wall = time.perf_counter() - t0
            study = optuna.load_study(study_name=a.algo, storage=f"sqlite:///{tmp}/study/study.db")
            for t in study.trials:
                print(
                    f"trial {t.number}: {t.state.name} val Sharpe {t.value} "
                    f"node {t.user_attrs.get('node_id', '')[:16]}"
                )
            nodes = {t.user_attrs.get("node_id") for t in study.trials}
            print(f"{len(study.trials)} trials on {len(nodes)} nodes in {wall:.0f}s")
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()
