"""Learnability on planted-signal markets: do the lab's agents reach the achievable oracle?

Run: ``python bench/learnability.py`` (``--help``). For each synthetic market (``envs.synthetic``:
synth-regime, synth-meanrev, synth-rw), each method (PPO with the main job's config
``agents/configs/ppo.yml``, SAC with ``agents/configs/sac.yml``, TQC with
``agents/configs/tqc.yml`` (``python -m agents tqc``), the supervised baseline with
``supervised.train``'s defaults) and each seed, it trains through the project's own CLIs as
subprocesses (``python -m agents.ppo --env synth-regime --seed s --run-dir ...``), then backtests
every run on the TEST split with ``python -m evaluate`` (the same env, costs and timing as the
oracle baselines it lists: ``oracle_hidden`` and ``oracle_filter``). Printed per market/method:

* the per-seed test Sharpes, their mean and spread (sd, min, max);
* the mean as a fraction of the achievable oracle's (``oracle_filter``) test Sharpe, and of the
  hidden-state oracle's (``oracle_hidden``, the upper bound);
* collapsed seeds: a (near-)constant position over the test year where the achievable oracle
  trades: annual turnover below a tenth of ``oracle_filter``'s (always-long, always-flat, or a
  handful of trades a year);
* on synth-rw (no edge): the seed selected on VAL (best val Sharpe), and its test deflated
  Sharpe (evaluate's DSR, deflated over every run backtested on that market).

``--timesteps`` / ``--sup-epochs`` scale the budget down (the defaults are the main job's);
run folders go under ``--out`` and are reused when a finished one exists (``--fresh`` retrains),
so an interrupted benchmark resumes. A summary is written to ``<out>/summary.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MARKETS = ("synth-regime", "synth-meanrev", "synth-rw")
METHODS = ("ppo", "sac", "tqc", "recurrent_ppo", "supervised")
OWN_MODULES = ("ppo", "sac")  # python -m agents.ppo / agents.sac; others: python -m agents NAME
ORACLE = "oracle_filter"  # the achievable oracle: past data only
COLLAPSE_TURNOVER = 0.1  # collapsed: trades less than a tenth as often as the oracle


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--markets", nargs="+", default=list(MARKETS), choices=MARKETS)
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 per method (default 5)")
    p.add_argument("--seeds-of", nargs="*", default=[], metavar="METHOD=N",
                   help="another seed count for one method, e.g. supervised=3")  # fmt: skip
    p.add_argument("--timesteps", type=int, default=None, help="RL env steps (default: config)")
    p.add_argument("--sup-epochs", type=int, default=None, help="supervised epochs (default)")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "bench" / "learnability")
    p.add_argument("--fresh", action="store_true", help="retrain even if a finished run exists")
    p.add_argument("--timeout-min", type=float, default=120.0, help="per training subprocess")
    return p.parse_args(argv)


def _finished(run_dir: Path, method: str) -> bool:
    if method == "supervised":
        return (run_dir / "model.pt").is_file()
    return (run_dir / "final_model.zip").is_file()


def train_command(method: str, market: str, seed: int, run_dir: Path, args: Any) -> list[str]:
    """The CLI call that trains one seed of ``method`` on ``market`` into ``run_dir``."""
    if method == "supervised":
        cmd = [sys.executable, "-m", "supervised.train", "--env", market, "--seed", str(seed)]
        cmd += ["--run-dir", str(run_dir)]
        return cmd + (["--epochs", str(args.sup_epochs)] if args.sup_epochs else [])
    module = [f"agents.{method}"] if method in OWN_MODULES else ["agents", method]
    cmd = [sys.executable, "-m", *module, "--env", market, "--seed", str(seed)]
    cmd += ["--run-dir", str(run_dir), "--no-progress"]
    return cmd + (["--timesteps", str(args.timesteps)] if args.timesteps else [])


def seed_count(args: Any, method: str) -> int:
    """``--seeds``, or the method's own count from ``--seeds-of METHOD=N``."""
    counts = dict(item.split("=", 1) for item in args.seeds_of)
    return int(counts.get(method, args.seeds))


def train_all(args: Any, market: str) -> dict[str, list[Path]]:
    """Train (or reuse) every method x seed on ``market``; returns method -> run folders."""
    runs: dict[str, list[Path]] = {}
    for method in args.methods:
        for seed in range(seed_count(args, method)):
            run_dir = args.out / market / method / f"s{seed}"
            if args.fresh or not _finished(run_dir, method):
                if run_dir.exists():
                    subprocess.run(["rm", "-rf", str(run_dir)], check=True)
                run_dir.parent.mkdir(parents=True, exist_ok=True)
                t0 = time.perf_counter()
                log = run_dir.parent / f"s{seed}.log"
                with open(log, "w") as fh:
                    cmd = train_command(method, market, seed, run_dir, args)
                    rc = subprocess.run(
                        cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                        timeout=args.timeout_min * 60,
                    ).returncode  # fmt: skip
                took = time.perf_counter() - t0
                print(f"  trained {market} {method} s{seed}: rc {rc} in {took:.0f} s ({log})")
                if rc != 0:
                    continue
            runs.setdefault(method, []).append(run_dir)
    return runs


