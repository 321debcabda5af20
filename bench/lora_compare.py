"""Scratch vs pretrained+LoRA vs supervised-warm-start+LoRA: PPO's VAL Sharpe over seeds.

Run: ``python bench/lora_compare.py`` (``--help``). Three arms of the main job
(``agents/configs/ppo.yml``), each trained through the project's CLIs as subprocesses:

* ``scratch``: ``python -m agents.ppo --env M --seed s`` (the main job as it is);
* ``pretrained``: the same plus ``--pretrained CKPT``, one self-supervised backbone built once
  by ``python -m supervised.pretrain`` on the train splits of ``--pretrain-markets`` (frozen base,
  LoRA + heads train; ``agents.transfer.pretrained_backbone``);
* ``warm``: ``python -m supervised.train --env M --seed s`` with the main job's feature set and
  window, then ``python -m agents.ppo --warm-start <its model.pt>`` (frozen base, LoRA + heads,
  critic warm-up; ``agents.transfer.warm_start``).

Per market and arm it prints the per-seed VAL Sharpe of the val-selected model (``ppo_best`` in
metrics.json, what the trial ledger records: ``agents.experiments.seed_group.read_rl_metrics``), mean, sd
and collapsed seeds: always flat (no Sharpe, or in the market < 5 % of the time) or a constant
position (turnover below ``CONSTANT_TURNOVER`` a year: always long or always short). Only VAL is
read: the winner is chosen on val; test stays untouched.

Run folders go under ``--out`` and are reused when finished (``--fresh`` retrains), so an
interrupted comparison resumes. ``--timesteps`` / ``--sup-epochs`` / ``--pretrain-epochs``
scale the budget down for a smoke test. A summary goes to ``<out>/summary.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: the repository's packages first

from agents.experiments.seed_group import read_rl_metrics  # noqa: E402
from agents.training.config import resolve_config  # noqa: E402

ARMS = ("scratch", "pretrained", "warm")
MARKETS = ("btc1h", "eth1h", "synth-regime", "synth-meanrev")
CONSTANT_TURNOVER = 2.0  # position changes a year below which a policy is a constant position


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--markets", nargs="+", default=list(MARKETS))
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    p.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 per arm (default 5)")
    p.add_argument("--timesteps", type=int, default=None, help="PPO env steps (default: config)")
    p.add_argument("--sup-epochs", type=int, default=None, help="supervised epochs (default)")
    p.add_argument("--pretrain-markets", nargs="+", default=["btc1h", "eth1h"])
    p.add_argument("--pretrain-epochs", type=int, default=None, help="(default: its own)")
    p.add_argument("--pretrained", type=Path, default=None, help="use this backbone.pt instead")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "bench" / "lora_compare")
    p.add_argument("--fresh", action="store_true", help="retrain even if a finished run exists")
    p.add_argument("--timeout-min", type=float, default=60.0, help="per training subprocess")
    return p.parse_args(argv)


def _run(cmd: list[str], log: Path, timeout_min: float) -> int:
    """One CLI call, output to ``log``; returns its exit code."""
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        rc = subprocess.run(
            cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout_min * 60
        ).returncode
    print(f"  rc {rc} in {time.perf_counter() - t0:.0f} s: {' '.join(cmd[2:])} ({log})")
    return rc


def _fresh_dir(path: Path) -> None:
    """Remove an unfinished run folder so the CLI may create it anew."""
    if path.exists():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)


def pretrained_checkpoint(args: argparse.Namespace) -> Path | None:
    """The backbone for the ``pretrained`` arm: ``--pretrained`` or one built (and reused)."""
    if args.pretrained is not None:
        return args.pretrained
    ckpt = args.out / "pretrain" / "backbone.pt"
    if ckpt.is_file() and not args.fresh:
        return ckpt
    run = args.out / "pretrain" / "run"
    _fresh_dir(run)
    cmd = [sys.executable, "-m", "supervised.pretrain", "--markets", *args.pretrain_markets]
    cmd += ["--run-dir", str(run), "--out", str(ckpt)]
    cmd += ["--epochs", str(args.pretrain_epochs)] if args.pretrain_epochs else []
    return (
        ckpt if _run(cmd, args.out / "pretrain" / "pretrain.log", args.timeout_min) == 0 else None
    )


def _ppo(market: str, seed: int, run_dir: Path, args: argparse.Namespace) -> list[str]:
    cmd = [sys.executable, "-m", "agents.ppo", "--env", market, "--seed", str(seed)]
    cmd += ["--run-dir", str(run_dir), "--no-progress"]
    return cmd + (["--timesteps", str(args.timesteps)] if args.timesteps else [])


def _supervised(market: str, seed: int, run_dir: Path, args: argparse.Namespace) -> list[str]:
    """``supervised.train`` with the main job's feature set and window (the warm start needs
    the PPO env's layout)."""
    env = resolve_config("ppo", market).env
    cmd = [sys.executable, "-m", "supervised.train", "--env", market, "--seed", str(seed)]
    cmd += ["--feature-set", env.feature_set, "--window", str(env.window)]
    cmd += ["--run-dir", str(run_dir)]
    return cmd + (["--epochs", str(args.sup_epochs)] if args.sup_epochs else [])


