"""One policy over one block of a fold's rows, with the evaluation's costs (test, val, baselines).

Every walk-forward backtest goes through ``backtest_rows``: a fresh ``TradingEnv`` over the
decision rows ``[a, b)`` (env split ``(a, b + 1)``, see ``backtest.folds``), the shared
cost options, and the policy's own action space, action rules (``envs.actions.RULE_OPTIONS``)
and decision interval, exactly as
``backtest.runner.run_policy`` backtests a saved run.
"""

from __future__ import annotations

from typing import Any

from backtest.baselines import PolicySpec
from backtest.folds import env_split
from backtest.record import Backtest
from backtest.runner import CostOverrides, run_env
from envs import TradingEnv
from envs.actions import RULE_OPTIONS, duration_bars


def eval_options(costs: CostOverrides) -> dict[str, Any]:
    """Env options of every evaluation env: the shared costs, no drawdown stop (as the runner)."""
    return {**costs.options(), "max_drawdown": None}


def backtest_rows(
    spec: PolicySpec, market: Any, rows: tuple[int, int], options: dict[str, Any], ppy: float
) -> Backtest:
    """``spec`` over the decision ``rows`` of ``market`` (a fresh env; see ``backtest.folds.env_split``)."""
    opts = {
        **options,
        **{
            k: v
            for k, v in spec.env_settings.items()
            if k in ("action", "long_only", *RULE_OPTIONS)
        },
    }
    env = TradingEnv(market, env_split(rows, market.n_bars), **opts)
    meta: dict[str, Any] = {
        "method": spec.method,
        "seed": spec.seed,
        "source": spec.source,
        "env_settings": {
            k: getattr(env.params, k)
            for k in ("fee_bps", "slippage_bps", "slippage_model", "funding", "fill", "action")
        },
    }
    # a policy trained with decision_interval=k acts every k bars (on this k=1 env), as
    # backtest.runner.run_policy backtests it
    k = duration_bars(
        "decision_interval", spec.env_settings.get("decision_interval", 1), market.freq_ns
    )
    meta["env_settings"]["decision_interval"] = k
    return run_env(
        spec.policy, env, spec.name, periods_per_year=ppy, meta=meta, decision_interval=k
    )
