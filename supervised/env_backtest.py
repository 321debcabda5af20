"""Backtest precomputed classifier actions by stepping the real ``TradingEnv``.

The classifier ignores the account state (see ``supervised.model``), so its action at bar t is a
function of the window alone and can be computed in one batched pass; here those actions are fed
to the env bar by bar over a deterministic full-split pass (``reset(options={"sequential":
True})`` for every run between gaps). The env does the accounting (next-open fills, fee,
slippage, funding), so this is the figure to report; ``backtest.proxy`` is only the fast
proxy used for early stopping.

With a ``rule`` (``supervised.decision.DecisionRule``) and ``probs_by_bar`` (T, 3), the action at
each bar with finite probabilities is ``rule.decide_obs(probs_by_bar[t], obs)``: the rule reads
the position and bars held from the env's own observation, exactly as ``evaluate``'s
``ClassifierPolicy`` does, so a path-dependent rule is measured on the env's state, not on an
offline replay of it. Other bars take ``actions_by_bar[t]``.

Sharpe: ``backtest.metrics.sharpe_ratio`` of the per-step simple returns ``exp(R) - 1``
(``reward="log_return"``: R is the step's log equity change net of every cost), annualised with
``periods_per_year`` over every step of every run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backtest.metrics import sharpe_ratio
from envs import make_env
from envs.params import EnvParams
from supervised.data import SupervisedData
from supervised.decision import DecisionRule

_ENV_DEFAULTS = EnvParams()  # costs default to the env's own: same costs everywhere


def env_backtest(
    data: SupervisedData,
    actions_by_bar: np.ndarray,
    split: str = "val",
    fee_bps: float = _ENV_DEFAULTS.fee_bps,
    slippage_bps: float = _ENV_DEFAULTS.slippage_bps,
    funding: bool = _ENV_DEFAULTS.funding,
    periods_per_year: int = 8760,
    probs_by_bar: np.ndarray | None = None,
    rule: DecisionRule | None = None,
    **env_options: Any,
) -> dict[str, float]:
    """Step the env through ``split`` taking ``actions_by_bar[env.t]`` (int array, len T).

    Returns sharpe, total_log_return, n_steps, n_runs, turnover (notional/equity), n_trades, costs, funding,
    exposure (mean |position|), long_share, short_share.
    """
    acts = np.asarray(actions_by_bar, dtype=np.int64)
    if len(acts) != len(data.close):
        raise ValueError(
            f"actions_by_bar has {len(acts)} entries, the market has {len(data.close)} bars"
        )
    if (rule is None) != (probs_by_bar is None):
        raise ValueError("pass both rule and probs_by_bar (or neither)")
    if probs_by_bar is not None and np.shape(probs_by_bar) != (len(acts), 3):
        raise ValueError(f"probs_by_bar must be ({len(acts)}, 3), got {np.shape(probs_by_bar)}")
    has_probs = np.isfinite(probs_by_bar).all(axis=1) if probs_by_bar is not None else None
    env = make_env(
        data.env,
        split=split,
        feature_set=data.feature_set,
        window=data.window,
        fee_bps=fee_bps,
        slippage_bps=slippage_bps,
        funding=funding,
        reward="log_return",
        episode_length=None,
        max_drawdown=None,
        # rewards are read as log returns: a ruined account must not add the RL penalty to them
        terminal_penalty=0.0,
        **env_options,
    )
    rewards: list[float] = []
    pos: list[float] = []
    turnover = fees = funding_paid = 0.0
    n_trades = 0
    starts = env.episode_starts()
    for _ in range(len(starts)):
        obs, _ = env.reset(options={"sequential": True})
        done = False
        while not done:
            t = env.t
            a = int(acts[t])
            if has_probs is not None and has_probs[t]:
                a = int(
                    rule.decide_obs(
                        probs_by_bar[t][None, :], obs[None, :], data.window, data.n_features
                    )[0]
                )
            obs, r, term, trunc, info = env.step(a)
            rewards.append(r)
            pos.append(info["position"])
            turnover += info["turnover"]
            n_trades += info["turnover"] > 0.0
            fees += info["fee"] + info["slippage"]
            funding_paid += info["funding"]
            done = term or trunc
    rr = np.asarray(rewards)
    p = np.asarray(pos)
    sharpe = sharpe_ratio(np.expm1(rr), periods_per_year) if len(rr) > 1 else float("nan")
    return {
        "sharpe": float(sharpe),
        "total_log_return": float(rr.sum()),
        "n_steps": len(rr),
        "n_runs": len(starts),
        "turnover": float(turnover),
        "n_trades": int(n_trades),
        "costs": float(fees),
        "funding": float(funding_paid),
        "exposure": float(np.abs(p).mean()) if len(p) else 0.0,
        "long_share": float((p > 0).mean()) if len(p) else 0.0,
        "short_share": float((p < 0).mean()) if len(p) else 0.0,
    }
