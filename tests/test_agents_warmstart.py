"""PPO warm start from a supervised checkpoint: config adoption, critic warm-up, and the CLI end
to end on real BTC data (probabilities equal the classifier's; base frozen; LoRA + heads learn)."""

from __future__ import annotations

import hashlib
import json

import gymnasium as gym
import numpy as np
import pytest
import torch
import yaml
from stable_baselines3 import PPO

from agents.training.config import resolve_config
from agents.transfer.policy_surgery import load_into_ppo
from agents.transfer.warm_start import (
    CriticWarmupCallback,
    WarmStartError,
    actor_parameters,
    prepare_warm_start,
    refreeze,
)
from envs.features import RobustNormaliser
from policies import TransformerExtractor, make_config
from supervised.checkpoint import load_checkpoint, save_checkpoint
from supervised.labels import LabelSpec
from supervised.logit_correction import LogitCorrection
from supervised.model import Classifier

W, F = 16, 5


def _checkpoint(tmp_path, **model_overrides):
    torch.manual_seed(0)
    model = Classifier(make_config("cpu", window=W, n_features=F, **model_overrides))
    names = [f"f{i}" for i in range(F)]
    norm = RobustNormaliser().fit(np.random.default_rng(0).standard_normal((50, F)))
    norm.feature_names = names
    return save_checkpoint(
        tmp_path / "model.pt",
        model,
        env="btc1h",
        feature_set="flagtrader60",
        feature_names=names,
        label_spec=LabelSpec("forward_sharpe"),
        split={},
        normaliser=norm.to_dict(),
        correction=LogitCorrection(np.array([0.2, 0.0, -0.1]), "balanced_accuracy"),
        loss={"name": "none"},
        class_prior=[0.3, 0.4, 0.3],
        costs={"fee_bps": 10.0, "slippage_bps": 2.0, "funding": True},
        preset="cpu",
    )


def test_prepare_adopts_the_checkpoint_layout_and_fine_tuning_settings(tmp_path, capsys):
    path = _checkpoint(tmp_path, d_model=16, n_heads=2)
    # a run configured with another window than the checkpoint's: the checkpoint's layout wins
    cfg = resolve_config("ppo", "btc1h", cli={"env": {"window": 32}})
    loaded = prepare_warm_start(path, cfg)
    assert (cfg.env.feature_set, cfg.env.window) == ("flagtrader60", W)
    assert cfg.policy.preset == "cpu" and cfg.policy.dropout == 0.0
    assert cfg.policy.extractor_kwargs == {
        "d_model": 16,
        "lora_rank": 8,
        "lora_alpha": 16.0,
        "lora_targets": ["q", "v"],
    }
    assert (cfg.hyper.learning_rate, cfg.hyper.clip_range, cfg.hyper.target_kl) == (1e-4, 0.1, 0.02)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert cfg.warm_start.checkpoint == str(path) and cfg.warm_start.checkpoint_sha256 == digest
    assert loaded.sha256 == digest and loaded.normaliser.feature_names == [
        f"f{i}" for i in range(F)
    ]
    yaml.safe_dump(cfg.to_dict())  # the adapted config stays YAML-safe (no tuples)
    assert "env.window 32 -> 16" in capsys.readouterr().out

    cfg = resolve_config("ppo", "btc1h", cli={"warm_start": {"lora_rank": 0}})
    with pytest.raises(WarmStartError, match="needs LoRA adapters"):
        prepare_warm_start(path, cfg)
    cfg = resolve_config("ppo", "btc1h", cli={"policy": {"net_arch": {"pi": [8], "vf": [8]}}})
    with pytest.raises(WarmStartError, match=r"net_arch \{pi: \[\], vf: \[...\]\}"):
        prepare_warm_start(path, cfg)


class _NoisyEnv(gym.Env):
    """Random observations and rewards of the right shapes: gradients flow everywhere."""

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(-5, 5, (W * F + 4,), np.float32)
        self.action_space = gym.spaces.Discrete(3)
        self.rng = np.random.default_rng(0)

    def _obs(self):
        return self.rng.standard_normal(W * F + 4).astype(np.float32)

    def reset(self, *, seed=None, options=None):
        return self._obs(), {}

    def step(self, action):
        return self._obs(), float(self.rng.standard_normal() + (action == 2)), False, False, {}


def test_critic_warmup_trains_only_the_value_head_then_thaws_the_actor(tmp_path):
    path = _checkpoint(tmp_path)
    ppo = PPO(
        "MlpPolicy",
        _NoisyEnv(),
        n_steps=32,
        batch_size=32,
        n_epochs=2,
        seed=0,
        device="cpu",
        learning_rate=1e-2,
        policy_kwargs=dict(
            features_extractor_class=TransformerExtractor,
            features_extractor_kwargs=dict(window=W, n_features=F, lora_rank=4),
            net_arch=dict(pi=[], vf=[16]),
            ortho_init=False,
        ),
    )
    load_into_ppo(ppo, path, freeze=True, train_action_head=True)
    pol = ppo.policy
    snap = {n: p.detach().clone() for n, p in pol.named_parameters()}
    cb = CriticWarmupCallback(actor_parameters(pol), warmup_steps=64)
    assert {n for n, p in pol.named_parameters() if any(p is q for q in cb.actor_params)} == {
        n for n in snap if "lora_" in n or n.startswith("action_net.")
    }

    def changed(prefix):
        return {
            n
            for n, p in pol.named_parameters()
            if n.startswith(prefix) and not torch.equal(p, snap[n])
        }

    ppo.learn(64, callback=cb)  # two updates, both in the warm-up (rollouts end at 32, 64)
    assert changed("value_net") and changed("mlp_extractor.value_net")
    assert not changed("features_extractor") and not changed("action_net")
    ppo.learn(64, callback=cb, reset_num_timesteps=False)  # rollout ends at 96 >= 64: thawed
    assert changed("action_net") and all("lora_" in n for n in changed("features_extractor"))
    assert any("lora_B" in n for n in changed("features_extractor"))
    base = [n for n in snap if n.startswith("features_extractor.") and "lora_" not in n]
    assert base and not any(n in changed("features_extractor") for n in base)

    # a resumed run loads a zip, which does not keep requires_grad: refreeze restores the split
    trainable = sorted(n for n, p in pol.named_parameters() if p.requires_grad)
    ppo.save(tmp_path / "ckpt.zip")
    again = PPO.load(tmp_path / "ckpt.zip", device="cpu")
    assert all(p.requires_grad for p in again.policy.parameters())
    assert sorted(refreeze(again, resolve_config("ppo", "btc1h"))) == trainable


