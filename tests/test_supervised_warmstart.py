"""Checkpoint layout checks and the PPO warm start (probabilities equal the classifier's)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO

from agents.transfer.policy_surgery import load_into_ppo
from policies import TransformerExtractor, make_config
from supervised.checkpoint import load_checkpoint, save_checkpoint
from supervised.labels import LabelSpec
from supervised.logit_correction import LogitCorrection
from supervised.model import Classifier, WindowSamples

W, F = 16, 5
BIAS = np.array([0.5, 0.0, -0.3])


class _ObsOnlyEnv(gym.Env):
    """Just the spaces of the trading env's flat observation; PPO needs an env to build."""

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (W * F + 4,), np.float32)
        self.action_space = gym.spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        return np.zeros(W * F + 4, np.float32), {}

    def step(self, action):
        return np.zeros(W * F + 4, np.float32), 0.0, True, False, {}


def _save(tmp_path, feature_set="core17"):
    torch.manual_seed(0)
    model = Classifier(make_config("cpu", window=W, n_features=F))
    with torch.no_grad():  # make the function far from uniform so equality is not trivial
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    path = save_checkpoint(
        tmp_path / "model.pt",
        model,
        env="btc1h",
        feature_set=feature_set,
        feature_names=[f"f{i}" for i in range(F)],
        label_spec=LabelSpec("forward_sharpe"),
        split={"train": ["2018-01-01", "2023-01-01"]},
        normaliser={},
        correction=LogitCorrection(BIAS, "balanced_accuracy"),
        loss={"name": "none"},
        class_prior=[0.3, 0.4, 0.3],
    )
    return model, path


def _ppo(lora_rank: int):
    kwargs = dict(
        features_extractor_class=TransformerExtractor,
        features_extractor_kwargs=dict(window=W, n_features=F, lora_rank=lora_rank),
        net_arch=dict(pi=[], vf=[32]),
        share_features_extractor=True,
        ortho_init=False,
    )
    return PPO(
        "MlpPolicy",
        _ObsOnlyEnv(),
        policy_kwargs=kwargs,
        n_steps=16,
        batch_size=16,
        seed=0,
        device="cpu",
    )


def test_checkpoint_roundtrip_and_refusals(tmp_path):
    model, path = _save(tmp_path)
    loaded = load_checkpoint(path, feature_set="core17", window=W)
    obs = torch.randn(7, W * F + 4)
    torch.testing.assert_close(loaded.model(obs), model.eval()(obs))
    assert loaded.correction.bias.tolist() == BIAS.tolist()
    with pytest.raises(
        ValueError, match=r"feature_set: checkpoint 'core17', requested 'flagtrader60'"
    ):
        load_checkpoint(path, feature_set="flagtrader60")
    with pytest.raises(ValueError, match=r"window: checkpoint 16, requested 32"):
        load_checkpoint(tmp_path, window=32)
    with pytest.raises(FileNotFoundError, match="model.pt"):
        load_checkpoint(tmp_path / "nowhere")


def test_classifier_ignores_account_state_and_gathers_windows():
    torch.manual_seed(1)
    model = Classifier(make_config("cpu", window=W, n_features=F)).eval()
    feats = np.random.default_rng(0).standard_normal((50, F)).astype(np.float32)
    s = WindowSamples(feats, np.array([15, 30, 49]), np.array([0, 1, 2]), W)
    obs = s.obs()
    assert obs.shape == (3, W * F + 4)
    # row-major window, oldest first: bar 30's window is bars 15..30
    np.testing.assert_array_equal(obs[1, : W * F].numpy(), feats[15:31].reshape(-1))
    assert (obs[:, W * F :] == 0).all()
    shifted = obs.clone()
    shifted[:, W * F :] = torch.tensor([1.0, 0.05, -0.1, 0.3])  # a long position, in profit
    torch.testing.assert_close(model(shifted), model(obs))


@pytest.mark.parametrize("lora_rank", [0, 4])
def test_warm_start_probabilities_equal_classifier_softmax(tmp_path, lora_rank):
    model, path = _save(tmp_path)
    ppo = _ppo(lora_rank)
    summary = load_into_ppo(ppo, path, freeze=lora_rank > 0)
    obs = torch.randn(64, W * F + 4)
    obs[:, W * F :] = 0.0  # the classifier's sample layout (flat account state)
    with torch.no_grad():
        probs = ppo.policy.get_distribution(obs).distribution.probs
        expected = torch.softmax(model.eval()(obs) + torch.tensor(BIAS, dtype=torch.float32), -1)
    torch.testing.assert_close(probs, expected, atol=1e-5, rtol=0)
    assert (expected.argmax(1).bincount(minlength=3) > 0).sum() >= 2  # not a trivial function
    if lora_rank:
        assert summary["trainable"] and all(
            ("lora_" in n) or n.startswith(("mlp_extractor.value_net", "value_net"))
            for n in summary["trainable"]
        )
        assert not ppo.policy.action_net.weight.requires_grad


def test_warm_start_refusals(tmp_path):
    _, path = _save(tmp_path)
    with pytest.raises(ValueError, match="no LoRA adapters"):
        load_into_ppo(_ppo(0), path, freeze=True)
    ppo = PPO(
        "MlpPolicy",
        _ObsOnlyEnv(),
        policy_kwargs=dict(
            features_extractor_class=TransformerExtractor,
            features_extractor_kwargs=dict(window=W, n_features=F),
            net_arch=dict(pi=[8], vf=[8]),
        ),
        n_steps=16,
        batch_size=16,
        device="cpu",
    )
    with pytest.raises(ValueError, match="pi=\\[\\]"):
        load_into_ppo(ppo, path)
