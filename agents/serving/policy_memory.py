"""A policy's memory when it is served (``backtest.policy.StatefulPolicy``, e.g. recurrent PPO).

A recurrent policy's action depends on the state it carries (the LSTM's ``(h, c)``) as well as
on the observation. ``evaluate``'s runner starts that state at zero at every episode (every data
segment of the split) and steps it at every decision. Serving keeps the same rules:

* ``agents.predict`` (one decision from a candle file): :func:`warm_state` **recomputes** the
  state from the loaded candles. The policy trades the decision bar's data segment from its
  first complete observation up to the bar before the decision, in a backtest
  (``backtest.runner.run_env``) with the model's env settings and trained costs, so it sees the
  positions and account values its own decisions would have produced. The decision then uses
  the state it reaches and the account you give (``--position`` ..., flat by default). When the
  run starts where ``evaluate``'s starts (the same segment start), the decision is the runner's,
  bar for bit (``tests/test_recurrent_ppo.py``). More history (``--tail-bars``, 0 = the whole
  file) starts it further back; the default tail (4 x the feature warm-up and window) is a few
  hundred bars, the order of a training episode (``env.episode_length``).
* ``agents.paper`` (an account ticking bar by bar): the state is **kept** in the account's
  ``state.json`` (``memory``: the arrays as JSON lists; float32 values round-trip exactly),
  because the feed may rotate and the account's own history is what the state summarises. It
  starts at zero at the account's first decision (the account starts flat there: an episode's
  start, as the env's reset) and is stepped at each decision the account makes; a held bar
  (``decision_interval``) and a missed bar (the trader was down) do not step it, as the policy
  never decided on them. A new registry version (other weights) restarts it at zero, and the
  state says so (``memory.restarted``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from backtest.policy import initial_state, is_stateful, step
from backtest.runner import run_env
from envs.market import MarketData
from envs.trading_env import TradingEnv

ISO = "%Y-%m-%dT%H:%M:%SZ"
LAYOUT_KEYS = ("feature_set", "window", "decision_interval")  # not env options


def backtest_options(spec: Any) -> dict[str, Any]:
    """The env options ``spec``'s policy is served with: its env settings and trained costs,
    no drawdown stop and no episode length (what a paper account and a warm-up trade with)."""
    options = {k: v for k, v in spec.env_settings.items() if k not in LAYOUT_KEYS}
    options.update(
        (k, v) for k, v in spec.trained_costs.items() if k in ("fee_bps", "slippage_bps", "funding")
    )
    return {**options, "max_drawdown": None, "episode_length": None}


@dataclass
class _Tracing:
    """A stateful policy whose last state (and number of decisions) is kept for the caller."""

    inner: Any
    state: Any = None
    decisions: int = 0

    def bind(self, market: Any, action_space: Any) -> None:
        self.inner.bind(market, action_space)

    def act(self, obs_batch: np.ndarray, bars: np.ndarray) -> np.ndarray:
        raise TypeError("a stateful policy acts through act_state")

    def initial_state(self, n: int) -> Any:
        self.state, self.decisions = initial_state(self.inner, n), 0
        return self.state

    def act_state(self, obs_batch: np.ndarray, bars: np.ndarray, state: Any) -> tuple[Any, Any]:
        actions, self.state = step(self.inner, obs_batch, bars, state)
        self.decisions += 1
        return actions, self.state


@dataclass
class Warmed:
    """The state carried into a decision and where it came from."""

    state: Any
    decisions: int  # decisions the policy made to reach it (0: the initial state)
    start: int  # the bar the warm-up backtest started at

    def note(self, market: MarketData) -> str:
        """One line for the served decision (what the memory is made of)."""
        at = pd.Timestamp(int(market.timestamps[self.start]), unit="ns", tz="UTC")
        return (
            f"memory warmed over {self.decisions} decision(s) of a backtest from {at:{ISO}} "
            "(the decision bar's data segment in the loaded candles)"
        )


def warm_state(spec: Any, market: MarketData, t: int) -> Warmed:
    """The state ``spec``'s stateful policy carries into bar ``t``'s decision (module doc)."""
    seg = np.asarray(market.segment)
    start = int(np.flatnonzero(seg == seg[t])[0])
    traced = _Tracing(spec.policy)
    # a decision bar before t: a complete observation and a next bar with one (envs.params)
    ok = market.obs_ok[start:t] & market.can_step[start:t] & market.obs_ok[start + 1 : t + 1]
    if ok.any():  # decision bars start .. t-1 (the last fills at t's open): split [start, t+1)
        env = TradingEnv(market, (start, t + 1), **backtest_options(spec))
        k = int(spec.env_settings.get("decision_interval", 1))
        run_env(traced, env, "warm-up", periods_per_year=1.0, decision_interval=k)
    if traced.state is None:  # no complete observation before t: an episode starts at t
        return Warmed(initial_state(spec.policy, 1), 0, t)
    return Warmed(traced.state, traced.decisions, start)


# --------------------------------------------------------------------------- paper accounts
def _encode(state: Any) -> list[dict[str, Any]]:
    """A state made of arrays (a tuple/list of them) as JSON: shape + values per array."""
    return [{"shape": list(np.shape(a)), "values": np.asarray(a).ravel().tolist()} for a in state]


def _decode(saved: Any, like: Any, where: str) -> Any:
    """The arrays of :func:`_encode`, checked against the shapes of ``like`` (a fresh state)."""
    if not isinstance(saved, list) or len(saved) != len(like):
        raise ValueError(f"{where}: holds {type(saved).__name__}, not {len(like)} arrays")
    out = []
    for i, (item, ref) in enumerate(zip(saved, like, strict=True)):
        ref = np.asarray(ref)
        try:
            arr = np.asarray(item["values"], dtype=ref.dtype).reshape(item["shape"])
        except (TypeError, KeyError, ValueError):
            raise ValueError(f"{where}: array {i} is not {{shape, values}}") from None
        if arr.shape != ref.shape:
            raise ValueError(
                f"{where}: array {i} has shape {arr.shape}, the policy's is {ref.shape}"
            )
        if not np.isfinite(arr).all():
            raise ValueError(f"{where}: array {i} holds NaN or inf values")
        out.append(arr)
    return type(like)(out) if isinstance(like, tuple) else out


def account_memory(state: dict[str, Any], spec: Any, version: str, path: Any) -> Any:
    """The policy state a paper account decides with next (None: a stateless policy): the one
    kept in ``state['memory']``, or zero at its first decision or after a version change."""
    if not is_stateful(spec.policy):
        return None
    fresh = initial_state(spec.policy, 1)
    if "memory" not in state:  # the account's first decision (or a stateless version's)
        return fresh
    kept = state["memory"]
    if not isinstance(kept, dict) or not isinstance(kept.get("version"), str):
        what = "a mapping without a version" if isinstance(kept, dict) else type(kept).__name__
        raise ValueError(
            f"damaged paper state ({path}: memory is {what}, not {{version, after_bar_utc, "
            "arrays}); restore it or start a new account with another --state folder"
        )
    if kept["version"] != version:  # other weights: their state means nothing here
        state["memory_restarted"] = f"version {kept.get('version')} -> {version}"
        return fresh
    try:
        return _decode(kept.get("arrays"), fresh, f"{path}: memory")
    except ValueError as err:
        raise ValueError(
            f"damaged paper state ({err}); restore it or start a new account with another "
            "--state folder"
        ) from None


def keep_memory(state: dict[str, Any], memory: Any, version: str, bar: pd.Timestamp) -> None:
    """Store the policy state after the decision on ``bar`` (nothing for a stateless policy)."""
    if memory is not None:
        state["memory"] = {
            "version": version,
            "after_bar_utc": bar.strftime(ISO),
            "arrays": _encode(memory),
        }
