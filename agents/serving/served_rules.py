"""The action rules at serving time: a model's output becomes the position the env would trade.

A served model decides under the same rules it was trained and backtested with (no-trade band,
minimum hold, volatility target, leverage cap: ``envs.actions``, saved in the run's env
settings): ``served_target`` maps the policy's action to its target (discrete: the env's
SELL/HOLD/BUY targets, ``long_only`` included; continuous: clipped to [-1, 1]) and passes it
through ``envs.accounting.decision_target``, the env reference's own function (the kernel's
compiled twin is held to it by the tests), with the live account's position and bars since
its last trade. ``agents.predict`` and ``agents.paper`` both call it.

The volatility target's realised volatility needs ``vol_window`` returns before the decision
bar, as in training: ``rule_lookback`` adds them to the candle tail these commands read, and a
file too short for them is refused (one line) rather than served a different estimate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from envs.accounting import Account, decision_target
from envs.actions import NEVER_TRADED, RULE_OPTIONS
from envs.market import MarketData
from envs.params import EnvParams


def rule_params(env_settings: dict[str, Any], market: MarketData) -> EnvParams:
    """The env settings of the model's action (action kind, ``long_only``, the rules) in bars of
    ``market``'s bar size."""
    keys = ("action", "long_only", *RULE_OPTIONS)
    options = {k: v for k, v in env_settings.items() if k in keys}
    return EnvParams.from_kwargs(**options).in_bars(market.freq_ns)


def action_target(params: EnvParams, action: Any) -> float:
    """The target of a policy's action before the rules, as the env maps it."""
    a = np.asarray(action).reshape(-1)
    if params.action == "discrete":
        return params.targets[int(a[0])]
    w = min(max(float(np.float32(a[0])), -1.0), 1.0)
    return max(w, 0.0) if params.long_only else w


def check_rule_history(market: MarketData, params: EnvParams, t: int, source: str) -> None:
    """Refuse candles that start too late for the volatility target's estimate at bar ``t``
    (fewer than ``vol_window`` returns, where training had them): one line with the fix."""
    if params.vol_target is None:
        return
    start = int(np.flatnonzero(market.segment == market.segment[t])[0])
    if start == 0 and t < int(params.vol_window):
        raise ValueError(
            f"{source}: the model's volatility target needs {params.vol_window} returns before "
            f"the decision bar (vol_window), the candles give {t}; pass --tail-bars "
            f"{int(params.vol_window) + 1 + 4 * market.window} or more (or 0: the whole file)"
        )


def served_target(
    env_settings: dict[str, Any],
    market: MarketData,
    t: int,
    action: Any,
    position: float = 0.0,
    bars_since_trade: int | None = None,
    source: str = "candles",
) -> tuple[float, float]:
    """``(target of the action, position traded to under the rules)`` at decision bar ``t`` for
    an account at ``position`` whose last trade was ``bars_since_trade`` bars ago (None: long
    ago, the minimum hold does not bind)."""
    params = rule_params(env_settings, market)
    check_position(params, position)
    check_rule_history(market, params, t, source)
    raw = action_target(params, action)
    since = NEVER_TRADED if bars_since_trade is None else float(bars_since_trade)
    return raw, decision_target(Account(t=t, pos=position, since=since), raw, market, params)


def check_position(params: EnvParams, position: float) -> None:
    """Refuse an account position the model never saw (its observation slot is bounded by
    ``max(1, max_leverage)``; a long-only model never holds a short): one line with the range."""
    bound = max(1.0, params.max_leverage)
    low = 0.0 if params.long_only else -bound
    if not low - 1e-9 <= position <= bound + 1e-9:
        raise ValueError(
            f"--position {position:g}: must be in [{low:g}, {bound:g}] for this model "
            f"(long_only {params.long_only}, max_leverage {params.max_leverage:g}); give the "
            "account's position as a fraction of equity within it"
        )


def check_served_position(version_dir: Path, position: float) -> None:
    """``check_position`` from a registered version's ``config.yaml`` before its model loads
    (a tree/supervised run has no position bound of its own)."""
    env = _saved_env(version_dir)
    if env is None:
        return
    keys = ("action", "long_only", "max_leverage")
    check_position(EnvParams.from_kwargs(**{k: env[k] for k in keys if k in env}), position)


def _saved_env(version_dir: Path) -> dict[str, Any] | None:
    path = Path(version_dir) / "config.yaml"
    cfg = yaml.safe_load(path.read_text()) if path.is_file() else None
    env = cfg.get("env") if isinstance(cfg, dict) else None
    return env if isinstance(env, dict) else None  # a tree/supervised run: its market there


def rule_lookback(version_dir: Path) -> int:
    """Bars of history the model's action rules read before a decision (its ``config.yaml``):
    ``vol_window`` + 1 with a volatility target, else 0."""
    env = _saved_env(version_dir)
    if env is None:
        return 0
    window = env.get("vol_window")  # bars: a run's config.yaml records them (agents.training)
    if env.get("vol_target") is None or not isinstance(window, int):
        return 0  # no rule reads history (a time left unresolved: check_rule_history refuses)
    return window + 1