def train_arm(arm: str, market: str, seed: int, args: argparse.Namespace, ckpt: Path | None) -> Path | None:  # fmt: skip
    """Train (or reuse) one seed of ``arm`` on ``market``; returns its PPO run folder."""
    base = args.out / market / arm
    run = base / f"s{seed}"
    if (run / "metrics.json").is_file() and not args.fresh:
        return run
    extra: list[str] = []
    if arm == "pretrained":
        if ckpt is None:
            return None
        extra = ["--pretrained", str(ckpt)]
    elif arm == "warm":
        sup = args.out / market / "warm_supervised" / f"s{seed}"
        if args.fresh or not (sup / "model.pt").is_file():
            _fresh_dir(sup)
            if _run(
                _supervised(market, seed, sup, args), sup.with_suffix(".log"), args.timeout_min
            ):
                return None
        extra = ["--warm-start", str(sup / "model.pt")]
    _fresh_dir(run)
    rc = _run(_ppo(market, seed, run, args) + extra, base / f"s{seed}.log", args.timeout_min)
    return run if rc == 0 else None


def collapsed(m: dict[str, Any]) -> bool:
    """Always flat (``read_rl_metrics``' rule) or a constant position (turnover ~ 0)."""
    turnover = m.get("turnover_annual")
    return bool(m["collapsed"]) or (turnover is not None and turnover < CONSTANT_TURNOVER)


def summarise(market: str, arm: str, runs: list[Path]) -> dict[str, Any] | None:
    """Per-seed val Sharpe (flat: 0), mean, sd, collapsed count of one arm on one market."""
    rows = [m for m in (read_rl_metrics(r, "ppo") for r in runs) if m is not None]
    if not rows:
        return None
    sharpes = [0.0 if m["val_sharpe"] is None else float(m["val_sharpe"]) for m in rows]
    return {
        "market": market,
        "arm": arm,
        "n_seeds": len(sharpes),
        "val_sharpes": sharpes,
        "mean": statistics.fmean(sharpes),
        "sd": statistics.stdev(sharpes) if len(sharpes) > 1 else 0.0,
        "collapsed": sum(collapsed(m) for m in rows),
        "turnover": [m.get("turnover_annual") for m in rows],
    }


def print_rows(rows: list[dict[str, Any]]) -> None:
    print(f"{'market':14} {'arm':10} {'seeds':>5} {'mean':>6} {'sd':>5} {'collapsed':>9}  "
          "per-seed VAL Sharpe (ppo_best)")  # fmt: skip
    for r in rows:
        per = " ".join(f"{s:+.2f}" for s in r["val_sharpes"])
        print(f"{r['market']:14} {r['arm']:10} {r['n_seeds']:>5} {r['mean']:+6.2f} "
              f"{r['sd']:5.2f} {r['collapsed']:>5}/{r['n_seeds']:<3}  {per}")  # fmt: skip


def check_budget(args: argparse.Namespace) -> None:
    """Finished runs are reused only at the same budget: ``<out>/budget.json`` records it."""
    budget = {k: getattr(args, k) for k in ("timesteps", "sup_epochs", "pretrain_epochs")}
    budget["pretrained"] = None if args.pretrained is None else str(args.pretrained)
    path = args.out / "budget.json"
    if path.is_file() and not args.fresh and json.loads(path.read_text()) != budget:
        raise SystemExit(
            f"bench/lora_compare.py: error: {args.out} holds runs of another budget "
            f"({path.read_text().strip()}); pass another --out or --fresh"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(budget))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_budget(args)
    ckpt = pretrained_checkpoint(args) if "pretrained" in args.arms else None
    rows: list[dict[str, Any]] = []
    for market in args.markets:
        print(f"== {market}")
        for arm in args.arms:
            runs = [train_arm(arm, market, s, args, ckpt) for s in range(args.seeds)]
            row = summarise(market, arm, [r for r in runs if r is not None])
            rows += [row] if row else []
    print()
    print_rows(rows)
    winners = {}
    for market in args.markets:
        mine = [r for r in rows if r["market"] == market]
        if mine:
            winners[market] = max(mine, key=lambda r: r["mean"])["arm"]
    overall = {
        arm: statistics.fmean([r["mean"] for r in rows if r["arm"] == arm])
        for arm in args.arms
        if any(r["arm"] == arm for r in rows)
    }
    print(f"\nwinner by mean VAL Sharpe per market: {winners}")
    print("mean over markets: " + ", ".join(f"{a} {v:+.2f}" for a, v in overall.items()))
    summary = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "pretrained": None if ckpt is None else str(ckpt),
        "rows": rows,
        "winners": winners,
        "mean_over_markets": overall,
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print(f"wrote {args.out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
