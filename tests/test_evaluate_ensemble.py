"""backtest.ensemble: the three rules by hand, members in their own action spaces, the runner.

Members are small hand-made policies following backtest.baselines' protocol whose action (and
probabilities) depend on the decision bar only, so each ensemble decision can be written down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest.baselines import PolicySpec, position_to_action
from backtest.ensemble import (
    EnsemblePolicy,
    action_space_of,
    build_ensemble,
    mean_probability_position,
    member_positions,
    unanimous,
    vote,
)
from backtest.runner import run_env
from envs import MarketData, TradingEnv

S, H, B = 0, 1, 2  # SELL, HOLD, BUY


@dataclass
class TableMember:
    """Acts from a per-bar table: discrete actions, or continuous exposures, or probabilities."""

    actions: np.ndarray  # (T,) ints 0..2, or (T,) exposures for a continuous member
    probs: np.ndarray | None = None  # (T, 3)
    space: Any = None

    def bind(self, market: Any, action_space: Any) -> None:
        self.space = action_space

    def act(self, obs_batch: np.ndarray, bars: np.ndarray) -> np.ndarray:
        a = self.actions[np.asarray(bars)]
        return (
            a.astype(np.int64) if hasattr(self.space, "n") else a.astype(np.float32).reshape(-1, 1)
        )

    def action_probs(self, obs_batch: np.ndarray, bars: np.ndarray) -> np.ndarray:
        assert self.probs is not None
        return self.probs[np.asarray(bars)]


@dataclass
class ContinuousMember:
    """A SAC-like member: exposures, no probabilities."""

    exposures: np.ndarray

    def bind(self, market: Any, action_space: Any) -> None:
        assert not hasattr(action_space, "n")

    def act(self, obs_batch: np.ndarray, bars: np.ndarray) -> np.ndarray:
        return self.exposures[np.asarray(bars)].astype(np.float32).reshape(-1, 1)


@dataclass
class Scheduled:
    """Target positions from a per-bar table: the reference the ensemble must equal."""

    positions: np.ndarray
    space: Any = None

    def bind(self, market: Any, action_space: Any) -> None:
        self.space = action_space

    def act(self, obs_batch: np.ndarray, bars: np.ndarray) -> np.ndarray:
        return position_to_action(self.positions[np.asarray(bars)], self.space)


def _spec(name: str, policy: Any, action: str = "discrete", **settings: Any) -> PolicySpec:
    return PolicySpec(
        name,
        name,
        policy,
        env_settings={"feature_set": "core17", "window": 4, "action": action, **settings},
    )


# --- the rules by hand ------------------------------------------------------------------------


def test_vote_plurality_and_ties_by_hand():
    # columns: (B,B,S) -> +1; (B,S,H) -> tie -> 0; (S,S,S) -> -1; (H,B,B) -> +1; (S,H,H) -> 0 (HOLD wins)
    pos = np.array([[1, 1, -1, 0, -1], [1, -1, -1, 1, 0], [-1, 0, -1, 1, 0]])
    np.testing.assert_array_equal(vote(pos), [1, 0, -1, 1, 0])
    # two members: BUY/SELL and BUY/HOLD are ties -> flat; SELL/SELL -> short
    np.testing.assert_array_equal(vote(np.array([[1, 1, -1], [-1, 0, -1]])), [0, 0, -1])
    # four members: B,B,S,H -> BUY by plurality; B,B,S,S -> tie -> flat
    np.testing.assert_array_equal(vote(np.array([[1, 1], [1, 1], [-1, -1], [0, -1]])), [1, 0])


def test_unanimous_by_hand():
    pos = np.array([[1, 1, -1, 0], [1, -1, -1, 0], [1, 1, -1, 0]])
    np.testing.assert_array_equal(unanimous(pos), [1, 0, -1, 0])


def test_mean_probability_by_hand():
    probs = np.array(
        [
            [[0.2, 0.3, 0.5], [0.6, 0.3, 0.1], [0.5, 0.0, 0.5]],
            [[0.1, 0.6, 0.3], [0.1, 0.3, 0.6], [0.3, 0.4, 0.3]],
        ]
    )
    # means: (0.15, 0.45, 0.40) -> HOLD; (0.35, 0.30, 0.35) -> SELL/BUY tie -> flat;
    # (0.40, 0.20, 0.40) -> tie -> flat
    np.testing.assert_array_equal(mean_probability_position(probs), [0, 0, 0])
    probs[1, 0] = [0.1, 0.2, 0.7]  # mean (0.15, 0.25, 0.60) -> BUY
    probs[0, 1] = [0.7, 0.2, 0.1]  # mean (0.40, 0.25, 0.35) -> SELL
    np.testing.assert_array_equal(mean_probability_position(probs), [1, -1, 0])


def test_member_positions_spaces():
    d, c = action_space_of("discrete"), action_space_of("continuous")
    np.testing.assert_array_equal(member_positions(np.array([0, 1, 2]), d), [-1, 0, 1])
    np.testing.assert_array_equal(
        member_positions(np.array([0, 1, 2]), d, long_only=True), [0, 0, 1]
    )
    x = np.array([[0.3], [-0.7], [0.0], [5e-7], [-1.0]], dtype=np.float32)
    np.testing.assert_array_equal(member_positions(x, c), [1, -1, 0, 0, -1])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from([-1, 0, 1]), min_size=6, max_size=6), min_size=1, max_size=5)
)
def test_rule_invariants(rows):
    pos = np.array(rows)
    v, u = vote(pos), unanimous(pos)
    for j in range(pos.shape[1]):
        col = list(pos[:, j])
        counts = {p: col.count(p) for p in (-1, 0, 1)}
        top = max(counts.values())
        winners = [p for p, n in counts.items() if n == top]
        assert v[j] == (winners[0] if len(winners) == 1 else 0)
        assert u[j] == (col[0] if len(set(col)) == 1 else 0)
        if u[j] != 0:  # unanimity implies the vote agrees
            assert v[j] == u[j]


# --- through the runner -----------------------------------------------------------------------


def _market(candles) -> MarketData:
    rng = np.random.default_rng(3)
    return MarketData.build(
        candles, rng.standard_normal((len(candles), 2)), None, window=4, feature_names=("a", "b")
    )


def _env(market: MarketData) -> TradingEnv:
    return TradingEnv(
        market, (0, market.n_bars), fee_bps=10.0, slippage_bps=2.0, funding=False, max_drawdown=None
    )


def _members(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 3, n)
    b = rng.integers(0, 3, n)
    x = rng.choice([-0.8, -0.2, 0.0, 0.4, 1.0], n)  # continuous exposures
    return a, b, x


@pytest.mark.parametrize("rule", ["voting", "disagreement"])
def test_ensemble_backtest_equals_hand_schedule(make_candles, rule):
    market = _market(make_candles(240, seed=11))
    a, b, x = _members(market.n_bars)
    spec = build_ensemble(
        rule,
        [
            _spec("a", TableMember(a)),
            _spec("b", TableMember(b)),
            _spec("sac", ContinuousMember(x), "continuous"),
        ],
    )
    assert spec.name == f"ensemble_{rule}" and spec.env_settings["action"] == "discrete"
    # the rule by hand, bar by bar
    expected = np.zeros(market.n_bars)
    for t in range(market.n_bars):
        props = [a[t] - 1, b[t] - 1, int(np.sign(x[t]))]
        if rule == "disagreement":
            expected[t] = props[0] if len(set(props)) == 1 else 0
        else:
            top = max(props.count(p) for p in (-1, 0, 1))
            win = [p for p in (-1, 0, 1) if props.count(p) == top]
            expected[t] = win[0] if len(win) == 1 else 0
    bt = run_env(spec.policy, _env(market), spec.name, periods_per_year=8760)
    held = np.searchsorted(market.timestamps, bt.timestamps)  # bar held; decided at held - 1
    np.testing.assert_array_equal(bt.positions, expected[held - 1])
    ref = run_env(Scheduled(expected), _env(market), "ref", periods_per_year=8760)
    np.testing.assert_array_equal(bt.equity, ref.equity)
    assert len(set(bt.positions)) == 3  # the schedule trades both ways: the test can fail


def test_confidence_ensemble_and_probability_errors(make_candles):
    market = _market(make_candles(160, seed=12))
    rng = np.random.default_rng(5)
    p1 = rng.dirichlet(np.ones(3), market.n_bars)
    p2 = rng.dirichlet(np.ones(3), market.n_bars)
    m1, m2 = TableMember(p1.argmax(1), p1), TableMember(p2.argmax(1), p2)
    spec = build_ensemble("confidence", [_spec("m1", m1), _spec("m2", m2)])
    bt = run_env(spec.policy, _env(market), spec.name, periods_per_year=8760)
    expected = ((p1 + p2) / 2).argmax(1) - 1.0  # random probabilities: no exact ties
    held = np.searchsorted(market.timestamps, bt.timestamps)
    np.testing.assert_array_equal(bt.positions, expected[held - 1])
    # a continuous member has no probabilities: refused up front, naming it
    with pytest.raises(TypeError, match="member 'sac'.*no action probabilities"):
        build_ensemble(
            "confidence", [_spec("m1", m1), _spec("sac", ContinuousMember(p1[:, 0]), "continuous")]
        )


def test_build_ensemble_refusals():
    a = TableMember(np.zeros(5, np.int64))
    with pytest.raises(ValueError, match="at least 2"):
        build_ensemble("voting", [_spec("a", a)])
    with pytest.raises(ValueError, match="member 'b' has window=8"):
        build_ensemble(
            "voting", [_spec("a", a), PolicySpec("b", "b", a, env_settings={"window": 8})]
        )
    with pytest.raises(ValueError, match="long_only"):
        build_ensemble("voting", [_spec("a", a), _spec("b", a, long_only=True)])
    k4 = _spec("c", a, decision_interval=4)
    with pytest.raises(ValueError, match="member 'c' has decision_interval=4 but 'a' has 1"):
        build_ensemble("voting", [_spec("a", a), k4])
    same_clock = build_ensemble("voting", [k4, _spec("d", a, decision_interval=4)])
    assert same_clock.env_settings["decision_interval"] == 4  # the runner then polls every 4 bars
    with pytest.raises(ValueError, match="unknown ensemble rule 'mean'"):
        build_ensemble("mean", [_spec("a", a), _spec("b", a)])
    with pytest.raises(ValueError, match="at least 2 members"):
        EnsemblePolicy("voting", [a], [action_space_of("discrete")])


def test_long_only_ensemble_never_shorts(make_candles):
    market = _market(make_candles(120, seed=13))
    sells = TableMember(np.zeros(market.n_bars, np.int64))  # always SELL -> flat when long-only
    buys = TableMember(np.full(market.n_bars, B, np.int64))
    spec = build_ensemble(
        "voting",
        [
            _spec("s", sells, long_only=True),
            _spec("s2", sells, long_only=True),
            _spec("b", buys, long_only=True),
        ],
    )
    env = TradingEnv(market, (0, market.n_bars), long_only=True, funding=False, max_drawdown=None)
    bt = run_env(spec.policy, env, spec.name, periods_per_year=8760)
    np.testing.assert_array_equal(bt.positions, 0.0)  # two flat votes beat one long


# --- real model wrappers: probabilities agree with their own argmax --------------------------


def test_sb3_and_classifier_probabilities(tmp_path, make_candles):
    torch = pytest.importorskip("torch")
    from stable_baselines3 import PPO

    from agents.acting.loading import SB3Policy

    env = _env(_market(make_candles(120, seed=14)))
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=32, seed=0, device="cpu")
    pol = SB3Policy(model)
    obs = (
        np.random.default_rng(0)
        .standard_normal((9, env.observation_space.shape[0]))
        .astype(np.float32)
    )
    probs = pol.action_probs(obs, np.arange(9))
    assert probs.shape == (9, 3) and pol.probabilistic
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(probs.argmax(1), pol.act(obs, np.arange(9)))
    from stable_baselines3 import SAC

    sac = SB3Policy(
        SAC("MlpPolicy", TradingEnv(env.market, action="continuous"), buffer_size=10, device="cpu")
    )
    assert not sac.probabilistic
    with pytest.raises(TypeError, match="no class probabilities"):
        sac.action_probs(obs, np.arange(9))

    from agents.acting.loading import load_run

    clf = _save_classifier(tmp_path / "model.pt", seed=0)
    obs = np.random.default_rng(2).standard_normal((9, 16 * 2 + 4)).astype(np.float32)
    spec = load_run(tmp_path / "model.pt")
    spec.policy.bind(None, action_space_of("discrete"))
    cp = spec.policy.action_probs(obs, np.arange(9))
    logits = clf.eval()(torch.as_tensor(obs)).detach().numpy() + np.array([0.3, 0.0, -0.2])
    expected = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(cp, expected, rtol=1e-5)
    np.testing.assert_array_equal(cp.argmax(1), spec.policy.act(obs, np.arange(9)))
    assert len(set(cp.argmax(1))) > 1


def _save_classifier(path, seed: int):
    """A real (untrained) supervised checkpoint with window 16, 2 features, bias (0.3, 0, -0.2)."""
    import torch

    from envs.features import RobustNormaliser
    from policies import make_config
    from supervised.checkpoint import save_checkpoint
    from supervised.labels import LabelSpec
    from supervised.logit_correction import LogitCorrection
    from supervised.model import Classifier

    torch.manual_seed(seed)
    clf = Classifier(make_config("cpu", window=16, n_features=2))  # patches need window >= 8
    with torch.no_grad():  # far from uniform, so the argmax is not the bias's alone
        for p in clf.parameters():
            p.add_(0.3 * torch.randn_like(p))
    norm = RobustNormaliser().fit(np.random.default_rng(1).standard_normal((50, 2)))
    save_checkpoint(
        path,
        clf,
        env="btc1h",
        feature_set="core17",
        feature_names=["a", "b"],
        label_spec=LabelSpec("forward_sharpe"),
        split={},
        normaliser=norm.to_dict(),
        correction=LogitCorrection(np.array([0.3, 0.0, -0.2]), "none"),
        loss={"name": "none"},
        class_prior=[0.3, 0.4, 0.3],
        extra={"seed": seed},
    )
    return clf


def test_cli_adds_ensembles_next_to_members(tmp_path):
    pytest.importorskip("torch")
    from evaluate.cli import _specs, build_parser

    for k in (1, 2):
        (tmp_path / f"r{k}").mkdir()
        _save_classifier(tmp_path / f"r{k}" / "model.pt", seed=k)
    args = build_parser().parse_args(
        [
            "--ensemble",
            "voting",
            "--ensemble",
            "confidence",
            f"a={tmp_path / 'r1'}",
            f"b={tmp_path / 'r2'}",
        ]
    )
    specs = _specs(args)
    names = [s.name for s in specs]
    assert names[-4:] == ["a_s1", "b_s2", "ensemble_voting", "ensemble_confidence"]
    ens = specs[-1]
    assert ens.env_settings == {"feature_set": "core17", "window": 16, "action": "discrete"}
    assert ens.policy.members == [specs[-4].policy, specs[-3].policy]
    with pytest.raises(SystemExit, match="needs at least 2"):
        _specs(build_parser().parse_args(["--ensemble", "voting", str(tmp_path / "r1")]))
