"""Ensembles of trained policies (the FLAG-TRADER ensemble backtest): one extra policy per rule.

An ensemble is a policy like any other (``backtest.baselines`` protocol): it steps the same env
with the same costs as its members and appears in the table next to them as ``ensemble_<rule>``.
Every member sees the **ensemble's** observation (the same market window and the ensemble's own
account state: position, unrealised return, drawdown, bars held) and proposes an action; the rule
turns the proposals into one target position in {-1 short, 0 flat, +1 long}.

Rules (M members, per decision bar):

* ``voting``: each member votes for a target position: a discrete member's action maps to its
  position (0 SELL -> -1, 1 HOLD -> 0, 2 BUY -> +1; SELL -> 0 with ``long_only``), a continuous
  member (SAC) votes for the **sign** of its target exposure (|exposure| <= 1e-6 is flat).
  The ensemble takes the position with the most votes (a plurality, e.g. BUY, BUY, SELL -> BUY;
  BUY, BUY, SELL, HOLD -> BUY). A tie for the most votes -> flat (BUY, SELL -> flat;
  BUY, SELL, HOLD -> flat).
* ``confidence``: the members' action probabilities (SELL, HOLD, BUY) are averaged with equal
  weights and the ensemble takes the argmax; a tie for the largest mean probability -> flat.
  Only members that expose probabilities qualify: an SB3 PPO with a ``Discrete(3)`` action
  (``policy.get_distribution(obs).distribution.probs``) and a supervised classifier (softmax of
  its corrected logits, the very logits its argmax policy uses). A SAC member (a squashed
  Gaussian over one exposure, no class probabilities) is refused with a clear error.
* ``disagreement``: act only when every member proposes the same position (as in ``voting``:
  discrete action, or sign of a continuous exposure); any disagreement -> flat.

Sizing: the ensemble always trades full units (+-1 of equity) or is flat; a continuous member's
magnitude is discarded by design (a vote is a direction). The ensemble env is ``Discrete(3)``
with the members' common ``long_only``.

Members must share one observation layout (feature set, window, normaliser), because they read
the same observation vector, and one ``decision_interval`` (the ensemble acts on their clock); a
mismatch is refused naming the member and the field.

It lives in ``backtest`` (numpy and the policy protocol only) so that both ``evaluate`` (the
``--ensemble`` flag) and ``agents`` (a seed group promoted as one ensemble model, used by
``agents.predict`` and ``agents.paper``) build ensembles with this one implementation.

An ensemble is one more configuration tried: ``evaluate.headtohead`` counts it among the candidates
of the deflated Sharpe. Choose the rule on the validation split, not on test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backtest.baselines import Policy, PolicySpec, position_to_action
from backtest.policy import initial_state, is_stateful, step

RULES = ("voting", "confidence", "disagreement")
FLAT_EPS = 1e-6  # |continuous exposure| at or below this votes flat
DEFAULT_LAYOUT = {"feature_set": "core17", "window": 32}  # what backtest.runner builds by default


def vote(positions: np.ndarray) -> np.ndarray:
    """Plurality of ``positions`` ``(M, B)`` in {-1, 0, 1} per column; a tie for most -> 0."""
    pos = _check_positions(positions)
    counts = np.stack([(pos == p).sum(axis=0) for p in (-1, 0, 1)])  # (3, B)
    best = counts.max(axis=0)
    unique = (counts == best).sum(axis=0) == 1
    return np.where(unique, counts.argmax(axis=0) - 1, 0).astype(np.float64)


def unanimous(positions: np.ndarray) -> np.ndarray:
    """The common position where all members agree (column-wise), else 0 (flat)."""
    pos = _check_positions(positions)
    agree = (pos == pos[0]).all(axis=0)
    return np.where(agree, pos[0], 0).astype(np.float64)


def mean_probability_position(probs: np.ndarray) -> np.ndarray:
    """Argmax of the members' mean probabilities ``(M, B, 3)`` as a position; a tie -> 0."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 3 or p.shape[2] != 3:
        raise ValueError(f"probabilities must have shape (members, batch, 3), got {p.shape}")
    mean = p.mean(axis=0)  # (B, 3)
    best = mean.max(axis=1, keepdims=True)
    # equal to within float noise counts as a tie (two members averaging to the same value)
    tied = np.isclose(mean, best, rtol=0.0, atol=1e-12).sum(axis=1) > 1
    return np.where(tied, 0, mean.argmax(axis=1) - 1).astype(np.float64)