# ----------------------------------------------------------------------------- end to end (CLI)
TINY = {
    "env": {"n_envs": 4, "episode_length": 64},
    "ppo": {"n_steps": 32, "batch_size": 64, "n_epochs": 2},
    "train": {
        "eval_freq": 1_000_000,
        "n_eval_episodes": 1,
        "checkpoint_freq": 1_000_000,
        "torch_threads": 1,
    },
    "warm_start": {"critic_warmup_steps": 256, "learning_rate": 3e-3},
}


@pytest.mark.slow
def test_cli_warm_start_end_to_end(tmp_path):
    from agents import ppo
    from supervised.train import main as train_supervised

    sup = tmp_path / "sup"
    train_supervised(
        [
            "--env",
            "btc1h",
            "--epochs",
            "1",
            "--max-train-samples",
            "300",
            "--max-val-bars",
            "200",
            "--threads",
            "1",
            "--run-dir",
            str(sup),
        ]
    )
    ckpt = sup / "model.pt"
    clf = load_checkpoint(ckpt)
    assert clf.payload["costs"] == {"fee_bps": 10.0, "slippage_bps": 2.0, "funding": True}
    assert clf.label_spec.params["cost_bps"] == 24.0  # the env's round trip: 2 x (10 + 2) bps
    cfg_file = tmp_path / "tiny.yml"
    cfg_file.write_text(yaml.safe_dump(TINY))
    args = [
        "--env",
        "btc1h",
        "--seed",
        "1",
        "--no-progress",
        "--config",
        str(cfg_file),
        "--warm-start",
        str(ckpt),
        "--timesteps",
        "384",
    ]

    # 1. built through the CLI, before learning: the policy is the corrected classifier
    session = ppo.setup([*args, "--run-dir", str(tmp_path / "probe")])
    venv = session.training.train_env
    obs = [venv.reset()]
    for _ in range(40):  # random actions: non-flat account states too (the classifier ignores them)
        obs.append(venv.step(np.random.default_rng(len(obs)).integers(0, 3, venv.num_envs))[0])
    obs_t = torch.as_tensor(np.concatenate(obs))
    policy = session.model.policy
    with torch.no_grad():
        probs = policy.get_distribution(obs_t).distribution.probs
        expected = torch.softmax(clf.corrected_logits(obs_t), dim=-1)
    torch.testing.assert_close(probs, expected, atol=1e-5, rtol=0)
    assert session.training.cfg.policy.extractor_kwargs["lora_rank"] == 8
    initial = {n: p.detach().clone() for n, p in policy.state_dict().items()}
    session.training.close()

    # 2. the real run: learn (critic warm-up for 2 of 3 updates), save, validate
    run = ppo.main([*args, "--run-dir", str(tmp_path / "run")])
    final = PPO.load(run / "final_model.zip", device="cpu").policy.state_dict()
    base = {k: v for k, v in clf.model.backbone.state_dict().items()}
    backbone = {
        k.removeprefix("features_extractor.backbone."): v
        for k, v in final.items()
        if k.startswith("features_extractor.backbone.")
    }
    for key, value in base.items():  # frozen: bit for bit the classifier's weights
        mapped = (
            key
            if key in backbone
            else key.replace(".weight", ".base.weight").replace(".bias", ".base.bias")
        )
        torch.testing.assert_close(backbone[mapped], value, atol=0, rtol=0)
    lora_b = [k for k in final if k.startswith("features_extractor.") and k.endswith("lora_B")]
    assert lora_b and any(final[k].abs().max() > 0 for k in lora_b)  # adapters learned
    for key in ("value_net.weight", "mlp_extractor.value_net.0.weight", "action_net.weight"):
        assert not torch.equal(final[key], initial[key]), key

    config = yaml.safe_load((run / "config.yaml").read_text())
    digest = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert config["warm_start"]["checkpoint"] == str(ckpt)
    assert config["warm_start"]["checkpoint_sha256"] == digest
    assert config["ppo"]["target_kl"] == 0.02 and config["ppo"]["clip_range"] == 0.1
    meta = json.loads((run / "meta.json").read_text())
    assert meta["warm_start"] == {"checkpoint": str(ckpt.resolve()), "sha256": digest}
    assert json.loads((run / "normaliser.json").read_text()) == clf.payload["normaliser"]
    assert json.loads((run / "metrics.json").read_text())["num_timesteps"] == 384
