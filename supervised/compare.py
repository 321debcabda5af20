"""Side-by-side: class-imbalance remedies x label schemes, on real data, judged by trading.

    python -m supervised.compare --env btc1h [--epochs 2] [--seed 0] [--run-dir DIR]

Trains one classifier per (label scheme, loss) with the same seed, data and budget:

* labels: the original FLAG-TRADER ``threshold`` (1% over 6 bars, no cost: exactly the
  labels that failed) and a cost-aware ``forward_sharpe`` (k=0.2 over 6 bars), or those given
  with ``--schemes``; the cost-aware schemes' round-trip cost is the env's
  (``2 * (fee + slippage)``, 24 bps at the defaults);
* losses: none, inverse, sqrt, focal, logit_adjusted.

For each it prints val accuracy, balanced accuracy, the predicted-class distribution against the
label prior, the collapse alarm, and the val Sharpe after costs of the argmax policy stepped
through the env, for raw logits and after the post-hoc logit correction; then the cost-aware
decision rule (``supervised.decision``) fitted on val on the corrected probabilities
(``supervised.decision_fit``: tau x min_hold grid, ``rule_n_grid`` points per model), its env
Sharpe and turnover (in-sample on val), and the in-val half check (fit on the first half of val,
Sharpe of rule vs argmax on the second half). Writes ``compare.json`` and ``compare.md`` to
``runs/<env>/supervised_compare/<UTC stamp>_s<seed>/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import textwrap
import time
from dataclasses import field
from pathlib import Path
from typing import Any

import numpy as np

from backtest.collapse import collapse_name
from envs.data import DataValidationError
from envs.marketspec import (
    add_market_flags,
    is_market,
    market_flags_given,
    market_from_args,
    market_record,
)
from envs.presets import PRESETS, get_preset
from lab.atomic import atomic_write_json, atomic_write_text
from lab.cli import run_cli
from lab.config import Rule, add_fields, check_rules, doc, resolve
from lab.rundir import create_run_dir, preset_files
from lab.runtime import seed_everything, set_torch_threads
from supervised.data import load_supervised_data
from supervised.fitting import FitConfig, env_metrics, fit, fit_val_rule, prepare
from supervised.losses import LOSS_NAMES

SCHEMES: dict[str, tuple[str, int, dict[str, Any]]] = {
    # the original FLAG-TRADER labels, reproduced exactly: +-1% over 6 bars, no cost in the bar
    "threshold_1pct_6h": ("threshold", 6, {"threshold": 0.01, "cost_bps": 0.0}),
    "fwd_sharpe_k0.2_6h": ("forward_sharpe", 6, {"k": 0.2}),
    "triple_barrier_12h": ("triple_barrier", 12, {"barrier_mult": 0.75}),
}


def _sr(x: float) -> str:
    """A Sharpe for the table; nan means no return variance (a policy that never traded)."""
    return "n/a (flat)" if x != x else f"{x:+.2f}"


def _pct(x: list[float]) -> str:
    return "/".join(f"{100 * v:.0f}" for v in x)


def run_one(base: FitConfig, data: Any, scheme: str, loss: str) -> dict[str, Any]:
    """Train and judge one (label scheme, loss) pair; one row of the comparison."""
    name, horizon, params = SCHEMES[scheme]
    cfg = dataclasses.replace(
        base, labels=name, horizon=horizon, label_params=dict(params), class_weights=loss
    )
    prep = prepare(cfg, data)
    t0 = time.time()
    res = fit(cfg, prep, writer=None, log=lambda s: None)
    ev = res.evaluation
    row = {
        "scheme": scheme,
        "loss": loss,
        "best_epoch": res.best_epoch,
        "train_prior": prep.prior.round(4).tolist(),
        "val_prior": ev.raw.label_prior.round(4).tolist(),
        "accuracy": ev.raw.accuracy,
        "balanced_accuracy": ev.raw.balanced_accuracy,
        "macro_f1": ev.raw.macro_f1,
        "pred_shares": ev.raw.pred_shares.round(4).tolist(),
        "alarm": ev.raw.alarm,
        "env_raw": env_metrics(prep, res.model, np.zeros(3), cfg),
        "corr_bias": ev.correction.bias.round(3).tolist(),
        "corr_balanced_accuracy": ev.corrected.balanced_accuracy,
        "corr_pred_shares": ev.corrected.pred_shares.round(4).tolist(),
        "corr_alarm": ev.corrected.alarm,
        "env_corrected": env_metrics(prep, res.model, ev.correction.bias, cfg),
    }
    rf = fit_val_rule(prep, res.model, ev.correction.bias, cfg)
    row.update(
        {
            "rule": rf.rule.to_dict(),
            "rule_label": rf.rule.label(),
            "rule_n_grid": rf.n_grid,
            "rule_fast": rf.metrics,
            "rule_half_check": rf.half_check,
            "env_rule": env_metrics(prep, res.model, ev.correction.bias, cfg, rule=rf.rule),
            "wall_s": round(time.time() - t0, 1),
        }
    )
    return row


def _rule_params(rule: dict[str, Any]) -> str:
    return "argmax" if rule["kind"] == "argmax" else f"{rule['tau']:.3f} / {rule['min_hold']}"


def _half(h: dict[str, Any]) -> str:
    if not h:
        return "-"
    return f"{_sr(h['second_half_sharpe_rule'])} vs {_sr(h['second_half_sharpe_argmax'])}"


WIDTH = 100  # columns of every printed line
# The printed tables fit 100 columns: the classifier's view, then the trading view
# (each row names its labels and loss); compare.md holds the same two tables.
CLASSIFIER_COLS = ("labels", "loss", "acc", "bal acc", "pred S/H/B %", "prior %", "alarm", "rule")
TRADING_COLS = ("labels", "loss", "Sharpe raw", "corrected", "rule", "turnover", "half check")


def _classifier_cells(r: dict[str, Any]) -> list[str]:
    alarms = "/".join("YES" if r[k] else "no" for k in ("alarm", "corr_alarm"))
    return [r["scheme"], r["loss"], f"{r['accuracy']:.3f}", f"{r['balanced_accuracy']:.3f}",
            _pct(r["pred_shares"]), _pct(r["val_prior"]), alarms,
            f"{_rule_params(r['rule'])} ({r['rule_n_grid']})"]  # fmt: skip


def _trading_cells(r: dict[str, Any]) -> list[str]:
    return [r["scheme"], r["loss"], _sr(r["env_raw"]["sharpe"]), _sr(r["env_corrected"]["sharpe"]),
            _sr(r["env_rule"]["sharpe"]), f"{r['env_rule']['turnover']:.0f}",
            _half(r["rule_half_check"])]  # fmt: skip


def _text_table(cols: tuple[str, ...], cells: list[list[str]]) -> list[str]:
    widths = [max(len(c), *(len(row[k]) for row in cells)) for k, c in enumerate(cols)]

    def line(values: list[str]) -> str:
        return "  ".join(
            v.ljust(w) if k < 2 else v.rjust(w)
            for k, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    return [line(list(cols)), *(line(row) for row in cells)]


def rule_collapses(rows: list[dict[str, Any]]) -> list[str]:
    """``COLLAPSED: <labels> / <loss>: the rule is always long ...`` per one-action rule."""
    out = []
    for r in rows:
        name = collapse_name(r["env_rule"].get("constant_position"))
        if name:
            out.append(f"COLLAPSED: {r['scheme']} / {r['loss']}: the rule is {name} on val")
    return out


def to_text(rows: list[dict[str, Any]]) -> str:
    """Two tables of at most ~100 columns: classification (alarm raw/corrected, the fitted rule's
    tau / min_hold and grid points), then trading (val Sharpe after costs of the raw argmax, the
    corrected argmax and the rule; the rule's turnover; the half check), then the collapses."""
    parts = ["Classification on val:", *_text_table(CLASSIFIER_COLS, [_classifier_cells(r) for r in rows]),
             "", "Trading on val (Sharpe after costs; rule in-sample; half check: rule vs argmax):",
             *_text_table(TRADING_COLS, [_trading_cells(r) for r in rows])]  # fmt: skip
    collapses = rule_collapses(rows)
    return "\n".join(parts + ([""] + collapses if collapses else [])) + "\n"


def to_markdown(rows: list[dict[str, Any]], header: str) -> str:
    """The comparison rows as two markdown tables (classification, trading) under ``header``."""

    def md(cols: tuple[str, ...], cells: list[list[str]]) -> list[str]:
        return ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols),
                *("| " + " | ".join(c) + " |" for c in cells)]  # fmt: skip

    lines = [header, "", "## Classification", "", *md(CLASSIFIER_COLS, [_classifier_cells(r) for r in rows]),
             "", "## Trading", "", *md(TRADING_COLS, [_trading_cells(r) for r in rows])]  # fmt: skip
    collapses = rule_collapses(rows)
    return "\n".join(lines + ([""] + collapses if collapses else [])) + "\n"


