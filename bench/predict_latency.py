"""Wall time of one ``agents.predict`` call (a fresh process, as cron or a bot would run it).

    python bench/predict_latency.py --model ppo_btc [--root models] [--repeats 5]

Three ways of loading the same registered discrete PPO, each in a fresh interpreter, run in
turn ``--repeats`` times (interleaved, so a load spike on a shared machine hits all three):

* ``sb3``: the reference, ``agents.acting.loading.load_run`` (``PPO.load``: imports torch, SB3 and
  ``torch._dynamo`` through the optimiser);
* ``torch``: ``agents.acting.fast_policy`` torch modules from ``policy.pth`` (no SB3);
* ``numpy``: the exported ``actor.npz`` (no torch), what ``python -m agents.predict`` does.

Prints each one's median wall and CPU seconds, the ratio to the reference, and checks the three
print the same action (probabilities within 1e-6).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOADERS = {
    "sb3": "from agents.acting.loading import load_run; p.load_policy = lambda v, r: load_run(v)",
    "torch": (
        "from agents.acting import fast_policy as f, numpy_actor as n; "
        "n.load_numpy_actor = lambda d: None; p.load_policy = lambda v, r: f.load_fast(v)"
    ),
    "numpy": "",
}


def one_call(loader: str, argv: list[str]) -> tuple[float, float, dict]:
    """``(wall s, child CPU s, decision)`` of one fresh-process prediction."""
    code = f"import sys; import agents.serving.prediction as p; {LOADERS[loader]}\nsys.exit(p.main({argv!r}))"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, json.loads(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", required=True)
    ap.add_argument("--root", default=str(ROOT / "models"))
    ap.add_argument("--candles", default="data/btcusdt_1h.csv.gz")
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    argv = ["--model", a.model, "--root", a.root, "--candles", a.candles, "--replay", "--json"]
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in LOADERS}
    decisions: dict[str, dict] = {}
    for _ in range(a.repeats):
        for loader in LOADERS:
            wall, cpu, decisions[loader] = one_call(loader, argv)
            times[loader].append((wall, cpu))
    ref = decisions["sb3"]
    for loader, d in decisions.items():
        diff = max(
            abs(d["probabilities"][k] - ref["probabilities"][k]) for k in ref["probabilities"]
        )
        assert d["action"] == ref["action"] and diff <= 1e-6, (loader, d, ref)
    ref_wall = statistics.median(w for w, _ in times["sb3"])
    print(f"predict latency, {a.model}, median of {a.repeats} fresh processes each")
    for loader, rows in times.items():
        wall, cpu = statistics.median(w for w, _ in rows), statistics.median(c for _, c in rows)
        print(f"  {loader:<6} wall {wall:6.2f} s  cpu {cpu:6.2f} s  x{ref_wall / wall:5.1f} vs sb3")
    print(f"  same action {ref['action']} and probabilities within 1e-6 on all three")


if __name__ == "__main__":
    main()
