"""``TransformerConfig``, the named presets and ``make_config``.

Presets (``PRESETS``) only fix the architecture; ``window`` and ``n_features`` always come from the
environment's observation layout and are passed to ``make_config``.

* ``cpu`` (default): sized for >= 1,000 PPO env steps/s on a 2-core CPU: the 32-bar window is cut
  into 4 patches of 8 bars -> 4 tokens of width 32, one pre-LN block, 2 heads, FFN 64, features 64
  (14,976 parameters at core17's 15 features). Measured 1,644 PPO env steps per CPU-second on btc1h (MLP
  2,779; bench/RESULTS.md "train_fps"). On a synthetic env, d_model 64 cut PPO throughput ~20%
  and a second layer ~40%.
* ``flagtrader``: the FLAG-TRADER size (d_model 768, 12 layers, 8 heads, FFN 3072, LoRA rank 16 on
  q and v; ~85.05M base parameters in the blocks). One token per bar. For GPU users.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

POOLS = ("last", "mean")
LORA_TARGETS = ("q", "k", "v", "out", "fc1", "fc2")


@dataclass(frozen=True)
class TransformerConfig:
    """Architecture of ``TransformerBackbone``; every field is plain data (YAML/JSON friendly)."""

    window: int
    """Bars in the observation window (rows of the flat obs, oldest first)."""
    n_features: int
    """Features per bar F (columns of the window)."""
    n_account: int = 4
    """Account-state values appended after the window (position, unrealised return, drawdown,
    bars held scaled). Joined after pooling, never tokenised."""
    d_model: int = 32
    """Token width."""
    n_layers: int = 1
    """Pre-LayerNorm transformer blocks."""
    n_heads: int = 2
    """Attention heads; must divide d_model."""
    d_ff: int = 64
    """Hidden width of each block's GELU MLP."""
    patch_len: int = 8
    """Bars per token (PatchTST-style non-overlapping patches, each flattened to patch_len * F and
    linearly embedded). 1 = one token per bar. If window is not a multiple, the window is left-padded
    with zero rows (zero = the median in robust-z feature space) up to n_tokens * patch_len."""
    pool: str = "last"
    """How tokens become one vector: "last" (newest patch token) or "mean" (average of tokens)."""
    dropout: float = 0.0
    """Dropout on embeddings, attention and MLP. Keep 0 inside PPO (its probability ratio needs a
    deterministic forward); TransformerExtractor refuses > 0 unless allow_dropout=True."""
    lora_rank: int = 0
    """LoRA rank r on the chosen projections; 0 = no LoRA."""
    lora_alpha: float = 16.0
    """LoRA scale numerator; the update is multiplied by lora_alpha / lora_rank."""
    lora_targets: tuple[str, ...] = ("q", "v")
    """Projections that get LoRA: any of q, k, v, out (attention), fc1, fc2 (MLP)."""
    lora_layers: tuple[int, ...] | None = None
    """Block indices that get LoRA (0-based); None = all blocks."""
    features_dim: int | None = 64
    """Output width. An int: concat(pooled d_model, account) -> Linear -> GELU -> features_dim.
    None: output the concat itself (width d_model + n_account), no projection."""

    def __post_init__(self) -> None:  # noqa: C901  (a flat list of independent field checks)
        # YAML gives lists; the config is frozen, so store tuples.
        object.__setattr__(self, "lora_targets", tuple(self.lora_targets))
        if self.lora_layers is not None:
            object.__setattr__(self, "lora_layers", tuple(int(i) for i in self.lora_layers))
        problems = []
        for name in ("window", "n_features", "d_model", "n_layers", "n_heads", "d_ff", "patch_len"):
            if int(getattr(self, name)) < 1:
                problems.append(f"{name}={getattr(self, name)} must be >= 1")
        if self.n_account < 0:
            problems.append(f"n_account={self.n_account} must be >= 0")
        if self.d_model % max(self.n_heads, 1):
            problems.append(f"n_heads={self.n_heads} must divide d_model={self.d_model}")
        if self.patch_len > self.window:
            problems.append(f"patch_len={self.patch_len} exceeds window={self.window}")
        if self.pool not in POOLS:
            problems.append(f"pool={self.pool!r} must be one of {POOLS}")
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout={self.dropout} must be in [0, 1)")
        if self.lora_rank < 0:
            problems.append(f"lora_rank={self.lora_rank} must be >= 0 (0 = no LoRA)")
        bad = [t for t in self.lora_targets if t not in LORA_TARGETS]
        if bad:
            problems.append(f"lora_targets {bad} not in {LORA_TARGETS}")
        if self.lora_layers is not None:
            out = [i for i in self.lora_layers if not 0 <= i < self.n_layers]
            if out:
                problems.append(f"lora_layers {out} outside 0..{self.n_layers - 1}")
        if self.features_dim is not None and self.features_dim < 1:
            problems.append(f"features_dim={self.features_dim} must be >= 1 or None")
        if problems:
            raise ValueError("TransformerConfig: " + "; ".join(problems))

    @property
    def n_tokens(self) -> int:
        """Tokens per observation: ceil(window / patch_len)."""
        return math.ceil(self.window / self.patch_len)

    @property
    def obs_dim(self) -> int:
        """Length of the flat observation: window * n_features + n_account."""
        return self.window * self.n_features + self.n_account

    @property
    def out_dim(self) -> int:
        """Width of the backbone output (SB3's features_dim)."""
        return self.features_dim if self.features_dim is not None else self.d_model + self.n_account


PRESETS: dict[str, dict[str, Any]] = {
    # Measured on the 2-core CPU (bench/train_fps.py, bench/extractor_speed.py, bench/RESULTS.md).
    "cpu": dict(
        d_model=32, n_layers=1, n_heads=2, d_ff=64, patch_len=8, pool="last", features_dim=64
    ),
    # FLAG-TRADER backbone size; LoRA rank 16 on q and v. Too slow for CPU PPO.
    "flagtrader": dict(
        d_model=768,
        n_layers=12,
        n_heads=8,
        d_ff=3072,
        patch_len=1,
        pool="last",
        features_dim=256,
        lora_rank=16,
        lora_alpha=32.0,
        lora_targets=("q", "v"),
    ),
}


def make_config(
    preset: str = "cpu", *, window: int, n_features: int, **overrides: Any
) -> TransformerConfig:
    """Preset architecture + the env's layout (+ any field overrides) -> ``TransformerConfig``.

    Raises:
        ValueError: unknown preset or unknown override field (lists the valid ones).
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown transformer preset {preset!r}; choose one of {sorted(PRESETS)}")
    fields = {f.name for f in dataclasses.fields(TransformerConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(
            f"unknown TransformerConfig override(s) {unknown}; valid fields: {sorted(fields)}"
        )
    kwargs = {**PRESETS[preset], **overrides, "window": window, "n_features": n_features}
    return TransformerConfig(**kwargs)