@dataclasses.dataclass
class CompareConfig:
    """The side-by-side's settings; every other classifier setting is ``FitConfig``'s default."""

    env: str = field(
        default="btc1h", metadata=doc("market: a data preset, a candle file or a catalog entry")
    )
    epochs: int = field(default=2, metadata=doc("epochs per model (also the patience)"))
    seed: int = field(default=0, metadata=doc("seed of every model"))
    schemes: list[str] = field(
        default_factory=lambda: list(SCHEMES)[:2],
        metadata=doc("label schemes compared", choices=tuple(SCHEMES)),
    )
    losses: list[str] = field(
        default_factory=lambda: list(LOSS_NAMES),
        metadata=doc("class-imbalance losses compared", choices=tuple(LOSS_NAMES)),
    )
    max_train_samples: int | None = field(
        default=None, metadata=doc("keep only the last N training samples (quick runs)")
    )
    max_val_bars: int | None = field(default=None, metadata=doc("cap on the val bars"))
    threads: int | None = field(default=None, metadata=doc("torch threads (default: torch's)"))


# the field rules (a module constant, not a ClassVar: dataclasses cannot see ClassVar when this
# module runs as __main__ under runpy, which the abuse tests do)
COMPARE_RULES: dict[str, Rule] = {
    "env": (is_market, f"a market: a preset ({', '.join(sorted(PRESETS))}), a file or entry"),
    "epochs": (lambda v: v >= 1, ">= 1"),
    "max_train_samples": (lambda v: v >= 1, ">= 1 (or unset)"),
    "max_val_bars": (lambda v: v >= 1, ">= 1 (or unset)"),
    "threads": (lambda v: v >= 1, ">= 1 (or unset)"),
}


