"""Generalisation study (issue 20 item 5): agent variants through the walk-forward, per market.

    python bench/generalization.py [--variants bench/generalization.yml] [--only V ...]
        [--envs btc1h eth1h] [--seeds 0 1 2 3 4] [--folds 6] [--timesteps N] [--workers 2]
        [--out runs/generalization] [-- other evaluate.walkforward flags]

A variant is one entry of the variants YAML (``bench/generalization.yml``): a ``config:``
overlay for the agent (layered over the main job's ``agents/configs/<method>.yml`` as
``evaluate.walkforward --config`` layers it), extra walk-forward ``args:`` and the ``method:``
(default ppo); no code per variant. For every (variant, market) the script runs

    python -m evaluate.walkforward --env M --methods METHOD --config <overlay> --seeds ...
        --folds K [--timesteps N] --run-dir OUT/<variant>/<market> [args]

(a rerun resumes: finished tasks and finished (variant, market) runs are not redone), then reads
each run's summary.json and its tasks' test blocks and reports, per market and variant: the
out-of-sample IQM Sharpe over seeds with its CI, P(> buy-and-hold), P(> the best momentum
baseline on those bars: 24-bar momentum, time-series momentum long/flat or long/short, trend
ensemble, whichever has the highest stitched Sharpe), round trips a year (turnover / 2),
turnover and fees as % of equity a year (median over seeds), and the probability of backtest
overfitting (CSCV) over the variant family: one column per variant, its seeds' stitched
out-of-sample returns averaged bar by bar. Writes OUT/generalization.md and .json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from functools import reduce
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # python bench/generalization.py from any folder

from backtest.overfit import pbo  # noqa: E402
from backtest.record import Backtest  # noqa: E402
from evaluate.walkforward.args import build_parser, config_from_args  # noqa: E402
from evaluate.walkforward.checks import check_walkforward  # noqa: E402
from evaluate.walkforward.learners import method_settings  # noqa: E402
from evaluate.walkforward.tasks import ARRAYS, TEST  # noqa: E402
from lab.cli import run_cli  # noqa: E402
from lab.config import ConfigError, load_yaml  # noqa: E402

MOMENTUM = ("momentum", "tsmom_long_flat", "tsmom_long_short", "trend_ensemble")
MIN_BARS_PER_BLOCK = 8


def load_variants(path: Path, only: list[str] | None) -> dict[str, dict[str, Any]]:
    """The variants YAML as {name: {config, args, method, note}}; one ``ConfigError`` line for
    a file that is not a YAML mapping, an unknown key or a value of the wrong type."""
    raw = load_yaml(path)  # missing, binary, empty, python tags, not a mapping: one line
    out = {}
    for name, v in raw.items():
        v = {} if v is None else v
        if not isinstance(v, dict):
            raise ConfigError(f"{path}: variant {name}: expected a mapping {{config, args, "
                              f"method, note}}, got {type(v).__name__} {v!r}")  # fmt: skip
        extra = set(v) - {"config", "args", "method", "note"}
        if extra:
            raise ConfigError(f"{path}: variant {name}: unknown key(s) {sorted(extra)}")
        config, args = v.get("config") or {}, v.get("args") or []
        if not isinstance(config, dict) or not isinstance(args, list):
            raise ConfigError(f"{path}: variant {name}: config must be a mapping of sections "
                              "and args a list of walk-forward flags")  # fmt: skip
        out[str(name)] = {"config": config, "args": [str(a) for a in args],
                          "method": str(v.get("method") or "ppo"),
                          "note": str(v.get("note") or "")}  # fmt: skip
    missing = [n for n in only or [] if n not in out]
    if missing:
        raise ConfigError(f"--only {' '.join(missing)}: not in {path} ({', '.join(out)})")
    return {n: v for n, v in out.items() if not only or n in only}


def _refuse(where: str) -> Any:
    """An argparse ``error`` that raises one ``ConfigError`` line naming ``where``."""

    def error(message: str) -> NoReturn:
        raise ConfigError(f"{where}: {message}")

    return error


def wf_argv(v: dict[str, Any], env: str, a: argparse.Namespace, run: Path) -> list[str]:
    """The ``evaluate.walkforward`` flags of one (variant, market), without ``--config``."""
    argv = ["--env", env, "--methods", v["method"], "--seeds", *map(str, a.seeds),
            "--folds", str(a.folds), "--workers", str(a.workers), "--run-dir", str(run),
            "--no-plots", *v["args"], *a.extra]  # fmt: skip
    return argv + ([] if a.timesteps is None else ["--timesteps", str(a.timesteps)])


def preflight(variants: dict[str, dict[str, Any]], a: argparse.Namespace) -> None:
    """Every (variant, market) walk-forward checked as the walk-forward checks it (flags,
    method, the overlay resolved over the method's config) before anything is written."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, v in variants.items():
            overlay = Path(tmp) / f"{name}.yml"
            overlay.write_text(yaml.safe_dump(v["config"], sort_keys=True), encoding="utf-8")
            for env in a.envs:
                where = f"variant {name} on {env}"
                parser = build_parser()
                parser.error = _refuse(where)  # type: ignore[method-assign]
                wf = config_from_args(parser.parse_args(wf_argv(v, env, a, Path(tmp) / "run")))
                check_walkforward(wf)
                for m in wf.methods:
                    try:
                        method_settings(m, wf.env, config=overlay if v["config"] else None,
                                        feature_set=wf.feature_set, window=wf.window,
                                        timesteps=wf.timesteps)  # fmt: skip
                    except (ConfigError, ValueError, KeyError) as err:
                        text = " ".join(str(err).replace(str(overlay), "its config").split())
                        raise ConfigError(f"{where}: {text}") from None


def run_variant(name: str, v: dict[str, Any], env: str, a: argparse.Namespace) -> Path:
    """One (variant, market) walk-forward (resumed when its run folder holds a finished one)."""
    run = a.out / name / env
    if (run / "summary.json").is_file() and not _unfinished(run):
        return run
    run.parent.mkdir(parents=True, exist_ok=True)
    argv = wf_argv(v, env, a, run)
    if v["config"]:
        overlay = a.out / name / "overlay.yml"
        overlay.write_text(yaml.safe_dump(v["config"], sort_keys=True), encoding="utf-8")
        argv += ["--config", str(overlay)]
    print(f"[{name} / {env}] python -m evaluate.walkforward {' '.join(argv)}", flush=True)
    log = (a.out / name / f"{env}.log").open("a", encoding="utf-8")
    rc = subprocess.run(
        [sys.executable, "-m", "evaluate.walkforward", *argv], cwd=REPO, stdout=log,
        stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(REPO)}, check=False,
    ).returncode  # fmt: skip
    if rc != 0:
        print(f"[{name} / {env}] exit {rc}: see {log.name}", flush=True)
    return run


