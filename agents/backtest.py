"""The end-of-training validation backtest: a deterministic pass over the whole VAL split.

Uses ``evaluate.runner.run_policy`` (the same env, costs and stitching every comparison uses), so
the numbers in a run's ``metrics.json`` are the ones ``python -m evaluate`` would report. Buy and
hold over the same bars with the same costs is backtested alongside as the reference.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from agents.config import RunConfig
from agents.rundir import atomic_write_json

# Rows of the printed table: (metrics key, label, format); fractions are shown as percentages.
TABLE_ROWS = (
    ("total_return", "total return", "{:+.1%}"),
    ("cagr", "CAGR", "{:+.1%}"),
    ("sharpe", "Sharpe (8760/yr)", "{:.2f}"),
    ("sortino", "Sortino", "{:.2f}"),
    ("max_drawdown", "max drawdown", "{:.1%}"),
    ("annual_volatility", "volatility (ann.)", "{:.1%}"),
    ("time_in_market", "time in market", "{:.1%}"),
    ("turnover_annual", "turnover / year", "{:.1f}"),
    ("costs_paid", "costs paid", "{:.2%}"),
    ("n_bars", "bars", "{:.0f}"),
)


def _cost_overrides(cfg: RunConfig) -> Any:
    from evaluate.runner import CostOverrides

    extra = {k: v for k, v in cfg.env.options.items() if k in ("slippage_model", "slippage_coef")}
    return CostOverrides(
        fee_bps=cfg.env.fee_bps,
        slippage_bps=cfg.env.slippage_bps,
        funding=cfg.env.funding,
        fill=cfg.env.fill,
        extra=extra,
    )


def _layout(cfg: RunConfig) -> dict[str, Any]:
    return {
        "feature_set": cfg.env.feature_set,
        "window": cfg.env.window,
        "action": cfg.env.action,
        "long_only": cfg.env.long_only,
    }


def benchmark_backtest(cfg: RunConfig, split: str = "val") -> Any:
    """Buy-and-hold over ``split`` with the run's costs (the reference of the val table)."""
    from evaluate.runner import run_policy

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
) -> dict[str, dict[str, float]]:
    """``{name: metrics}`` for each model (acting deterministically) and buy-and-hold.

    ``models``: ``{"final": model, "best": model}``; ``normaliser``: the run's fitted one, so the
    backtest sees exactly the inputs training saw. ``bench``: a buy-and-hold Backtest of the same
    split already run (checkpoint selection reuses one), else it is run here.
    """
    from evaluate.policies import PolicySpec, SB3Policy
    from evaluate.runner import run_policy

    settings = _layout(cfg)
    # the agents act every k bars (held in between by the runner); buy-and-hold is unaffected
    agent_settings = {**settings, "decision_interval": cfg.env.decision_interval}
    costs = _cost_overrides(cfg)
    if bench is None:
        bench = benchmark_backtest(cfg, split)
    out: dict[str, dict[str, float]] = {}
    for name, model in models.items():
        spec = PolicySpec(
            name=f"{cfg.algo}_{name}",
            method=cfg.algo,
            policy=SB3Policy(model),
            seed=cfg.seed,
            env_settings=agent_settings,
            normaliser=normaliser,
        )
        bt = run_policy(spec, cfg.env_name, split, seed=cfg.seed, costs=costs)
        out[f"{cfg.algo}_{name}"] = bt.summary(benchmark=bench)
    out["buy_and_hold"] = bench.summary()
    return out


def _clean(value: float) -> float | None:
    """JSON has no NaN: undefined ratios are written as null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def write_metrics(path: Path, results: dict[str, dict[str, float]], extra: dict[str, Any]) -> Path:
    """``metrics.json``: ``{**extra, "policies": {name: {metric: value | null}}}``, atomically."""
    payload = {
        **extra,
        "policies": {n: {k: _clean(v) for k, v in m.items()} for n, m in results.items()},
    }
    return atomic_write_json(path, payload)


def format_table(results: dict[str, dict[str, float]], title: str) -> str:
    """A fixed-width table: one column per policy, the rows of ``TABLE_ROWS``."""
    names = list(results)
    width = max(12, *(len(n) for n in names))
    lines = [title, f"{'':<20}" + "".join(f"{n:>{width + 2}}" for n in names)]
    for key, label, fmt in TABLE_ROWS:
        cells = []
        for n in names:
            v = results[n].get(key, float("nan"))
            cells.append("n/a" if v is None or not math.isfinite(v) else fmt.format(v))
        lines.append(f"{label:<20}" + "".join(f"{c:>{width + 2}}" for c in cells))
    return "\n".join(lines)