def build_parser() -> argparse.ArgumentParser:
    """One flag per ``CompareConfig`` field (help from its doc), ``--config FILE``, ``--run-dir``."""
    p = argparse.ArgumentParser(
        prog="python -m supervised.compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_fields(p, CompareConfig)
    add_market_flags(p)  # --env FILE|entry, --funding, --catalog, --bar (envs.marketspec)
    p.add_argument("--run-dir", default=None, help="run folder (default: runs/<env>/...)")
    return p


def _setup(argv: list[str] | None) -> tuple[CompareConfig, FitConfig, Path]:
    """Parse and check the flags, then create the run folder with the resolved config."""
    args = build_parser().parse_args(argv)
    if getattr(args, "env", None) is None and market_flags_given(args):  # --config's or default
        args.env = resolve(CompareConfig, args)[0].env
    market_from_args(args)  # args.env: the market's key
    a, sources = resolve(CompareConfig, args)
    check_rules(a, COMPARE_RULES, sources)
    base = FitConfig(
        env=a.env,
        epochs=a.epochs,
        seed=a.seed,
        patience=a.epochs,
        max_train_samples=a.max_train_samples,
        max_val_bars=a.max_val_bars,
        threads=a.threads,
    )
    config = {
        "base": dataclasses.asdict(base),
        "schemes": {s: SCHEMES[s] for s in a.schemes},
        "losses": a.losses,
        "compare": dataclasses.asdict(a),
    }
    run_dir = create_run_dir(
        env=a.env,
        algo="supervised_compare",
        seed=a.seed,
        config=config,
        data_files=preset_files(get_preset(a.env)),
        run_dir=args.run_dir,
        argv=["-m", "supervised.compare", *(sys.argv[1:] if argv is None else argv)],
        meta={"market": market_record(a.env)},  # spec, bar, splits, sha256 of every file
    )
    return a, base, run_dir


def main(argv: list[str] | None = None) -> Path:
    """Train every (scheme, loss) pair, print a row each, write compare.json and compare.md."""
    t0 = time.time()
    a, base, run_dir = _setup(argv)
    seed_everything(a.seed)
    set_torch_threads(a.threads)
    data = load_supervised_data(a.env, base.feature_set, base.window)
    rows = []
    for scheme in a.schemes:
        for loss in a.losses:
            row = run_one(base, data, scheme, loss)
            rows.append(row)
            print(
                f"{scheme} / {loss}: bal acc {row['balanced_accuracy']:.2f}; val Sharpe raw "
                f"{_sr(row['env_raw']['sharpe'])} corr {_sr(row['env_corrected']['sharpe'])}"
                f" rule {_sr(row['env_rule']['sharpe'])} ({row['wall_s']:.0f}s)",
                flush=True,
            )
            if row["alarm"]:
                alarm = textwrap.fill(f"!!! {row['alarm']}", WIDTH, initial_indent="    ",
                                      subsequent_indent="        ")  # fmt: skip
                print(alarm, flush=True)
    wall = time.time() - t0
    header = (
        f"# Supervised compare, {a.env}, val split, {a.epochs} epoch(s), seed {a.seed}\n\n"
        f"Sharpe: argmax policy stepped through the env, after fees+slippage "
        f"({base.fee_bps}+{base.slippage_bps} bps) and funding, annualised ({get_preset(a.env).periods_per_year}/yr). "
        f"Pred shares are SELL/HOLD/BUY % of val predictions. Rule: `confidence` decision rule "
        f"on the corrected probabilities, fitted on val (tau x min_hold grid; points tried per "
        f"model in brackets), so its Sharpe is IN-SAMPLE on val. Half check: "
        f"rule fitted on the first half of val, Sharpe on the second half, vs argmax there. "
        f"Wall {wall:.0f}s."
    )
    atomic_write_json(run_dir / "compare.json", {"rows": rows, "wall_s": round(wall, 1)})
    md = to_markdown(rows, header)
    atomic_write_text(run_dir / "compare.md", md)
    print(header.split("\n\n", 1)[0])
    print(to_text(rows))
    print(f"written (with a note on every column): {run_dir / 'compare.md'}")
    return run_dir


if __name__ == "__main__":
    raise SystemExit(run_cli(main, (DataValidationError,)))
