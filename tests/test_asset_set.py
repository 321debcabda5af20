"""The shared-weight asset extractor (policies.asset_set): permutation equivariance, any N, the
same score -> weight map as the env's ``action_map="logits"``, PPO on the portfolio env."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecEnv

from envs.market import MarketData
from envs.portfolio import PortfolioEnv, Universe
from envs.portfolio.batched import BatchedPortfolioEnv
from envs.portfolio.weights import to_weights
from policies.asset_set import AssetSetNet, AssetSetPolicy, n_assets_of, scores_to_weights

W, F = 4, 3


def _obs(n_assets: int, batch: int = 5, seed: int = 0, tradable: np.ndarray | None = None):
    """Random portfolio observations: per asset W*F features, a weight, a tradable flag; then dd."""
    rng = np.random.default_rng(seed)
    blocks = rng.normal(size=(batch, n_assets, W * F + 2)).astype(np.float32)
    blocks[:, :, -1] = 1.0 if tradable is None else tradable
    dd = rng.uniform(0, 0.3, (batch, 1)).astype(np.float32)
    return torch.from_numpy(np.concatenate([blocks.reshape(batch, -1), dd], axis=1))


def _permute(obs: torch.Tensor, n_assets: int, perm: list[int]) -> torch.Tensor:
    assets = obs[:, :-1].reshape(obs.shape[0], n_assets, -1)[:, perm]
    return torch.cat([assets.reshape(obs.shape[0], -1), obs[:, -1:]], dim=1)


def _net(mixer: str, long_only: bool = True) -> AssetSetNet:
    torch.manual_seed(0)
    net = AssetSetNet(W, F, long_only=long_only, mixer=mixer, d_model=8)
    for head in (net.score, net.cash):  # the zero init would make every score equal
        torch.nn.init.normal_(head.weight)
    return net


@pytest.mark.parametrize("mixer", ["mean", "attention"])
@pytest.mark.parametrize("long_only", [True, False])
def test_permuting_assets_permutes_scores_and_keeps_cash_and_value(mixer, long_only):
    net = _net(mixer, long_only)
    tradable = np.array([1, 0, 1, 1], dtype=np.float32)
    obs = _obs(4, tradable=tradable)
    perm = [2, 0, 3, 1]
    with torch.no_grad():
        scores, value = net(obs)
        p_scores, p_value = net(_permute(obs, 4, perm))
    torch.testing.assert_close(p_scores[:, :4], scores[:, perm], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(p_value, value, rtol=1e-5, atol=1e-6)
    if long_only:
        torch.testing.assert_close(p_scores[:, 4], scores[:, 4], rtol=1e-5, atol=1e-6)
    assert scores.std(dim=1).min() > 1e-3  # the scores differ across assets: a real check
    w = net.target_weights(obs)
    p_w = net.target_weights(_permute(obs, 4, perm))
    torch.testing.assert_close(p_w, w[:, perm], rtol=1e-5, atol=1e-6)
    assert torch.all(w[:, 1] == 0.0)  # the member that is not tradable gets nothing


@pytest.mark.parametrize("mixer", ["mean", "attention"])
def test_one_network_runs_for_any_number_of_assets(mixer):
    net = _net(mixer)
    with torch.no_grad():
        for n in (1, 2, 5):
            scores, value = net(_obs(n))
            assert scores.shape == (5, n + 1) and value.shape == (5, 1)
    # an asset's features change only its own score directly, and the others' through the mix
    obs = _obs(3)
    bumped = obs.clone()
    bumped[:, : W * F] += 1.0
    with torch.no_grad():
        assert not torch.allclose(net(bumped)[0][:, 0], net(obs)[0][:, 0])


def test_scores_to_weights_equals_the_envs_logits_map():
    rng = np.random.default_rng(3)
    tradable = np.array([[1, 1, 0], [0, 0, 0], [1, 1, 1]], dtype=np.float64)
    for long_only in (True, False):
        scores = rng.normal(0, 3, (3, 4 if long_only else 3))
        mode = "long_only" if long_only else "long_short"
        env_w = to_weights(scores.astype(np.float32), tradable, mode, 1.0, "logits")
        torch_w = scores_to_weights(
            torch.tensor(scores.astype(np.float32)).double(), torch.tensor(tradable), long_only
        ).numpy()
        np.testing.assert_allclose(torch_w, env_w, rtol=1e-6, atol=1e-9)
        assert np.all(env_w[:, 2][:1] == 0.0) and np.all(env_w[1] == 0.0)
        if long_only:
            assert np.all(env_w.sum(1) < 1.0)  # the cash logit always keeps a share
        else:
            assert np.all(np.abs(env_w).sum(1) <= 1.0 + 1e-12)
    # long-only with every logit equal and 2 tradable of 3: a third each to the two and to cash
    w = to_weights(np.zeros((1, 4), np.float32), tradable[:1], "long_only", 1.0, "logits")
    np.testing.assert_allclose(w, [[1 / 3, 1 / 3, 0.0]])


def test_n_assets_of_refuses_a_layout_that_does_not_divide():
    assert n_assets_of(3 * (W * F + 2) + 1, W, F) == 3
    with pytest.raises(ValueError, match="is not N \\* \\(window \\* n_features"):
        n_assets_of(3 * (W * F + 2), W, F)


def _market(seed: int, n: int = 300) -> MarketData:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    idx = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC")
    candles = pd.DataFrame(
        {"open": open_, "high": np.maximum(open_, close) * 1.001,
         "low": np.minimum(open_, close) * 0.999, "close": close}, index=idx
    )  # fmt: skip
    ret = np.log(candles["close"]).diff()
    feats = pd.DataFrame({"r1": ret, "r2": ret.shift(1), "r3": ret.shift(2)}, index=candles.index)
    return MarketData.build(candles, feats, None, window=W, freq="1h")


class _SB3Portfolio(BatchedPortfolioEnv, VecEnv):
    pass


def test_ppo_trains_the_asset_policy_and_its_weights_load_for_another_n():
    """PPO learns on a 2-asset universe; the same state_dict drives a 3-asset policy."""
    opts = {"mode": "long_only", "action_map": "logits", "episode_length": 40}
    uni2 = Universe.align([_market(s) for s in (1, 2)], ["a", "b"])
    venv = _SB3Portfolio(uni2, 4, seed=0, **opts)
    kwargs = {"window": W, "n_features": F}
    model = PPO(AssetSetPolicy, venv, n_steps=32, batch_size=64, n_epochs=2, seed=0,
                device="cpu", policy_kwargs=kwargs)  # fmt: skip
    before = {k: v.clone() for k, v in model.policy.state_dict().items()}
    model.learn(256)
    after = model.policy.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)  # it learned something
    assert model.policy.log_std.shape == (1,)
    assert all(n not in str(tuple(v.shape)) for v in after.values() for n in ("(2,", "(3,"))
    uni3 = Universe.align([_market(s) for s in (1, 2, 3)], ["a", "b", "c"])
    env3 = PortfolioEnv(uni3, **opts)
    model3 = PPO(AssetSetPolicy, env3, seed=0, device="cpu", policy_kwargs=kwargs)
    model3.policy.load_state_dict(after)
    obs, _ = env3.reset(seed=0)
    action, _ = model3.predict(obs, deterministic=True)
    assert action.shape == (4,)
    _, _, _, _, info = env3.step(action)
    assert np.all(info["weights"] >= 0) and info["weights"].sum() < 1.0


def test_choice_action_is_a_categorical_over_the_same_scores():
    """action_map='choice': Discrete(N + 1), one-hot weights; the policy's logits are the net's
    scores and the cash logit (no N-sized layer), so it also loads for another N."""
    w = to_weights(np.array([1, 3, 0]), np.array([[1, 1, 1], [1, 0, 1], [0, 1, 1]]), "long_only",
                   1.0, "choice")  # fmt: skip
    np.testing.assert_array_equal(w, [[0, 1, 0], [0, 0, 0], [0, 0, 0]])  # cash; untradable: 0
    with pytest.raises(ValueError, match="integer in \\[0, 3\\]"):
        to_weights(np.array([4]), np.ones((1, 3)), "long_only", 1.0, "choice")
    opts = {"mode": "long_only", "action_map": "choice", "episode_length": 40}
    uni2 = Universe.align([_market(s) for s in (1, 2)], ["a", "b"])
    venv = _SB3Portfolio(uni2, 4, seed=0, **opts)
    model = PPO(AssetSetPolicy, venv, n_steps=32, batch_size=64, n_epochs=1, seed=0,
                device="cpu", policy_kwargs={"window": W, "n_features": F})  # fmt: skip
    model.learn(128)
    obs = torch.as_tensor(venv.reset())
    with torch.no_grad():
        probs = model.policy.get_distribution(obs).distribution.probs
        scores, _ = model.policy.asset_net(obs)
    torch.testing.assert_close(probs, torch.softmax(scores, dim=1))
    assert not hasattr(model.policy, "log_std")
