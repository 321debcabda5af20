"""TransformerBackbone / TransformerExtractor: shapes, patch layout, errors, presets, SB3 PPO/SAC."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO, SAC
from torch import nn

from policies import (
    PRESETS,
    TransformerBackbone,
    TransformerExtractor,
    make_config,
    ppo_policy_kwargs,
)

WINDOW, N_FEATURES, N_ACCOUNT = 8, 3, 4
OBS_DIM = WINDOW * N_FEATURES + N_ACCOUNT  # 28


class RandomObsEnv(gym.Env):
    """Random observations of the lab's flat layout; reward favours the action matching obs[0]."""

    def __init__(self, continuous: bool = False, episode_len: int = 32) -> None:
        self.observation_space = gym.spaces.Box(-3.0, 3.0, (OBS_DIM,), np.float32)
        self.action_space = (
            gym.spaces.Box(-1.0, 1.0, (1,), np.float32) if continuous else gym.spaces.Discrete(3)
        )
        self.continuous = continuous
        self.episode_len = episode_len
        self._t = 0
        self._obs = np.zeros(OBS_DIM, np.float32)

    def _draw(self) -> np.ndarray:
        self._obs = self.np_random.standard_normal(OBS_DIM).astype(np.float32)
        return self._obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return self._draw(), {}

    def step(self, action):
        a = float(np.asarray(action).reshape(-1)[0]) if self.continuous else float(action) - 1.0
        reward = a * float(np.sign(self._obs[0]))
        self._t += 1
        return self._draw(), reward, False, self._t >= self.episode_len, {}


@pytest.fixture
def one_thread():
    """SB3 runs in one torch thread: tiny ops on a shared 2-core box are slower with two."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_obs(batch: int, cfg=None, seed: int = 0) -> torch.Tensor:
    dim = OBS_DIM if cfg is None else cfg.obs_dim
    return torch.randn(batch, dim, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(
    "overrides, out_dim",
    [
        (dict(patch_len=1, pool="last"), 64),  # one token per bar
        (dict(patch_len=4, pool="mean"), 64),
        (dict(patch_len=3, pool="last", features_dim=16), 16),  # 8 bars -> 3 padded tokens
        (dict(patch_len=8, n_layers=2, features_dim=None), 32 + N_ACCOUNT),  # raw concat
        (dict(n_account=0, features_dim=None), 32),
        (dict(lora_rank=4, lora_targets=("q", "k", "v", "out", "fc1", "fc2")), 64),
    ],
)
def test_backbone_and_extractor_shapes(overrides: dict, out_dim: int) -> None:
    cfg = make_config("cpu", window=WINDOW, n_features=N_FEATURES, **overrides)
    assert cfg.out_dim == out_dim
    obs = make_obs(5, cfg)
    out = TransformerBackbone(cfg)(obs)
    assert out.shape == (5, out_dim) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    space = gym.spaces.Box(-np.inf, np.inf, (cfg.obs_dim,), np.float32)
    ext = TransformerExtractor(space, window=WINDOW, n_features=N_FEATURES, **overrides)
    assert ext.features_dim == out_dim
    assert ext(obs).shape == (5, out_dim)


def test_patch_tokens_layout_and_left_padding() -> None:
    """Token j holds bars [j*P, (j+1)*P) row-major; a short window is zero-padded at the oldest end."""
    cfg = make_config("cpu", window=5, n_features=2, patch_len=2, n_account=1)
    model = TransformerBackbone(cfg)
    seen: dict[str, torch.Tensor] = {}

    def grab(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        seen["x"] = inputs[0]

    model.embed.register_forward_hook(grab)
    bars = torch.arange(1.0, 11.0)  # bar b (0 = oldest) has features (2b+1, 2b+2)
    model(torch.cat([bars, torch.tensor([9.0])]).unsqueeze(0))
    expected = torch.tensor([[[0.0, 0.0, 1.0, 2.0], [3.0, 4.0, 5.0, 6.0], [7.0, 8.0, 9.0, 10.0]]])
    assert torch.equal(seen["x"], expected)  # (B=1, N=3 tokens, P*F=4)


def test_account_state_is_joined_after_pooling() -> None:
    cfg = make_config("cpu", window=WINDOW, n_features=N_FEATURES, features_dim=None)
    model = TransformerBackbone(cfg)
    obs = make_obs(3)
    out = model(obs)
    assert torch.equal(out[:, -N_ACCOUNT:], obs[:, -N_ACCOUNT:])
    changed = obs.clone()
    changed[:, -N_ACCOUNT:] += 1.0
    assert torch.equal(model(changed)[:, :-N_ACCOUNT], out[:, :-N_ACCOUNT])


@pytest.mark.parametrize("n_layers", [1, 2])
def test_last_pool_shortcut_equals_full_computation(n_layers: int) -> None:
    """The final block computing only the newest token gives that token's full-computation value."""
    cfg = make_config("cpu", window=WINDOW, n_features=N_FEATURES, patch_len=2, n_layers=n_layers)
    torch.manual_seed(7)
    model = TransformerBackbone(cfg)
    obs = make_obs(4)
    x = obs[:, : WINDOW * N_FEATURES].reshape(4, 4, 2 * N_FEATURES)  # 4 tokens of 2 bars
    x = model.embed(x) + model.pos
    for block in model.blocks:
        x = block(x)  # every token, every block
    full = torch.cat([model.ln_f(x)[:, -1], obs[:, -N_ACCOUNT:]], dim=1)
    full = torch.nn.functional.gelu(model.proj(full))
    torch.testing.assert_close(model(obs), full, rtol=0, atol=1e-6)


