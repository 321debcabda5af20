"""Backtest precomputed classifier actions by stepping the real ``TradingEnv``.

The classifier ignores the account state (see ``supervised.model``), so its action at bar t is a
function of the window alone and can be computed in one batched pass; here those actions are fed
to the env bar by bar by the one runner (``backtest.runner.run_env``: a deterministic
full-split pass, ``reset(options={"sequential": True})`` for every run between gaps). The env does the accounting (next-open fills, fee,
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

import math
from typing import Any

import numpy as np

from backtest.collapse import constant_position
from backtest.metrics import sharpe_ratio
from backtest.runner import run_env
from envs import make_env
from envs.params import EnvParams
from envs.presets import get_preset
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
    periods_per_year: int | None = None,
    probs_by_bar: np.ndarray | None = None,
    rule: DecisionRule | None = None,
    keep: dict[str, Any] | None = None,
    **env_options: Any,
) -> dict[str, Any]:
    """Step the env through ``split`` taking ``actions_by_bar[env.t]`` (int array, len T).

    Returns sharpe, total_log_return, n_steps, n_runs, turnover (notional/equity), n_trades, costs, funding,
    exposure (mean |position|), long_share, short_share. ``keep``: gets the pass's
    ``Backtest`` under ``"backtest"`` (the trial ledger keeps its val returns).
    """
    if periods_per_year is None:  # the market's bar size (envs.barsize)
        periods_per_year = get_preset(data.env).periods_per_year
    acts = _checked_actions(data, actions_by_bar, probs_by_bar, rule)
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
    paid = {"turnover": 0.0, "n_trades": 0, "costs": 0.0, "funding": 0.0}

    def record(reward: float, info: dict[str, Any]) -> None:
        rewards.append(reward)
        pos.append(info["position"])
        paid["turnover"] += info["turnover"]
        paid["n_trades"] += info["turnover"] > 0.0
        paid["costs"] += info["fee"] + info["slippage"]
        paid["funding"] += info["funding"]

    starts = env.episode_starts()
    policy = _BarActions(acts, probs_by_bar, has_probs, rule, data.window, data.n_features)
    bt = run_env(policy, env, "classifier", periods_per_year=periods_per_year, on_step=record)
    if keep is not None:
        keep["backtest"] = bt
    return _summary(rewards, pos, paid, len(starts), periods_per_year)


def _checked_actions(
    data: SupervisedData,
    actions_by_bar: np.ndarray,
    probs_by_bar: np.ndarray | None,
    rule: DecisionRule | None,
) -> np.ndarray:
    """The per-bar actions as int64, refused unless they (and the probabilities) fit the data."""
    acts = np.asarray(actions_by_bar, dtype=np.int64)
    if len(acts) != len(data.close):
        raise ValueError(
            f"actions_by_bar has {len(acts)} entries, the market has {len(data.close)} bars"
        )
    if (rule is None) != (probs_by_bar is None):
        raise ValueError("pass both rule and probs_by_bar (or neither)")
    if probs_by_bar is not None and np.shape(probs_by_bar) != (len(acts), 3):
        raise ValueError(f"probs_by_bar must be ({len(acts)}, 3), got {np.shape(probs_by_bar)}")
    return acts


def _summary(
    rewards: list[float],
    pos: list[float],
    paid: dict[str, float],
    n_runs: int,
    periods_per_year: int,
) -> dict[str, Any]:
    """Sharpe, log return, turnover, trades, costs, funding and exposure of the recorded steps,
    and the one position held throughout (``constant_position``; None when it traded)."""
    turnover, n_trades, fees, funding_paid = (
        paid[k] for k in ("turnover", "n_trades", "costs", "funding")
    )
    rr = np.asarray(rewards)
    p = np.asarray(pos)
    sharpe = sharpe_ratio(np.expm1(rr), periods_per_year) if len(rr) > 1 else float("nan")
    return {
        "sharpe": float(sharpe),
        "total_log_return": float(rr.sum()),
        "n_steps": len(rr),
        "n_runs": n_runs,
        "turnover": float(turnover),
        "n_trades": int(n_trades),
        "costs": float(fees),
        "funding": float(funding_paid),
        "exposure": float(np.abs(p).mean()) if len(p) else 0.0,
        "long_share": float((p > 0).mean()) if len(p) else 0.0,
        "short_share": float((p < 0).mean()) if len(p) else 0.0,
        # the one position held over every step (a collapse: always long/short/flat), else None
        "constant_position": None if math.isnan(held := constant_position(p)) else held,
    }


class _BarActions:
    """The runner's policy: ``actions_by_bar[t]``, or the rule on ``probs_by_bar[t]`` and the
    env's own observation where the probabilities are finite."""

    def __init__(
        self,
        acts: np.ndarray,
        probs_by_bar: np.ndarray | None,
        has_probs: np.ndarray | None,
        rule: DecisionRule | None,
        window: int,
        n_features: int,
    ) -> None:
        self.acts, self.probs, self.has_probs, self.rule = acts, probs_by_bar, has_probs, rule
        self.window, self.n_features = window, n_features

    def bind(self, market: Any, action_space: Any) -> None:
        """Nothing to prepare: the actions are precomputed."""

    def act(self, obs_batch: np.ndarray, bars: np.ndarray) -> np.ndarray:
        """The action at bar ``bars[0]`` (the runner steps one bar at a time)."""
        t = int(bars[0])
        a = int(self.acts[t])
        if self.has_probs is not None and self.has_probs[t]:
            assert self.rule is not None and self.probs is not None
            a = int(
                self.rule.decide_obs(
                    self.probs[t][None, :], obs_batch, self.window, self.n_features
                )[0]
            )
        return np.array([a], dtype=np.int64)