def _unfinished(run: Path) -> bool:
    return bool(json.loads((run / "summary.json").read_text()).get("failures"))


def seed_returns(run: Path, method: str) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """seed -> (timestamps, per-bar returns) of its stitched test blocks (folds in order);
    a seed with a missing fold is left out (the summary lists it as failed)."""
    by_seed: dict[int, list[Path]] = {}
    for f in sorted((run / "tasks" / method).glob(f"fold*/seed*/{TEST}")):
        by_seed.setdefault(int(f.parent.name[4:]), []).append(f)
    n_folds = len(list((run / "tasks" / method).glob("fold*")))
    out = {}
    for seed, files in by_seed.items():
        if len(files) != n_folds:
            continue
        ts, rs = [], []
        for f in files:
            with np.load(f, allow_pickle=False) as z:
                bt = Backtest(name="x", periods_per_year=1.0, meta={}, **{k: z[k] for k in ARRAYS})
            ts.append(bt.timestamps)
            rs.append(np.nan_to_num(bt.returns))
        out[seed] = (np.concatenate(ts), np.concatenate(rs))
    return out


def row(name: str, v: dict[str, Any], run: Path) -> dict[str, Any]:
    """The table row of one (variant, market) run from its summary.json."""
    s = json.loads((run / "summary.json").read_text())
    m = next(r for r in s["methods"] if r["method"] == v["method"])
    base = s["baseline_sharpes"]
    mom = max((b for b in MOMENTUM if b in base), key=lambda b: _finite(base[b]))
    turnover = float(m.get("turnover_annual", math.nan))
    return {
        "variant": name,
        "seeds": m["seeds"],
        "iqm_sharpe": m["iqm_sharpe"],
        "iqm_low": m["iqm_low"],
        "iqm_high": m["iqm_high"],
        "p_beat_buy_and_hold": m["p_beat_buy_and_hold"],
        "best_momentum": mom,
        "p_beat_best_momentum": m[f"p_beat_{mom}"],
        "round_trips_year": float(m.get("round_trips_annual", turnover / 2)),
        "turnover_annual": turnover,
        "fees_pct_year": m.get("fees_pct_year", math.nan),
        "costs_pct_year": m.get("costs_pct_year", math.nan),
        "buy_and_hold_sharpe": base["buy_and_hold"],
        "best_momentum_sharpe": base[mom],
        "collapsed_seeds": m["collapsed_seeds"],
        "note": v["note"],
    }


def _finite(x: Any) -> float:
    return float(x) if x is not None and math.isfinite(float(x)) else -math.inf