def test_pool_last_ignores_nothing_in_the_window() -> None:
    """Attention is non-causal, so "last" pooling still sees the oldest bar."""
    model = TransformerBackbone(make_config("cpu", window=WINDOW, n_features=N_FEATURES))
    obs = make_obs(2)
    moved = obs.clone()
    moved[:, 0] += 1.0  # oldest bar, first feature
    assert not torch.allclose(model(moved), model(obs))


def test_bad_observation_width_names_the_numbers() -> None:
    model = TransformerBackbone(make_config("cpu", window=WINDOW, n_features=N_FEATURES))
    with pytest.raises(ValueError, match=r"\(batch, 8\*3 \+ 4\) = \(batch, 28\), got \(2, 29\)"):
        model(torch.zeros(2, 29))
    with pytest.raises(ValueError, match=r"got \(28,\)"):
        model(torch.zeros(28))


def test_extractor_rejects_mismatched_space_and_dropout() -> None:
    space = gym.spaces.Box(-1.0, 1.0, (OBS_DIM + 1,), np.float32)
    with pytest.raises(ValueError, match=r"8\*3 \+ 4 = 28"):
        TransformerExtractor(space, window=WINDOW, n_features=N_FEATURES)
    good = gym.spaces.Box(-1.0, 1.0, (OBS_DIM,), np.float32)
    with pytest.raises(ValueError, match="dropout=0.1 .* PPO's probability ratio"):
        TransformerExtractor(good, window=WINDOW, n_features=N_FEATURES, dropout=0.1)
    ext = TransformerExtractor(
        good, window=WINDOW, n_features=N_FEATURES, dropout=0.1, allow_dropout=True
    )
    assert ext.config.dropout == 0.1


def test_config_errors() -> None:
    with pytest.raises(ValueError, match="unknown transformer preset 'gpu'"):
        make_config("gpu", window=8, n_features=3)
    with pytest.raises(ValueError, match=r"unknown TransformerConfig override\(s\) \['d_modle'\]"):
        make_config("cpu", window=8, n_features=3, d_modle=64)
    with pytest.raises(ValueError, match="n_heads=3 must divide d_model=32"):
        make_config("cpu", window=8, n_features=3, n_heads=3)
    with pytest.raises(ValueError, match="pool='max'"):
        make_config("cpu", window=8, n_features=3, pool="max")
    assert set(PRESETS) == {"cpu", "flagtrader"}
    ft = make_config("flagtrader", window=32, n_features=60)
    assert (ft.d_model, ft.n_layers, ft.n_heads, ft.d_ff, ft.lora_rank) == (768, 12, 8, 3072, 16)


def test_extractor_freeze_and_counts() -> None:
    space = gym.spaces.Box(-1.0, 1.0, (OBS_DIM,), np.float32)
    ext = TransformerExtractor(
        space, window=WINDOW, n_features=N_FEATURES, lora_rank=2, freeze_base_weights=True
    )
    counts = ext.parameter_counts()
    lora = 2 * (2 * 32 + 32 * 2)  # q and v of the single block
    proj = (32 + N_ACCOUNT) * 64 + 64
    assert counts["lora"] == lora
    assert counts["trainable"] == lora + proj
    assert counts["total"] == sum(p.numel() for p in ext.parameters())


