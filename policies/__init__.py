"""Transformer policies for SB3: a small patching transformer backbone, hand-written LoRA, presets.

Never imports ``envs`` (see docs/ARCHITECTURE.md): the observation layout arrives as
``window``/``n_features``/``n_account`` arguments.
"""

from typing import Any

from policies.config import PRESETS, TransformerConfig, make_config
from policies.lora import (
    LoRALinear,
    apply_lora,
    count_parameters,
    freeze_base,
    lora_parameters,
    merge_lora,
    unmerge_lora,
)
from policies.transformer import TransformerBackbone

_SB3_NAMES = ("TransformerExtractor", "ppo_policy_kwargs")


def __getattr__(name: str) -> Any:
    """The SB3 extractor on first use: importing stable_baselines3 costs seconds that serving
    one decision without SB3 (``agents.acting.fast_policy``) does not need to pay."""
    if name in _SB3_NAMES:
        from policies import extractor  # imports stable_baselines3 (seconds): on first use

        return getattr(extractor, name)
    raise AttributeError(f"module 'policies' has no attribute {name!r}")


__all__ = [
    "PRESETS",
    "LoRALinear",
    "TransformerBackbone",
    "TransformerConfig",
    "TransformerExtractor",
    "apply_lora",
    "count_parameters",
    "freeze_base",
    "lora_parameters",
    "make_config",
    "merge_lora",
    "ppo_policy_kwargs",
    "unmerge_lora",
]