def _check_positions(positions: np.ndarray) -> np.ndarray:
    pos = np.asarray(positions)
    if pos.ndim != 2 or pos.shape[0] < 1:
        raise ValueError(f"positions must have shape (members, batch), got {pos.shape}")
    if not np.isin(pos, (-1, 0, 1)).all():
        raise ValueError("member positions must be -1, 0 or +1")
    return pos.astype(np.int64)


def action_space_of(action: str) -> Any:
    """The env action space of ``action`` (``discrete`` | ``continuous``), as the env builds it."""
    from gymnasium import spaces

    if action == "discrete":
        return spaces.Discrete(3)
    if action == "continuous":
        return spaces.Box(-1.0, 1.0, (1,), np.float32)
    raise ValueError(f"unknown action type {action!r}; expected discrete or continuous")


def member_positions(actions: np.ndarray, space: Any, long_only: bool = False) -> np.ndarray:
    """A member's actions in its own space -> proposed positions in {-1, 0, 1} (see module doc)."""
    a = np.asarray(actions)
    if hasattr(space, "n"):
        pos = a.reshape(-1).astype(np.int64) - 1
        if pos.min(initial=0) < -1 or pos.max(initial=0) > 1:
            raise ValueError(f"discrete actions must be 0, 1 or 2, got {np.unique(a)}")
    else:
        x = a.reshape(len(a), -1)[:, 0].astype(np.float64)
        pos = np.where(np.abs(x) <= FLAT_EPS, 0, np.sign(x)).astype(np.int64)
    return np.maximum(pos, 0) if long_only else pos


def has_probabilities(policy: Any) -> bool:
    """Whether ``policy`` can give SELL/HOLD/BUY probabilities (``action_probs``)."""
    flag = getattr(policy, "probabilistic", None)
    return bool(flag) if flag is not None else callable(getattr(policy, "action_probs", None))


@dataclass
class EnsemblePolicy:
    """Combines members' proposals by ``rule`` (see the module docstring)."""

    rule: str
    members: list[Policy]
    member_spaces: list[Any]  # each member's own action space (what it was trained with)
    long_only: bool = False
    space: Any = None
    names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"unknown ensemble rule {self.rule!r}; choose from {', '.join(RULES)}")
        if len(self.members) != len(self.member_spaces):
            raise ValueError("one action space per member is needed")
        if len(self.members) < 2:
            raise ValueError(f"an ensemble needs at least 2 members, got {len(self.members)}")

    def bind(self, market: Any, action_space: Any) -> None:
        """Bind every member with its own action space, and keep the ensemble's."""
        self.space = action_space
        for member, space in zip(self.members, self.member_spaces, strict=True):
            member.bind(market, space)

    def positions(self, obs_batch: np.ndarray, bars: np.ndarray) -> np.ndarray:
        """The ensemble's target positions ``(B,)`` in {-1, 0, 1}."""
        if self.rule == "confidence":
            probs = np.stack(
                [
                    np.asarray(m.action_probs(obs_batch, bars), dtype=np.float64)  # type: ignore[attr-defined]
                    for m in self.members
                ]
            )
            pos = mean_probability_position(probs)
            return np.maximum(pos, 0.0) if self.long_only else pos
        return self._combine(
            [m.act(obs_batch, bars) for m in self.members]  # stateless members (act_state: both)
        )

    def _combine(self, actions: list[np.ndarray]) -> np.ndarray:
        """The voting/unanimous position of the members' actions."""
        proposals = np.stack(
            [
                member_positions(a, s, self.long_only)
                for a, s in zip(actions, self.member_spaces, strict=True)
            ]
        )
        return vote(proposals) if self.rule == "voting" else unanimous(proposals)

    def act(self, obs_batch: np.ndarray, bars: np.ndarray) -> np.ndarray:
        """The combined position of the members, as an action."""
        return position_to_action(self.positions(obs_batch, bars), self.space)

    def initial_state(self, n: int) -> list[Any]:
        """One state per member (None for a stateless one)."""
        return [initial_state(m, n) for m in self.members]

    def act_state(
        self, obs_batch: np.ndarray, bars: np.ndarray, state: list[Any]
    ) -> tuple[np.ndarray, list[Any]]:
        """The combined action, each member's state carried (``backtest.policy.step``)."""
        if self.rule == "confidence":  # probabilities of stateless members only (checked)
            return self.act(obs_batch, bars), state
        stepped = [step(m, obs_batch, bars, s) for m, s in zip(self.members, state, strict=True)]
        pos = self._combine([a for a, _ in stepped])
        return position_to_action(pos, self.space), [s for _, s in stepped]