def _extractor_kwargs(**kw) -> dict:
    return dict(window=WINDOW, n_features=N_FEATURES, **kw)


def test_ppo_policy_kwargs_shape() -> None:
    kw = ppo_policy_kwargs(32, 17, vf=(32,), lora_rank=4)
    assert kw["features_extractor_class"] is TransformerExtractor
    assert kw["features_extractor_kwargs"] == dict(
        window=32, n_features=17, preset="cpu", lora_rank=4
    )
    assert kw["net_arch"] == dict(pi=[], vf=[32])
    assert kw["ortho_init"] is False and kw["optimizer_kwargs"] == dict(foreach=True)


@pytest.mark.slow
def test_ppo_learns_and_round_trips(tmp_path, one_thread) -> None:
    env = RandomObsEnv()
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=64,
        batch_size=32,
        n_epochs=2,
        seed=0,
        device="cpu",
        policy_kwargs=ppo_policy_kwargs(WINDOW, N_FEATURES, vf=(16,), lora_rank=2),
    )
    assert model.policy.action_net.in_features == 64  # pi=[]: straight on the features
    before = model.policy.features_extractor.backbone.embed.weight.detach().clone()
    model.learn(256)
    assert not torch.equal(model.policy.features_extractor.backbone.embed.weight, before)
    obs = make_obs(20, seed=3).numpy()
    actions, _ = model.predict(obs, deterministic=True)
    model.save(tmp_path / "ppo")
    loaded = PPO.load(tmp_path / "ppo", device="cpu")
    again, _ = loaded.predict(obs, deterministic=True)
    np.testing.assert_array_equal(actions, again)
    with torch.no_grad():
        t = torch.as_tensor(obs)
        p1 = model.policy.get_distribution(t).distribution.probs
        p2 = loaded.policy.get_distribution(t).distribution.probs
    assert torch.equal(p1, p2)


@pytest.mark.slow
def test_sac_learns_and_round_trips(tmp_path, one_thread) -> None:
    env = RandomObsEnv(continuous=True)
    model = SAC(
        "MlpPolicy",
        env,
        learning_starts=64,
        batch_size=32,
        buffer_size=1000,
        seed=0,
        train_freq=32,
        gradient_steps=4,
        device="cpu",  # 24 gradient steps: enough to move weights
        policy_kwargs=dict(
            features_extractor_class=TransformerExtractor,
            features_extractor_kwargs=_extractor_kwargs(),
            net_arch=[16],
        ),
    )
    before = model.actor.features_extractor.backbone.embed.weight.detach().clone()
    model.learn(256)
    assert not torch.equal(model.actor.features_extractor.backbone.embed.weight, before)
    obs = make_obs(20, seed=4).numpy()
    actions, _ = model.predict(obs, deterministic=True)
    assert actions.shape == (20, 1) and np.all(np.abs(actions) <= 1.0)
    model.save(tmp_path / "sac")
    loaded = SAC.load(tmp_path / "sac", device="cpu")
    again, _ = loaded.predict(obs, deterministic=True)
    np.testing.assert_array_equal(actions, again)


def test_warm_start_classifier_into_ppo_gives_identical_probabilities() -> None:
    """Backbone keys are stable: classifier (backbone + Linear(features_dim, 3)) -> PPO policy."""
    torch.manual_seed(5)
    cfg = make_config("cpu", window=WINDOW, n_features=N_FEATURES, lora_rank=2)
    backbone = TransformerBackbone(cfg)
    head = nn.Linear(cfg.out_dim, 3)
    model = PPO(
        "MlpPolicy",
        RandomObsEnv(),
        n_steps=64,
        seed=1,
        device="cpu",
        policy_kwargs=dict(
            features_extractor_class=TransformerExtractor,
            features_extractor_kwargs=_extractor_kwargs(lora_rank=2),
            net_arch=dict(pi=[], vf=[16]),
        ),
    )
    model.policy.features_extractor.backbone.load_state_dict(backbone.state_dict())
    model.policy.action_net.load_state_dict(head.state_dict())
    obs = make_obs(10, seed=6)
    with torch.no_grad():
        expected = torch.softmax(head(backbone(obs)), dim=1)
        got = model.policy.get_distribution(obs).distribution.probs
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_policies_never_imports_envs() -> None:
    import subprocess
    import sys

    code = "import sys, policies; assert 'envs' not in sys.modules, sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
