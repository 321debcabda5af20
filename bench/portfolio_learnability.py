"""PPO on the planted cross-sectional market against its oracle allocation (issue 21).

    .venv/bin/python bench/portfolio_learnability.py --seeds 0 1 2 3 4 --out runs/bench/pf_learn

For each seed: ``python -m agents.ppo --env synth-xs-regime,synth-xs-rw1,synth-xs-rw2 --seed S``
(selection on VAL inside the run: ``best_policy.pt``), a run folder that already holds
``metrics.json`` is reused. Then the TEST split (2024), looked at once, through
``python -m evaluate.portfolio --run``'s code: each seed's selected policy beside the baselines
and the oracle allocations, the same costs. Prints per-seed test Sharpe, the mean and sd over
seeds (no seed dropped: a failed run is a row with its error), the ratio to oracle_filter (the
achievable oracle: past closes only) and to oracle_hidden, and whether a seed collapsed (its
mean weights barely move: sd of every member's weight below 0.01). Extra flags after ``--`` go
to ``agents.ppo``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from envs.synthetic import XS_UNIVERSE  # noqa: E402
from evaluate.portfolio import main as evaluate_main  # noqa: E402

COLLAPSE_SD = 0.01


def train(seed: int, out: Path, extra: list[str]) -> Path:
    """One seed's run folder (trained now unless it already finished)."""
    run_dir = out / f"ppo_s{seed}"
    if (run_dir / "metrics.json").is_file():
        return run_dir
    cmd = [sys.executable, "-m", "agents.ppo", "--env", XS_UNIVERSE, "--seed", str(seed),
           "--run-dir", str(run_dir), *extra]  # fmt: skip
    print("$", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, cwd=REPO, check=True)
    return run_dir


def main(argv: list[str] | None = None) -> dict:
    """Train (or reuse) every seed, evaluate on test once, print and return the summary."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--out", default="runs/bench/portfolio_learnability")
    ap.add_argument("extra", nargs="*", help="flags for agents.ppo (after --)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    rows, oracle = {}, {}
    for seed in args.seeds:
        try:
            run_dir = train(seed, out, args.extra)
            res = evaluate_main(["--run", str(run_dir), "--split", "test", "--json"])
        except (subprocess.CalledProcessError, ValueError) as err:
            rows[seed] = {"error": str(err)}
            continue
        agent = res["ppo_agent"]
        val = json.loads((run_dir / "metrics.json").read_text())["val"]["sharpe"]
        collapsed = max(agent["weights_sd"].values()) < COLLAPSE_SD
        rows[seed] = {"val_sharpe": val, "test_sharpe": agent["sharpe"],
                      "turnover": agent["turnover_per_year"], "collapsed": collapsed,
                      "weights_mean": agent["weights_mean"]}  # fmt: skip
        oracle = {k: res[k]["sharpe"] for k in ("oracle_filter", "oracle_hidden", "trend_vol_target",
                                               "equal_weight_daily", "xs_momentum")}  # fmt: skip
    test = np.array([r.get("test_sharpe", np.nan) for r in rows.values()], dtype=float)
    summary = {
        "seeds": rows, "baselines_test_sharpe": oracle,
        "mean": float(np.mean(test)), "sd": float(np.std(test, ddof=1)) if len(test) > 1 else 0.0,
        "x_oracle_filter": float(np.mean(test) / oracle["oracle_filter"]) if oracle else None,
        "x_oracle_hidden": float(np.mean(test) / oracle["oracle_hidden"]) if oracle else None,
    }  # fmt: skip
    print(render(summary))
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def render(s: dict) -> str:
    """The bench's table."""
    lines = [f"{'seed':>4} {'val':>7} {'test':>7} {'turn/yr':>8} collapsed  mean weights"]
    for seed, r in s["seeds"].items():
        if "error" in r:
            lines.append(f"{seed:>4} FAILED: {r['error']}")
            continue
        w = " ".join(f"{v:.2f}" for v in r["weights_mean"].values())
        lines.append(f"{seed:>4} {r['val_sharpe']:>+7.2f} {r['test_sharpe']:>+7.2f} "
                     f"{r['turnover']:>8.1f} {str(r['collapsed']):>9}  {w}")  # fmt: skip
    b = s["baselines_test_sharpe"]
    lines.append(
        f"test Sharpe mean {s['mean']:+.2f} sd {s['sd']:.2f} over {len(s['seeds'])} seeds; "
        f"x oracle_filter {s['x_oracle_filter']:+.2f} (oracle_filter {b.get('oracle_filter', 0):.2f},"
        f" oracle_hidden {b.get('oracle_hidden', 0):.2f}, trend_vol_target "
        f"{b.get('trend_vol_target', 0):.2f}, xs_momentum {b.get('xs_momentum', 0):.2f})"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