def _layout(spec: PolicySpec) -> dict[str, Any]:
    s = spec.env_settings
    return {
        "feature_set": s.get("feature_set", DEFAULT_LAYOUT["feature_set"]),
        "window": int(s.get("window", DEFAULT_LAYOUT["window"])),
        "long_only": bool(s.get("long_only", False)),
        # members trained to act every k bars are polled every k bars, so k must agree
        "decision_interval": int(s.get("decision_interval", 1)),
    }


def _normaliser_key(spec: PolicySpec) -> str:
    n = spec.normaliser
    return (
        "the env's train-fitted normaliser"
        if n is None
        else json.dumps(n.to_dict(), sort_keys=True)
    )


def _check_confidence_members(members: list[PolicySpec]) -> None:
    """``confidence`` averages probabilities: every member must expose them, without memory."""
    for m in members:
        if is_stateful(m.policy):
            raise TypeError(
                f"--ensemble confidence: member {m.name!r} is a stateful (recurrent) policy; "
                "its probabilities depend on its memory: use --ensemble voting or disagreement"
            )
        if not has_probabilities(m.policy):
            raise TypeError(
                f"--ensemble confidence: member {m.name!r} ({type(m.policy).__name__}, action "
                f"{m.env_settings.get('action', 'discrete')!r}) exposes no action probabilities; "
                "only discrete PPO and supervised classifiers do (SAC outputs an exposure). "
                "Use --ensemble voting or disagreement, or drop that member."
            )


def build_ensemble(rule: str, members: list[PolicySpec], name: str | None = None) -> PolicySpec:
    """One ``PolicySpec`` named ``ensemble_<rule>`` over ``members`` (loaded runs/checkpoints).

    Raises ValueError for fewer than two members, differing observation layouts or
    ``long_only``, and TypeError for ``confidence`` with a member without probabilities.
    """
    if rule not in RULES:
        raise ValueError(f"unknown ensemble rule {rule!r}; choose from {', '.join(RULES)}")
    if len(members) < 2:
        raise ValueError(f"--ensemble {rule} needs at least 2 runs/checkpoints, got {len(members)}")
    ref, ref_norm = _layout(members[0]), _normaliser_key(members[0])
    for m in members[1:]:
        lay = _layout(m)
        for key in ref:
            if lay[key] != ref[key]:
                raise ValueError(
                    f"ensemble member {m.name!r} has {key}={lay[key]!r} but {members[0].name!r} has "
                    f"{ref[key]!r}; members read one observation and act on one clock, so they must "
                    "share feature_set, window, long_only and decision_interval"
                )
        if _normaliser_key(m) != ref_norm:
            raise ValueError(
                f"ensemble member {m.name!r} normalises features differently from "
                f"{members[0].name!r} (normaliser.json differs); members read one observation"
            )
    if rule == "confidence":
        _check_confidence_members(members)
    spaces = [action_space_of(str(m.env_settings.get("action", "discrete"))) for m in members]
    policy = EnsemblePolicy(
        rule, [m.policy for m in members], spaces, ref["long_only"], names=[m.name for m in members]
    )
    label = name or f"ensemble_{rule}"
    settings = {"feature_set": ref["feature_set"], "window": ref["window"], "action": "discrete"}
    if ref["long_only"]:
        settings["long_only"] = True
    if ref["decision_interval"] != 1:
        settings["decision_interval"] = ref["decision_interval"]
    return PolicySpec(
        label,
        label,
        policy,
        None,
        settings,
        members[0].normaliser,
        source=f"{rule} over " + ", ".join(m.name for m in members),
    )


__all__ = [
    "RULES",
    "EnsemblePolicy",
    "build_ensemble",
    "mean_probability_position",
    "member_positions",
    "unanimous",
    "vote",
]