def evaluate(market: str, split: str, runs: dict[str, list[Path]], out: Path) -> dict[str, Any]:
    """``python -m evaluate`` on ``split`` with every run (LABEL=PATH); returns its policies.

    The deflated Sharpe counts every run backtested here as a trial (``--n-trials``): picking
    the best of n seeds is a selection like picking the best of n configurations."""
    items = [f"{m}={p}" for m, paths in runs.items() for p in paths]
    cmd = [sys.executable, "-m", "evaluate", "--env", market, "--split", split]
    cmd += ["--out", str(out), "--no-plots", "--n-boot", "200", "--n-trials", str(len(items))]
    cmd += items
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "metrics.json").read_text())["policies"]


def _sharpe(row: dict[str, Any]) -> float:
    value = row.get("sharpe")
    return 0.0 if value is None or value != value else float(value)  # flat: nan -> 0


def _collapsed(row: dict[str, Any], oracle_turnover: float) -> bool:
    """A (near-)constant position where the oracle trades: turnover < COLLAPSE_TURNOVER x its."""
    turnover = float(row.get("turnover_annual") or 0.0)
    return oracle_turnover > 0 and turnover < COLLAPSE_TURNOVER * oracle_turnover


def summarise(market: str, methods: list[str], test: dict[str, Any]) -> list[dict[str, Any]]:
    """Per method: seeds' Sharpes, fraction of the oracles, collapsed-seed count."""
    oracle, hidden = _sharpe(test[ORACLE]), _sharpe(test["oracle_hidden"])
    oracle_turnover = float(test[ORACLE].get("turnover_annual") or 0.0)
    rows = []
    for method in methods:
        seeds = {k: v for k, v in test.items() if v.get("method") == method}
        if not seeds:
            continue
        sharpes = [_sharpe(v) for v in seeds.values()]
        mean = statistics.fmean(sharpes)
        collapsed = sum(_collapsed(v, oracle_turnover) for v in seeds.values())
        rows.append(
            {
                "market": market,
                "method": method,
                "n_seeds": len(sharpes),
                "sharpes": sharpes,
                "mean": mean,
                "sd": statistics.stdev(sharpes) if len(sharpes) > 1 else 0.0,
                "frac_oracle": mean / oracle if oracle > 0 else None,
                "frac_hidden": mean / hidden if hidden > 0 else None,
                "collapsed": collapsed,
                "oracle_filter": oracle,
                "oracle_hidden": hidden,
            }
        )
    return rows


def rw_selected(methods: list[str], val: dict[str, Any], test: dict[str, Any]) -> list[dict]:
    """synth-rw: per method, the seed with the best VAL Sharpe and its test Sharpe and DSR."""
    out = []
    for method in methods:
        names = [k for k, v in val.items() if v.get("method") == method]
        if names:
            best = max(names, key=lambda k: _sharpe(val[k]))
            row = test[best]
            out.append({"method": method, "selected": best, "val_sharpe": _sharpe(val[best]),
                        "test_sharpe": _sharpe(row), "test_dsr": row.get("dsr")})  # fmt: skip
    return out


def _fmt(x: float | None, spec: str = "+.2f") -> str:
    return "n/a" if x is None else format(x, spec)


def print_rows(rows: list[dict[str, Any]]) -> None:
    print(f"{'market':14} {'method':13} {'seeds':>5} {'mean':>6} {'sd':>5} {'x oracle_f':>10} "
          f"{'x hidden':>8} {'collapsed':>9}  per-seed test Sharpe")  # fmt: skip
    for r in rows:
        per = " ".join(f"{s:+.2f}" for s in r["sharpes"])
        print(
            f"{r['market']:14} {r['method']:13} {r['n_seeds']:>5} {r['mean']:+6.2f} "
            f"{r['sd']:5.2f} {_fmt(r['frac_oracle']):>10} {_fmt(r['frac_hidden']):>8} "
            f"{r['collapsed']:>5}/{r['n_seeds']:<3}  {per}"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "rows": []}
    for market in args.markets:
        print(f"== {market}")
        runs = train_all(args, market)
        test = evaluate(market, "test", runs, args.out / market / "evaluate_test")
        print(f"  oracle_hidden {_sharpe(test['oracle_hidden']):+.2f}  oracle_filter "
              f"{_sharpe(test[ORACLE]):+.2f}  buy_and_hold {_sharpe(test['buy_and_hold']):+.2f}")  # fmt: skip
        summary["rows"] += summarise(market, args.methods, test)
        if market == "synth-rw" and runs:
            val = evaluate(market, "val", runs, args.out / market / "evaluate_val")
            summary["rw_selected"] = rw_selected(args.methods, val, test)
    print()
    print_rows(summary["rows"])
    for r in summary.get("rw_selected", []):
        print(f"synth-rw {r['method']}: val-selected {r['selected']} (val Sharpe "
              f"{r['val_sharpe']:+.2f}) test Sharpe {r['test_sharpe']:+.2f} "
              f"DSR {_fmt(r['test_dsr'], '.3f')}")  # fmt: skip
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print(f"\nwrote {args.out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
