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
* **Multi-timeframe.** ``daily_window=D`` (the env's ``daily_window``, ``envs.multiframe``): the
  observation is ``[window*F bars | n_account | D*F daily rows]``; ``backbone`` encodes the bar
  window with the account values as before and a second backbone ``daily_backbone`` (same
  preset and overrides, ``window=D``, no account values, ``patch_len`` at most D) encodes the
  daily rows; the features
  are their concatenation (``features_dim`` = the two out_dims summed). Two encoders, not one
  sequence: the daily rows are one day apart, the bar rows one bar, so they need their own
  position embeddings; a warm start still loads into ``backbone``. ``daily_window=0`` (default)
  builds exactly the single-backbone extractor.
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
            flagtrader60, 29 for daily).
        preset: architecture preset name in ``policies.PRESETS`` ("cpu" or "flagtrader").
        n_account: account-state values after the window (4 in this lab's envs).
        allow_dropout: permit ``dropout > 0`` (off-policy or supervised use only).
        freeze_base_weights: freeze everything but LoRA and ``proj`` (see module docstring).
        train_norms: with ``freeze_base_weights``, also train the LayerNorms.
        daily_window: daily rows after the account values (multi-timeframe, module docstring);
            0 = none.
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
        daily_window: int = 0,
        **overrides: Any,
    ) -> None:
        config = make_config(
            preset, window=window, n_features=n_features, n_account=n_account, **overrides
        )
        daily = None
        if daily_window > 0:  # a window shorter than a patch is one patch (one token)
            patch = {"patch_len": min(config.patch_len, daily_window)}
            daily_kw = {**overrides, **patch, "n_account": 0}
            daily = make_config(preset, window=daily_window, n_features=n_features, **daily_kw)
        obs_dim = config.obs_dim + (daily.obs_dim if daily is not None else 0)
        layout = (
            f"(window + daily_window)*n_features + n_account = ({window} + {daily_window})"
            f"*{n_features} + {n_account}"
            if daily is not None
            else f"window*n_features + n_account = {window}*{n_features} + {n_account}"
        )
        if config.dropout > 0 and not allow_dropout:
            raise ValueError(
                f"TransformerExtractor: dropout={config.dropout} makes the forward pass random, "
                f"which corrupts PPO's probability ratio; use dropout=0 or pass allow_dropout=True "
                f"if you know the algorithm tolerates it"
            )
        if not isinstance(observation_space, gym.spaces.Box) or observation_space.shape != (
            obs_dim,
        ):
            raise ValueError(
                f"TransformerExtractor: observation space {observation_space} does not match "
                f"{layout} = {obs_dim}; pass the env's window, daily_window and n_features"
            )
        out_dim = config.out_dim + (daily.out_dim if daily is not None else 0)
        super().__init__(observation_space, features_dim=out_dim)
        self.config: TransformerConfig = config
        self.backbone = TransformerBackbone(config)
        self.daily_backbone = TransformerBackbone(daily) if daily is not None else None
        for module in (self.backbone, self.daily_backbone):
            if freeze_base_weights and module is not None:
                extra = ("proj",) if module.proj is not None else ()
                freeze_base(module, train_norms=train_norms, extra_trainable=extra)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """Features of a batch of flattened observations."""
        if self.daily_backbone is None:
            return self.backbone(observations)  # (B, obs_dim) -> (B, features_dim)
        base = self.config.obs_dim  # (B, W*F + n_account | D*F) -> the two encoders, concatenated
        bars = self.backbone(observations[:, :base])  # (B, out_dim of the bar window)
        return torch.cat([bars, self.daily_backbone(observations[:, base:])], dim=1)

    def parameter_counts(self) -> dict[str, int]:
        """``{"total", "trainable", "lora"}`` parameter element counts of the backbone."""
        parts = [m for m in (self.backbone, self.daily_backbone) if m is not None]
        counts = [count_parameters(m) for m in parts]
        lora = sum(p.numel() for m in parts for p in lora_parameters(m))
        return {
            "total": sum(c[0] for c in counts),
            "trainable": sum(c[1] for c in counts),
            "lora": lora,
        }


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
