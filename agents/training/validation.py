"""The end-of-training validation backtest: a deterministic pass over the whole VAL split.

Uses ``backtest.runner.run_policy`` (the same env, costs and stitching every comparison uses), so
the numbers in a run's ``metrics.json`` are the ones ``python -m evaluate`` would report. Buy and
hold over the same bars with the same costs is backtested alongside as the reference.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from agents.acting.loading import sb3_policy
from agents.training.config import RunConfig
from backtest.baselines import PolicySpec
from backtest.collapse import collapse_name, constant_position
from backtest.runner import CostOverrides, run_policy
from backtest.verdict import evaluate_command, training_verdict, verdict_block
from envs.actions import RULE_OPTIONS
from envs.multiframe import extra_layout
from envs.presets import get_preset


def _cost_overrides(cfg: RunConfig) -> Any:
    extra = {k: v for k, v in cfg.env.options.items() if k in ("slippage_model", "slippage_coef")}
    return CostOverrides(
        fee_bps=cfg.env.fee_bps,
        slippage_bps=cfg.env.slippage_bps,
        funding=cfg.env.funding,
        fill=cfg.env.fill,
        extra=extra,
    )


def _layout(cfg: RunConfig) -> dict[str, Any]:
    out: dict[str, Any] = {
        "feature_set": cfg.env.feature_set,
        "window": cfg.env.window,
        "action": cfg.env.action,
        "long_only": cfg.env.long_only,
    }
    # the observation's daily rows and the features' context market: the backtest env must
    # be the training env (absent at their defaults: every older layout is unchanged)
    out.update(extra_layout(vars(cfg.env)))
    return out


def benchmark_backtest(cfg: RunConfig, split: str = "val") -> Any:
    """Buy-and-hold over ``split`` with the run's costs (the reference of the val table)."""
    return run_policy(
        "buy_and_hold",
        cfg.env_name,
        split,
        seed=cfg.seed,
        costs=_cost_overrides(cfg),
        env_settings=_layout(cfg),
    )


def validation_backtest(
    cfg: RunConfig,
    models: dict[str, Any],
    normaliser: Any,
    split: str = "val",
    bench: Any = None,
    keep: dict[str, Any] | None = None,
) -> dict[str, dict[str, float]]:
    """``{name: metrics}`` for each model (acting deterministically) and buy-and-hold.

    ``models``: ``{"final": model, "best": model}``; ``normaliser``: the run's fitted one, so the
    backtest sees exactly the inputs training saw. ``bench``: a buy-and-hold Backtest of the same
    split already run (checkpoint selection reuses one), else it is run here. ``keep``: filled
    with each model's ``Backtest`` by name (the trial ledger keeps the val returns).
    """
    # the agents act every k bars (held in between by the runner); buy-and-hold is unaffected
    # and their action rules (envs.actions) apply at each decision, as in training
    agent_settings = {**_layout(cfg), "decision_interval": cfg.env.decision_interval}
    agent_settings |= {k: getattr(cfg.env, k) for k in RULE_OPTIONS}
    costs = _cost_overrides(cfg)
    if bench is None:
        bench = benchmark_backtest(cfg, split)
    out: dict[str, dict[str, float]] = {}
    for name, model in models.items():
        spec = PolicySpec(
            name=f"{cfg.algo}_{name}",
            method=cfg.algo,
            policy=sb3_policy(model),
            seed=cfg.seed,
            env_settings=agent_settings,
            normaliser=normaliser,
        )
        bt = run_policy(spec, cfg.env_name, split, seed=cfg.seed, costs=costs)
        if keep is not None:
            keep[f"{cfg.algo}_{name}"] = bt
        out[f"{cfg.algo}_{name}"] = {
            **bt.summary(benchmark=bench),
            "constant_position": constant_position(bt.positions),
        }
    out["buy_and_hold"] = bench.summary()
    return out


def split_period(env_name: str, split: str = "val") -> str:
    """``val 2023-01-01 to 2023-12-31``: the split, its first day and the day its last bar falls
    on (the split's end is exclusive); the split alone when its dates are unknown."""
    try:
        start, end = get_preset(env_name).splits[split]
        last = np.datetime64(str(end), "ns") - np.timedelta64(1, "ns")
    except (KeyError, ValueError, TypeError, OSError):
        return split
    return f"{split} {str(start)[:10]} to {str(last.astype('datetime64[D]'))}"


def validation_summary(
    cfg: RunConfig, run_dir: Path, results: dict[str, dict[str, float]], split: str = "val"
) -> dict[str, Any]:
    """What metrics.json adds to the val table: each policy's collapse (None: it traded), the
    verdict of the val-selected model (``<algo>_best``) against buy-and-hold, and the next
    command (evaluate it on test, once)."""
    collapse = {
        name: collapse_name(m.get("constant_position", math.nan))
        for name, m in results.items()
        if name != "buy_and_hold"
    }
    chosen = f"{cfg.algo}_best" if f"{cfg.algo}_best" in results else f"{cfg.algo}_final"
    verdict = training_verdict(
        split_period(cfg.env_name, split),
        chosen,
        results.get(chosen, {}).get("sharpe"),
        results.get("buy_and_hold", {}).get("sharpe"),
        collapse.get(chosen),
    )
    return {
        "collapse": collapse,
        "verdict": verdict,
        "period": split_period(cfg.env_name, split),
        "next_command": evaluate_command(cfg.env_name, run_dir),
    }


def summary_lines(summary: dict[str, Any], split: str = "val") -> str:
    """The collapse lines, then the verdict and the next command: the end of a training run."""
    lines = [
        f"COLLAPSED: {name} is {label} over the whole {split} split (one position held: it "
        "ignores the market); see the trading/ scalars in TensorBoard"
        for name, label in summary["collapse"].items()
        if label
    ]
    return "\n".join([*lines, verdict_block(summary["verdict"], summary["next_command"])])