def family_pbo(runs: dict[str, Path], variants: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """PBO (CSCV) over the variants: each column the mean over seeds of the stitched returns,
    on the test bars every variant has (a feature set with a longer warm-up starts later)."""
    series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, run in runs.items():
        per_seed = seed_returns(run, variants[name]["method"])
        if not per_seed:
            continue
        ts = next(iter(per_seed.values()))[0]
        if any(not np.array_equal(t, ts) for t, _ in per_seed.values()):
            return {"pbo": None, "why": f"{name}: its seeds' test bars differ"}
        series[name] = (ts, np.mean([r for _, r in per_seed.values()], axis=0))
    if len(series) < 2:
        return {"pbo": None, "why": "fewer than 2 variants finished"}
    common = reduce(np.intersect1d, [ts for ts, _ in series.values()])
    if len(common) < 2 * MIN_BARS_PER_BLOCK:
        return {"pbo": None, "why": f"only {len(common)} test bars common to every variant"}
    mat = np.column_stack([r[np.isin(ts, common)] for ts, r in series.values()])
    s = min(16, mat.shape[0] // MIN_BARS_PER_BLOCK)
    res = pbo(mat, n_blocks=s - s % 2)
    return {"pbo": res.pbo, "n_variants": len(series), "n_blocks": res.n_blocks,
            "n_bars": int(len(common)), "prob_oos_loss": res.prob_oos_loss,
            "variants": list(series)}  # fmt: skip


def _f(x: Any, fmt: str = "{:+.2f}") -> str:
    return "n/a" if x is None or not math.isfinite(float(x)) else fmt.format(float(x))


def markdown(tables: dict[str, list[dict[str, Any]]], pbos: dict[str, dict[str, Any]]) -> str:
    """One table per market, then its PBO sentence."""
    head = ("| variant | seeds | OOS IQM Sharpe [95% CI] | P(> B&H) | P(> best momentum) | "
            "round trips /yr | fees % eq /yr | costs % eq /yr | what it changes |")  # fmt: skip
    out = []
    for env, rows in tables.items():
        r0 = rows[0]
        out += [f"**{env}** (buy-and-hold {_f(r0['buy_and_hold_sharpe'])}, best momentum "
                f"baseline {r0['best_momentum']} {_f(r0['best_momentum_sharpe'])})", "",
                head, "|---|---:|---|---:|---:|---:|---:|---:|---|"]  # fmt: skip
        for r in rows:
            out.append(
                f"| {r['variant']} | {r['seeds']} | {_f(r['iqm_sharpe'])} [{_f(r['iqm_low'])}, "
                f"{_f(r['iqm_high'])}] | {_f(r['p_beat_buy_and_hold'], '{:.2f}')} | "
                f"{_f(r['p_beat_best_momentum'], '{:.2f}')} | "
                f"{_f(r['round_trips_year'], '{:.0f}')} | {_f(r['fees_pct_year'], '{:.1f}')} | "
                f"{_f(r['costs_pct_year'], '{:.1f}')} | {r['note']} |"
            )
        p = pbos[env]
        out += ["", f"PBO over the {p.get('n_variants', 0)} variants on {env}: "
                + (_f(p["pbo"], "{:.2f}") + f" (CSCV, {p['n_blocks']} blocks over the "
                   f"{p['n_bars']} test bars every variant has; the in-sample "
                   f"best variant lost money out of sample in {p['prob_oos_loss']:.0%} of "
                   "the halvings)" if p["pbo"] is not None else f"not computed ({p['why']})"),
                ""]  # fmt: skip
    return "\n".join(out)


def main() -> None:
    """Run every (variant, market) walk-forward, then tabulate and write the study."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", type=Path, default=REPO / "bench" / "generalization.yml")
    p.add_argument("--only", nargs="+", default=None, help="run only these variants")
    p.add_argument("--envs", nargs="+", default=["btc1h", "eth1h"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--folds", type=int, default=6)
    p.add_argument("--timesteps", type=int, default=None, help="RL steps per fold (reduced)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", type=Path, default=REPO / "runs" / "generalization")
    p.add_argument("extra", nargs="*", help="evaluate.walkforward flags (after --)")
    a = p.parse_args()
    variants = load_variants(a.variants, a.only)
    preflight(variants, a)  # a refused variant or flag: one line, nothing written
    tables, pbos, runs_all = {}, {}, {}
    for env in a.envs:
        runs = {n: run_variant(n, v, env, a) for n, v in variants.items()}
        runs = {n: r for n, r in runs.items() if (r / "summary.json").is_file()}
        if not runs:
            raise ConfigError(f"{env}: no variant finished; see the logs under {a.out}")
        tables[env] = [row(n, variants[n], r) for n, r in runs.items()]
        pbos[env] = family_pbo(runs, variants)
        runs_all[env] = {n: str(r) for n, r in runs.items()}
    text = markdown(tables, pbos)
    print(text)
    (a.out / "generalization.md").write_text(text + "\n", encoding="utf-8")
    blob = {"argv": sys.argv[1:], "tables": tables, "pbo": pbos, "runs": runs_all}
    (a.out / "generalization.json").write_text(json.dumps(blob, indent=2, default=str))


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
