"""Transformer policies for SB3: a small patching transformer backbone, hand-written LoRA, presets.

Never imports ``envs`` (see docs/ARCHITECTURE.md): the observation layout arrives as
``window``/``n_features``/``n_account`` arguments.
"""

from policies.config import PRESETS, TransformerConfig, make_config
from policies.extractor import TransformerExtractor, ppo_policy_kwargs
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
