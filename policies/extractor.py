"""``TransformerExtractor``: the transformer backbone as a stable-baselines3 features extractor.

Usage::

    policy_kwargs = dict(
        features_extractor_class=TransformerExtractor,
        features_extractor_kwargs=dict(window=32, n_features=17),  # preset="cpu" by default
        net_arch=dict(pi=[], vf=[64, 64]),   # pi=[]: action_net sits directly on the features
    )
    PPO("MlpPolicy", env, policy_kwargs=policy_kwargs)

Pitfalls:

* **SB3's ortho_init re-initialises the extractor.** ``ActorCriticPolicy`` (PPO/A2C) applies
  orthogonal init with gain sqrt(2) to every ``nn.Linear`` of the features extractor after it is
  built, replacing the backbone's own nanoGPT init (LoRA's A/B are plain parameters and are left
  alone, so B stays 0). Pass ``ortho_init=False`` in ``policy_kwargs`` to keep the module's own
  init, and always when you load weights before/instead of training from scratch. Loading a
  state dict *after* construction is unaffected. SAC/TD3 policies do not re-initialise.
* **Dropout must stay 0 inside PPO.** PPO's probability ratio compares the new policy with the
  rollout policy on the same observations; a random forward (dropout in train mode) makes the ratio
  noisy even at the first epoch. ``dropout > 0`` raises unless ``allow_dropout=True``.
* **Warm start.** Copy ``classifier.backbone.state_dict()`` into
  ``model.policy.features_extractor.backbone`` (same ``TransformerConfig`` -> same keys; see
  ``policies.transformer``) and the classifier head into ``model.policy.action_net``. With
  ``share_features_extractor=True`` (PPO's default) ``pi_features_extractor`` and
  ``vf_features_extractor`` are the same module, so the policy's own ``state_dict`` lists the
  weights three times; load into the backbone module, not by policy key names.
* **Adam on CPU.** torch's Adam defaults to a per-tensor Python loop on CPU and the transformer has
  ~3x the parameter tensors of a 64x64 MLP. ``optimizer_kwargs=dict(foreach=True)`` (set by
  ``ppo_policy_kwargs``) made PPO ~10% faster with the cpu preset (1,489 -> 1,644 env steps per
  CPU-second, bench/train_fps.py). Use one torch thread on small CPUs (bench/RESULTS.md).
* **Freezing.** ``freeze_base_weights=True`` calls ``freeze_base`` on the backbone, leaving only
  LoRA (+ LayerNorms with ``train_norms``) and the output projection ``proj`` trainable. SB3's
  optimiser still receives every parameter; frozen ones never get a gradient so Adam skips them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from policies.config import TransformerConfig, make_config
from policies.lora import count_parameters, freeze_base, lora_parameters
from policies.transformer import TransformerBackbone


class TransformerExtractor(BaseFeaturesExtractor):
    """SB3 features extractor wrapping ``TransformerBackbone``.

    Args:
        observation_space: flat ``Box`` of shape ``(window * n_features + n_account,)``.
        window: bars in the observation window (from the env config).
        n_features: features per bar (from the env's feature set: 15 for core17, 60 for
            flagtrader60).
        preset: architecture preset name in ``policies.PRESETS`` ("cpu" or "flagtrader").
        n_account: account-state values after the window (4 in this lab's envs).
        allow_dropout: permit ``dropout > 0`` (off-policy or supervised use only).
        freeze_base_weights: freeze everything but LoRA and ``proj`` (see module docstring).
        train_norms: with ``freeze_base_weights``, also train the LayerNorms.
        **overrides: any other ``TransformerConfig`` field (d_model, n_layers, lora_rank, ...).

    Raises:
        ValueError: observation space of the wrong kind or size (names the numbers), dropout > 0
            without ``allow_dropout``, unknown preset or override.
    """

    def __init__(
        self,
        observation_space: gym.Space,
        window: int,
        n_features: int,
        preset: str = "cpu",
        n_account: int = 4,
        allow_dropout: bool = False,
        freeze_base_weights: bool = False,
        train_norms: bool = False,
        **overrides: Any,
    ) -> None:
        config = make_config(
            preset, window=window, n_features=n_features, n_account=n_account, **overrides
        )
        if config.dropout > 0 and not allow_dropout:
            raise ValueError(
                f"TransformerExtractor: dropout={config.dropout} makes the forward pass random, "
                f"which corrupts PPO's probability ratio; use dropout=0 or pass allow_dropout=True "
                f"if you know the algorithm tolerates it"
            )
        if not isinstance(observation_space, gym.spaces.Box) or observation_space.shape != (
            config.obs_dim,
        ):
            raise ValueError(
                f"TransformerExtractor: observation space {observation_space} does not match "
                f"window*n_features + n_account = {window}*{n_features} + {n_account} = "
                f"{config.obs_dim}; pass the env's window and n_features"
            )
        super().__init__(observation_space, features_dim=config.out_dim)
        self.config: TransformerConfig = config
        self.backbone = TransformerBackbone(config)
        if freeze_base_weights:
            extra = ("proj",) if self.backbone.proj is not None else ()
            freeze_base(self.backbone, train_norms=train_norms, extra_trainable=extra)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """Features of a batch of flattened observations."""
        return self.backbone(observations)  # (B, obs_dim) -> (B, features_dim)

    def parameter_counts(self) -> dict[str, int]:
        """``{"total", "trainable", "lora"}`` parameter element counts of the backbone."""
        total, trainable = count_parameters(self.backbone)
        lora = sum(p.numel() for p in lora_parameters(self.backbone))
        return {"total": total, "trainable": trainable, "lora": lora}


def ppo_policy_kwargs(
    window: int,
    n_features: int,
    preset: str = "cpu",
    vf: Sequence[int] = (64, 64),
    ortho_init: bool = False,
    **extractor_kwargs: Any,
) -> dict[str, Any]:
    """``policy_kwargs`` for SB3 PPO/A2C with ``TransformerExtractor``, set up for speed and warm start.

    ``net_arch=dict(pi=[], vf=vf)`` puts ``action_net`` directly on the features (the classifier
    head's shape, for warm start); ``ortho_init=False`` keeps the backbone's own init (see the
    module docstring); ``optimizer_kwargs=dict(foreach=True)`` batches Adam's per-tensor updates.
    ``extractor_kwargs`` go to ``TransformerExtractor`` (n_account, lora_rank, d_model, ...).
    """
    return dict(
        features_extractor_class=TransformerExtractor,
        features_extractor_kwargs=dict(
            window=window, n_features=n_features, preset=preset, **extractor_kwargs
        ),
        net_arch=dict(pi=[], vf=list(vf)),
        ortho_init=ortho_init,
        optimizer_kwargs=dict(foreach=True),
    )
