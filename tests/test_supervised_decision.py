"""Cost-aware decision rules: hand-made paths, argmax equivalence, causality, the env's state,
checkpoint round trip and evaluate's ClassifierPolicy through the runner on real data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from envs import TradingEnv
from envs.params import BARS_HELD_SCALE
from supervised.decision import ARGMAX, DecisionRule, bars_held_from_scaled, class_probs, rule_path
from supervised.decision_fit import Market, fit_rule, grid_points

# Hand-made probabilities: (SELL, HOLD, BUY) per bar.
P = np.array(
    [
        [0.10, 0.20, 0.70],  # 0: BUY 0.70
        [0.90, 0.05, 0.05],  # 1: SELL 0.90
        [0.50, 0.30, 0.20],  # 2: SELL 0.50 (weak)
        [0.90, 0.05, 0.05],  # 3: SELL 0.90
        [0.05, 0.90, 0.05],  # 4: HOLD 0.90 (go flat)
        [0.30, 0.40, 0.30],  # 5: HOLD 0.40 (weak)
        [0.05, 0.05, 0.90],  # 6: no trade possible (gap)
        [0.50, 0.30, 0.20],  # 7: SELL 0.50 (weak)
        [0.05, 0.05, 0.90],  # 8: BUY 0.90
    ]
)
OK = np.array([True] * 6 + [False] + [True] * 2)


def _replay(rule: DecisionRule, probs: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """The rule bar by bar through ``decide`` with the env's position/bars-held bookkeeping."""
    pos, held, out = 0, 0, []
    for p, can in zip(probs, ok, strict=True):
        if not can:
            out.append(1)
            pos, held = 0, 0
            continue
        a = int(rule.decide(p[None], np.array([pos]), np.array([held]))[0])
        w = a - 1
        held = 0 if w != pos else held
        held += w != 0
        pos = w
        out.append(a)
    return np.array(out)


@pytest.mark.parametrize(
    "rule, expected",
    [
        (ARGMAX, [2, 0, 0, 0, 1, 1, 1, 0, 2]),
        (DecisionRule("confidence", 0.0, 0), [2, 0, 0, 0, 1, 1, 1, 0, 2]),
        # tau 0.6: the weak SELL at 2 keeps the short, the weak HOLD at 5 keeps flat, 7 stays flat
        (DecisionRule("confidence", 0.6, 0), [2, 0, 0, 0, 1, 1, 1, 1, 2]),
        # tau 0.6 + min_hold 3: the long opened at 0 is locked for bars 1, 2 (held 1, 2); at 3 it has
        # been held 3 bars and the SELL 0.9 flips it; the short is locked at 4 and 5; the gap resets
        (DecisionRule("confidence", 0.6, 3), [2, 2, 2, 0, 0, 0, 1, 1, 2]),
        # tau 0.95: nothing is confident enough, never leaves flat
        (DecisionRule("confidence", 0.95, 0), [1, 1, 1, 1, 1, 1, 1, 1, 1]),
    ],
)
def test_hand_made_paths(rule, expected):
    np.testing.assert_array_equal(rule_path(rule, P, OK), expected)
    np.testing.assert_array_equal(_replay(rule, P, OK), expected)


def _probs(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.dirichlet([0.7, 0.7, 0.7], size=n), rng.random(n) > 0.1


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 300),
    tau=st.floats(0.0, 0.99),
    min_hold=st.integers(0, 20),
)
def test_compiled_path_equals_the_step_by_step_rule(seed, n, tau, min_hold):
    probs, ok = _probs(seed, n)
    rule = DecisionRule("confidence", tau, min_hold)
    np.testing.assert_array_equal(rule_path(rule, probs, ok), _replay(rule, probs, ok))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 300), min_hold=st.integers(0, 1))
def test_tau_zero_is_argmax(seed, n, min_hold):
    probs, ok = _probs(seed, n)
    expected = np.where(ok, probs.argmax(axis=1), 1)
    np.testing.assert_array_equal(
        rule_path(DecisionRule("confidence", 0.0, min_hold), probs, ok), expected
    )
    np.testing.assert_array_equal(rule_path(ARGMAX, probs, ok), expected)
    assert DecisionRule("confidence", 0.0, min_hold).is_argmax


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 199))
def test_action_at_t_uses_nothing_after_t(seed, k):
    probs, ok = _probs(seed, 200)
    other, ok2 = _probs(seed + 1, 200)
    rule = DecisionRule("confidence", 0.55, 5)
    a = rule_path(rule, probs, ok)
    b = rule_path(rule, np.concatenate([probs[:k], other[k:]]), np.concatenate([ok[:k], ok2[k:]]))
    np.testing.assert_array_equal(a[:k], b[:k])


def test_bars_held_inversion_is_exact_on_the_env_encoding():
    n = np.arange(0, 100_000)
    scaled = (np.log1p(n.astype(np.float64)) / math.log1p(BARS_HELD_SCALE)).astype(np.float32)
    np.testing.assert_array_equal(bars_held_from_scaled(scaled), n)


