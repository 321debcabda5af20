"""Deterministic full-split backtests: step the real ``envs.TradingEnv`` over a whole split.

``run_policy`` builds the env with ``envs.make_env`` (the same costs for every policy of a
comparison) and ``run_env`` walks it with ``reset(options={"sequential": True})``: one episode
per contiguous run of decision bars, in time order, each run to its end (``episode_length`` is
ignored by sequential resets). Evaluation differs from training in two env options only:
``max_drawdown=None`` (a backtest must not stop at a 50 % drawdown; ruin still ends it) and the
reward, which the backtest never reads.

Gaps: an episode never crosses a data gap, so a split with gaps is several episodes. Each starts
flat at the env's ``initial_equity``; its equity and costs are rescaled by the equity carried from
the previous episode (multiplicative stitching), so equity is flat across the gap (the gap has no
bar and no return). The env marks the last position at the segment's last close without an exit
cost, and the next episode pays a fresh entry cost.

Speed: the pass calls the policy once per bar (the observation carries the account state the last
action produced). Model policies (``backtest.baselines.SB3Policy``, ``ClassifierPolicy``) act
through ``agents.acting.inference``: modules called directly, one torch thread, inference mode, equal
to ``model.predict(deterministic=True)``, ~0.8 ms instead of ~10 ms CPU per bar (bench/eval_policy.py).

Decision interval: a policy trained with ``decision_interval=k`` (the env holds each action for k
bars) is backtested on a k=1 env that holds its last decision on the k-1 bars between decisions
(``run_env(..., decision_interval=k)``; ``run_policy`` reads k from the env settings, bars or a
time such as ``"1d"``). Between decisions the env is stepped with ``TradingEnv.hold()`` (keep the
position: no trade, no cost, no action rule consulted), so this is the k-bar env's trajectory bit
for bit (``tests/test_env_interval.py``), with per-BAR equity, positions and costs recorded. The
decisions fall on the same bars: every k bars from each episode's start. The action rules
(no-trade band, minimum hold, volatility target: ``envs.actions``) are env options and apply at
each decision as in training.

Ruin: if the env terminates (equity at or below ``ruin_fraction`` of the start), the account is
dead: the remaining bars of the split are recorded flat (position 0, no cost, equity unchanged)
and ``meta['ruined_at']`` holds the bar's timestamp, so every policy covers the same bars.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backtest.baseline_table import named_spec
from backtest.baselines import Policy, PolicySpec
from backtest.policy import initial_state, step
from backtest.record import Backtest
from envs import make_env
from envs.actions import duration_bars
from envs.presets import get_preset

COST_KEYS = ("fee_bps", "slippage_bps", "slippage_model", "slippage_coef", "funding", "fill")


@dataclass(frozen=True)
class CostOverrides:
    """Cost options forced on every env of a comparison (None: the env's default)."""

    fee_bps: float | None = None
    slippage_bps: float | None = None
    funding: bool | None = None
    fill: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. slippage_model, slippage_coef

    def options(self) -> dict[str, Any]:
        """The set overrides as env options (unset ones left to the env's defaults)."""
        out = {
            k: v
            for k, v in (
                ("fee_bps", self.fee_bps),
                ("slippage_bps", self.slippage_bps),
                ("funding", self.funding),
                ("fill", self.fill),
            )
            if v is not None
        }
        out.update(self.extra)
        return out


class _Tape:
    """The per-bar record of one pass, preallocated for every bar of the split."""

    def __init__(self, cap: int, e0: float) -> None:
        self.ts: np.ndarray = np.empty(cap, dtype=np.int64)
        self.eq: np.ndarray = np.empty(cap + 1)
        self.pos, self.fee, self.slip, self.fund = (np.zeros(cap) for _ in range(4))
        self.eq[0], self.e0 = e0, e0
        self.n, self.carry = 0, 1.0  # bars recorded; equity carried over from earlier episodes
        self.seg_starts: list[int] = []

    def record(self, info: dict[str, Any]) -> None:
        """One env step: timestamp, equity, position and costs (scaled by the carry)."""
        n, carry = self.n, self.carry
        self.ts[n] = info["timestamp"]
        self.eq[n + 1] = carry * info["equity"]
        self.pos[n] = info["position"]
        self.fee[n], self.slip[n], self.fund[n] = (
            carry * info[c] for c in ("fee", "slippage", "funding")
        )
        self.n = n + 1

    def pad_ruined(self, env: Any, ruined_at: int) -> None:
        """Pad the bars the dead account would have held: flat, costless, equity frozen."""
        rest = _remaining_bars(env, after_ts=ruined_at)
        n, m = self.n, rest.size
        self.ts[n : n + m] = rest
        self.eq[n + 1 : n + 1 + m] = self.eq[n]
        self.n = n + m

    def backtest(self, name: str, periods_per_year: float, meta: dict[str, Any]) -> Backtest:
        """The recorded bars as a ``Backtest`` (copies: the tape is not shared)."""
        n = self.n
        return Backtest(
            name=name,
            timestamps=self.ts[:n].copy(),
            equity=self.eq[: n + 1].copy(),
            positions=self.pos[:n].copy(),
            fees=self.fee[:n].copy(),
            slippage=self.slip[:n].copy(),
            funding=self.fund[:n].copy(),
            periods_per_year=float(periods_per_year),
            segment_starts=np.asarray(self.seg_starts, dtype=np.int64),
            meta=meta,
        )


def _check_interval(env: Any, name: str, decision_interval: int) -> int:
    """The policy's decision interval k, refused when < 1 or when the env itself skips bars."""
    k = int(decision_interval)
    if k < 1:
        raise ValueError(f"decision_interval must be >= 1, got {decision_interval!r}")
    if getattr(env.params, "decision_interval", 1) != 1:
        raise ValueError(
            f"{name}: backtest env has decision_interval={env.params.decision_interval}; build it "
            "with decision_interval=1 and pass run_env(..., decision_interval=k) so that every "
            "bar's equity and position is recorded"
        )
    return k


def _episode(
    env: Any,
    policy: Policy,
    tape: _Tape,
    expected: int,
    k: int,
    name: str,
    on_step: Callable[[float, dict[str, Any]], None] | None,
) -> tuple[bool, dict[str, Any]]:
    """Step one decision run from bar ``expected`` to its end; (terminated, last info)."""
    obs, info = env.reset(options={"sequential": True})
    if info["bar"] != expected:  # the env's sequential cursor was moved by earlier resets
        raise RuntimeError(
            f"{name}: the env's sequential pass starts at bar {info['bar']}, "
            f"expected {expected}; backtest on a freshly built env"
        )
    tape.seg_starts.append(tape.n)
    bar = np.array([info["bar"]], dtype=np.int64)
    done, held, terminated = False, 0, False
    state = initial_state(policy, 1)  # a recurrent policy starts every episode afresh
    while not done:
        if held % k == 0:  # a decision bar of the k-bar env; else keep the position
            action, state = step(policy, obs[None, :], bar, state)
            obs, reward, terminated, truncated, info = env.step(action[0])
        else:  # no decision: the k-bar env's held bars (no action rule consulted)
            obs, reward, terminated, truncated, info = env.hold()
        held += 1
        if on_step is not None:
            on_step(float(reward), info)
        tape.record(info)
        bar[0] = info["bar"]
        done = terminated or truncated
    tape.carry = tape.eq[tape.n] / tape.e0
    return bool(terminated), info


def run_env(
    policy: Policy,
    env: Any,
    name: str,
    *,
    periods_per_year: float,
    meta: dict[str, Any] | None = None,
    decision_interval: int = 1,
    on_step: Callable[[float, dict[str, Any]], None] | None = None,
) -> Backtest:
    """One deterministic pass over every decision run of ``env``'s split (see module doc).

    ``env`` is an ``envs.TradingEnv`` (built by ``run_policy`` or by hand on a synthetic market)
    with ``decision_interval=1``; ``decision_interval=k`` here calls the policy every k bars of
    an episode and holds its action in between (the module doc says why). ``on_step(reward,
    info)``, if given, sees every env step (for figures the record does not keep)."""
    k = _check_interval(env, name, decision_interval)
    policy.bind(env.market, env.action_space)
    lo, hi = env.tables.lo, env.tables.hi
    tape = _Tape(hi - lo, float(env.params.initial_equity))  # hi - lo: bars held at most
    ruined_at = None
    for expected in env.episode_starts():
        terminated, info = _episode(env, policy, tape, expected, k, name, on_step)
        if terminated:
            ruined_at = int(info["timestamp"])
            tape.pad_ruined(env, ruined_at)
            break
    meta = {
        **(meta or {}),
        "ruined_at": ruined_at,
        "n_episodes": len(tape.seg_starts),
        "split_rows": [int(lo), int(hi)],
    }
    return tape.backtest(name, periods_per_year, meta)


def _remaining_bars(env: Any, after_ts: int) -> np.ndarray:
    """Timestamps of the bars a full pass holds (decision bar + 1) after ``after_ts``."""
    held: np.ndarray = np.flatnonzero(env.tables.step_ok) + 1
    ts = env.market.timestamps[held]
    return ts[ts > after_ts]


def run_policy(
    policy: PolicySpec | str,
    env_name: str,
    split: str,
    *,
    seed: int = 0,
    costs: CostOverrides | None = None,
    env_settings: dict[str, Any] | None = None,
) -> Backtest:
    """Backtest ``policy`` (a ``PolicySpec`` or a baseline name) over the whole ``split``.

    The env is ``envs.make_env(env_name, split, **settings)`` with the policy's observation layout
    (feature set, window, action type, normaliser), ``costs`` forced, ``max_drawdown=None`` and
    ``seed``. Everything that can differ between policies of one comparison is the layout.
    """
    spec = policy if isinstance(policy, PolicySpec) else named_spec(policy, seed, env_name)
    settings = {**spec.env_settings, **(env_settings or {})}
    options = {k: v for k, v in settings.items() if k not in ("feature_set", "window")}
    options.update((costs or CostOverrides()).options())
    options["max_drawdown"] = None
    interval = options.pop("decision_interval", 1)  # held by run_env on a k=1 env (module doc)
    env = make_env(
        env_name,
        split=split,
        feature_set=settings.get("feature_set", "core17"),
        window=int(settings.get("window", 32)),
        normaliser=spec.normaliser,
        seed=seed,
        **options,
    )
    k = duration_bars("decision_interval", interval, env.market.freq_ns)  # '1d': 24 on 1h bars
    ppy = get_preset(env_name).periods_per_year
    p = env.params
    meta = {
        "method": spec.method,
        "seed": spec.seed,
        "source": spec.source,
        "env_settings": {
            "fee_bps": p.fee_bps,
            "slippage_bps": p.slippage_bps,
            "slippage_model": p.slippage_model,
            "funding": p.funding,
            "fill": p.fill,
            "action": p.action,
            "window": env.window,
            "feature_set": settings.get("feature_set", "core17"),
            "decision_interval": k,
        },
    }
    return run_env(
        spec.policy, env, spec.name, periods_per_year=ppy, meta=meta, decision_interval=k
    )
