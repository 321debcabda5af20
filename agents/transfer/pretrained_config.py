"""The ``pretrained`` config section: fine-tune a self-supervised backbone with LoRA.

Kept apart from ``agents.training.config`` so the loading logic (``agents.transfer.pretrained_backbone``) and the
config can both import it without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lab.config import doc


@dataclass
class PretrainedConfig:
    """``--pretrained CKPT`` (``python -m supervised.pretrain``'s backbone.pt), FLAG-Trader style.

    Only read when a checkpoint is given. The extractor takes the checkpoint's architecture plus
    LoRA adapters (``lora_*``); the backbone weights are loaded, the base frozen (``freeze``), and
    only the adapters and the heads (PPO: the action/value nets; SAC: the actor's latent/mu/log_std
    and the twin Q nets) train, plus the LayerNorms with ``train_norms``.
    """

    checkpoint: str | None = field(
        default=None, metadata=doc("pretrained backbone.pt (--pretrained)")
    )
    checkpoint_sha256: str | None = field(
        default=None,
        metadata=doc("sha256 of the checkpoint (recorded; when set by hand, a pin it must match)"),
    )
    lora_rank: int = field(default=8, metadata=doc("LoRA rank of the adapters (0: none)"))
    lora_alpha: float = field(default=16.0, metadata=doc("LoRA scale numerator (alpha / rank)"))
    lora_targets: list[str] = field(
        default_factory=lambda: ["q", "v"], metadata=doc("projections that get LoRA adapters")
    )
    freeze: bool = field(
        default=True, metadata=doc("freeze the pretrained base: train LoRA + heads only")
    )
    train_norms: bool = field(default=False, metadata=doc("with freeze: also train LayerNorms"))