def test_decide_obs_reads_only_position_and_bars_held():
    window, nf = 4, 3
    w = window * nf
    rng = np.random.default_rng(0)
    obs = rng.standard_normal((3, w + 4)).astype(np.float32)
    held_scaled = np.float32(math.log1p(2) / math.log1p(BARS_HELD_SCALE))
    obs[:, w + 0] = [1.0, 1.0, 0.0]  # long, long, flat
    obs[:, w + 3] = [held_scaled, 0.0, 0.0]
    obs[1, w + 3] = np.float32(math.log1p(5) / math.log1p(BARS_HELD_SCALE))
    probs = np.array([[0.9, 0.05, 0.05]] * 3)
    rule = DecisionRule("confidence", 0.6, 4)
    # long held 2 < 4: locked (BUY kept); long held 5: free, SELL 0.9 flips; flat: SELL
    np.testing.assert_array_equal(rule.decide_obs(probs, obs, window, nf), [2, 0, 0])
    noisy = obs.copy()
    noisy[:, :w] = rng.standard_normal((3, w))  # features, unrealised return, drawdown: ignored
    noisy[:, w + 1 : w + 3] = rng.random((3, 2))
    np.testing.assert_array_equal(rule.decide_obs(probs, noisy, window, nf), [2, 0, 0])
    with pytest.raises(ValueError, match="window\\*F \\+ 4"):
        rule.decide_obs(probs, obs, window + 1, nf)


def test_rule_validation_and_dict_round_trip():
    r = DecisionRule("confidence", 0.73, 12)
    assert DecisionRule.from_dict(r.to_dict()) == r
    assert DecisionRule.from_dict(None) == ARGMAX and DecisionRule.from_dict({}) == ARGMAX
    for bad in ({"kind": "vote"}, {"tau": 1.0}, {"min_hold": -1}, {"min_hold": 1.5}):
        with pytest.raises(ValueError):
            DecisionRule(**bad)
    with pytest.raises(ValueError, match="unknown fields"):
        DecisionRule.from_dict({"kind": "confidence", "taus": 0.5})


def test_fit_prefers_a_confident_long_over_a_churning_argmax():
    # a rising market; the model is confidently long on even bars and weakly short on odd bars:
    # argmax flips long/short every bar and pays the costs, a tau >= 0.5 stays long
    n = 400
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(0.002 + 0.001 * rng.standard_normal(n + 1)))
    open_ = np.concatenate([[100.0], close[:-1]])
    probs = np.where((np.arange(n) % 2 == 0)[:, None], [0.05, 0.05, 0.9], [0.5, 0.3, 0.2])
    market = Market(open_, close, np.ones(n, bool), np.zeros(n + 1), 10.0, 2.0)
    fit = fit_rule(probs, market)
    assert len(grid_points(probs, market.can_trade)) == fit.n_grid
    assert fit.grid[0]["tau"] == 0.0 and fit.grid[0]["min_hold"] == 0  # argmax is tried first
    assert fit.rule.kind == "confidence" and fit.rule.tau >= 0.5
    assert fit.metrics["n_trades"] == 1 and fit.metrics["turnover"] == 1.0
    assert fit.metrics["sharpe"] > 0 > fit.grid[0]["sharpe"]
    assert fit.half_check["second_half_sharpe_rule"] > fit.half_check["second_half_sharpe_argmax"]


def test_grid_counts_distinct_points_only():
    probs = np.tile([0.2, 0.6, 0.2], (100, 1))  # every quantile is 0.6
    pts = grid_points(probs, np.ones(100, bool), (0.0, 0.5, 0.9), (0, 1, 24))
    # tau 0 with min_hold 0 and 1 is the same argmax rule; tau 0.6 appears once per min_hold
    assert [(t, m) for _, t, m in pts] == [(0.0, 0), (0.0, 24), (0.6, 0), (0.6, 1), (0.6, 24)]


def test_class_probs_is_a_stable_softmax():
    p = class_probs(np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(p, [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]])


# --- checkpoint and evaluate -------------------------------------------------------------------


def _classifier(window: int, n_features: int, seed: int = 0):
    from policies import make_config
    from supervised.model import Classifier

    torch.manual_seed(seed)
    clf = Classifier(make_config("cpu", window=window, n_features=n_features))
    with torch.no_grad():
        clf.head.weight.mul_(60.0)  # spread the probabilities of an untrained model
    return clf.eval()


def test_checkpoint_round_trip_and_old_checkpoints(tmp_path):
    from agents.acting.loading import load_run
    from envs.features import RobustNormaliser
    from supervised.checkpoint import load_checkpoint, save_checkpoint
    from supervised.labels import LabelSpec
    from supervised.logit_correction import LogitCorrection

    clf = _classifier(16, 2)
    rule = DecisionRule("confidence", 0.61, 24)
    norm = RobustNormaliser().fit(np.random.default_rng(1).standard_normal((50, 2)))
    kw = dict(
        env="btc1h",
        feature_set="core17",
        feature_names=["a", "b"],
        label_spec=LabelSpec(),
        split={},
        normaliser=norm.to_dict(),
        correction=LogitCorrection(np.zeros(3)),
        loss={"name": "none"},
        class_prior=[0.2, 0.6, 0.2],
    )
    save_checkpoint(tmp_path / "model.pt", clf, decision_rule=rule, **kw)
    loaded = load_checkpoint(tmp_path / "model.pt")
    assert loaded.rule == rule and loaded.payload["decision_rule"] == rule.to_dict()
    spec = load_run(tmp_path / "model.pt")
    assert spec.method == "supervised" and spec.policy.rule == rule
    spec = load_run(f"{tmp_path / 'model.pt'}@argmax")
    assert spec.method == "supervised_argmax" and spec.policy.rule is None
    payload = torch.load(tmp_path / "model.pt", weights_only=True)
    del payload["decision_rule"]  # a checkpoint from before decision rules
    torch.save(payload, tmp_path / "old.pt")
    assert load_checkpoint(tmp_path / "old.pt").rule == ARGMAX
    assert load_run(tmp_path / "old.pt").policy.rule is None


@pytest.fixture(scope="module")
def real():
    from supervised.data import load_supervised_data

    return load_supervised_data("btc1h", "core17", 32)


def _offline_probs(data, clf, bias, lo, hi):
    from supervised.model import WindowSamples, predict_logits

    t = np.arange(lo, hi)
    ok = data.obs_ok[lo:hi] & data.can_step[lo:hi]
    z = np.zeros((hi - lo, 3))
    z[ok] = predict_logits(
        clf, WindowSamples(data.features, t[ok], np.zeros(int(ok.sum()), np.int64), 32)
    )
    return class_probs(z.astype(np.float32) + bias.astype(np.float32)), ok


def test_classifier_policy_through_the_runner_equals_the_rule_offline(real):
    from agents.acting.loading import ClassifierPolicy
    from backtest.runner import run_env
    from envs import load_market
    from supervised.checkpoint import LoadedClassifier
    from supervised.labels import LabelSpec
    from supervised.logit_correction import LogitCorrection

    clf = _classifier(32, real.n_features, seed=1)
    bias = np.array([0.2, 0.0, -0.1])
    lo = real.splits["val"][0] + 1700
    hi = lo + 600  # this slice of 2023 holds a data gap (two env episodes)
    probs, ok = _offline_probs(real, clf, bias, lo, hi)
    tau = float(np.quantile(probs[ok].max(axis=1), 0.6))
    rule = DecisionRule("confidence", tau, 6)
    offline = rule_path(rule, probs, ok)
    loaded = LoadedClassifier(clf, LogitCorrection(bias), LabelSpec(), "core17", 32, {}, rule)
    market, _ = load_market("btc1h", "core17", 32)
    env = TradingEnv(market, (lo, hi), fee_bps=10.0, slippage_bps=2.0, max_drawdown=None)
    assert len(env.episode_starts()) >= 2 and (~ok).any()
    bt = run_env(ClassifierPolicy(loaded), env, "rule", periods_per_year=8760)
    ok[-1] = False  # the env's last decision bar is hi - 2: bar t + 1 must lie in the split
    np.testing.assert_array_equal(bt.positions, offline[ok] - 1.0)
    argmax_path = rule_path(ARGMAX, probs, ok)
    changes = lambda a: int((np.diff(a[ok]) != 0).sum())  # noqa: E731
    assert 3 < changes(offline) < changes(argmax_path)  # the rule trades, and less than argmax
    env2 = TradingEnv(market, (lo, hi), fee_bps=10.0, slippage_bps=2.0, max_drawdown=None)
    bt_arg = run_env(
        ClassifierPolicy(loaded, use_rule=False), env2, "argmax", periods_per_year=8760
    )
    np.testing.assert_array_equal(bt_arg.positions, argmax_path[ok] - 1.0)


def test_env_backtest_with_the_rule_equals_the_offline_replay(real):
    from supervised.env_backtest import env_backtest

    lo, hi = real.splits["val"]
    hi = min(hi, len(real.close) - 1)
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([0.5, 0.5, 0.5], size=hi - lo)
    ok = real.obs_ok[lo:hi] & real.can_step[lo:hi]
    rule = DecisionRule("confidence", 0.8, 12)
    acts = np.full(len(real.close), 1)
    acts[lo:hi] = rule_path(rule, probs, ok)
    by_bar = np.full((len(real.close), 3), np.nan)
    by_bar[lo:hi] = probs
    via_obs = env_backtest(real, np.full(len(real.close), 1), "val", probs_by_bar=by_bar, rule=rule)
    replay = env_backtest(real, acts, "val")
    assert via_obs == replay
    assert 10 < via_obs["n_trades"] < 2000
