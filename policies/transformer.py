"""A small pre-LayerNorm transformer over the observation window (nanoGPT style).

Flat obs ``(B, window*F + n_account)`` -> ``(B, config.out_dim)``:

1. split: window ``(B, W, F)`` (oldest bar first) and account state ``(B, n_account)``;
2. patch: left-pad to ``N * P`` bars with zero rows, group ``P = patch_len`` consecutive bars into
   one token ``(B, N, P*F)`` and embed it linearly to ``d_model``; add a learned position embedding;
3. ``n_layers`` pre-LN blocks: ``x + attn(ln1(x))`` then ``x + mlp(ln2(x))`` with explicit
   ``q, k, v, out`` projections, ``F.scaled_dot_product_attention`` (non-causal: every token is
   already in the past) and a GELU MLP ``fc1 -> fc2``. With ``pool="last"`` the final block
   computes only the newest token (queries from it, keys/values from all tokens): same output,
   less work;
4. final LayerNorm, pool ("last" token or "mean"), concat the account state, then
   ``Linear -> GELU`` to ``features_dim`` (or the raw concat if ``features_dim`` is None).

State-dict keys (stable; warm start copies them between a classifier and an SB3 extractor)::

    embed.{weight,bias}  pos  blocks.{i}.ln1.{weight,bias}  blocks.{i}.attn.{q,k,v,out}.{weight,bias}
    blocks.{i}.ln2.{weight,bias}  blocks.{i}.mlp.{fc1,fc2}.{weight,bias}  ln_f.{weight,bias}
    proj.{weight,bias}  (absent when features_dim is None)

With LoRA on a projection, ``blocks.{i}.attn.q.weight`` becomes ``blocks.{i}.attn.q.base.weight``
plus ``.lora_A``, ``.lora_B``, ``.merged`` (see ``policies.lora``). Two backbones built from the
same ``TransformerConfig`` always have the same keys.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from policies.config import PRESETS, TransformerConfig, make_config
from policies.lora import apply_lora

__all__ = ["PRESETS", "TransformerBackbone", "TransformerConfig", "make_config"]


def _dropout(p: float) -> nn.Module:
    """``nn.Dropout(p)``, or an Identity when p == 0 (one module call less per use, same maths)."""
    return nn.Dropout(p) if p > 0 else nn.Identity()


class SelfAttention(nn.Module):
    """Multi-head self-attention with separate q/k/v/out projections (LoRA targets by name)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        d = config.d_model
        self.n_heads = config.n_heads
        self.dropout = config.dropout
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d)
        self.v = nn.Linear(d, d)
        self.out = nn.Linear(d, d)
        self.resid_drop = _dropout(config.dropout)

    def forward(self, x: torch.Tensor, queries: torch.Tensor | None = None) -> torch.Tensor:
        """Attend from ``queries`` (default: every token of ``x``) to every token of ``x``.

        Args:
            x: (B, N, d) keys/values source.
            queries: (B, Nq, d) or None; passing only the last token skips work when the caller
                pools the last token (the result for that token is unchanged).

        Returns:
            (B, Nq, d).
        """
        B, N, d = x.shape
        h = self.n_heads
        xq = x if queries is None else queries
        Nq = xq.shape[1]
        q = self.q(xq).view(B, Nq, h, d // h).transpose(1, 2)  # (B, Nq, d) -> (B, h, Nq, d/h)
        k = self.k(x).view(B, N, h, d // h).transpose(1, 2)  # (B, N, d) -> (B, h, N, d/h)
        v = self.v(x).view(B, N, h, d // h).transpose(1, 2)  # (B, h, N, d/h)
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p)  # (B, h, Nq, d/h)
        y = y.transpose(1, 2).reshape(B, Nq, d)  # (B, h, Nq, d/h) -> (B, Nq, d)
        return self.resid_drop(self.out(y))


class MLP(nn.Module):
    """``fc1 -> GELU -> fc2`` (d_model -> d_ff -> d_model)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.fc1 = nn.Linear(config.d_model, config.d_ff)
        self.fc2 = nn.Linear(config.d_ff, config.d_model)
        self.drop = _dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(F.gelu(self.fc1(x))))  # (B, N, d) -> (B, N, d_ff) -> (B, N, d)


class Block(nn.Module):
    """Pre-LN residual block: ``x + attn(ln1(x))``, then ``x + mlp(ln2(x))``."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(config.d_model)
        self.attn = SelfAttention(config)
        self.ln2 = nn.LayerNorm(config.d_model)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """(B, N, d) -> (B, N, d); with ``last_only`` -> (B, 1, d), the newest token only."""
        h = self.ln1(x)
        if last_only:  # the newest token still attends to all tokens; the rest is not computed
            x = x[:, -1:] + self.attn(h, queries=h[:, -1:])  # (B, 1, d)
        else:
            x = x + self.attn(h)  # (B, N, d)
        return x + self.mlp(self.ln2(x))


class TransformerBackbone(nn.Module):
    """Flat observation ``(B, window*F + n_account)`` -> features ``(B, config.out_dim)``.

    Args:
        config: a ``TransformerConfig`` (use ``make_config(preset, window=..., n_features=...)``).

    Raises (in forward):
        ValueError: if the observation is not 2-D with ``window*F + n_account`` columns; the
            message names window, F, n_account and the width received.
    """

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.embed = nn.Linear(c.patch_len * c.n_features, c.d_model)
        self.pos = nn.Parameter(torch.zeros(1, c.n_tokens, c.d_model))
        self.drop = _dropout(c.dropout)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.n_layers))
        self.ln_f = nn.LayerNorm(c.d_model)
        self.proj = (
            nn.Linear(c.d_model + c.n_account, c.features_dim)
            if c.features_dim is not None
            else None
        )
        self.apply(self._init_weights)
        if c.lora_rank > 0:  # after the base init: LoRA wraps already-initialised projections
            apply_lora(self, c.lora_targets, c.lora_layers, rank=c.lora_rank, alpha=c.lora_alpha)

    def _init_weights(self, module: nn.Module) -> None:
        """The nanoGPT init: N(0, 0.02) weights, zero biases, residual outputs scaled by 1/sqrt(2L)."""
        if isinstance(module, nn.Linear):
            std = 0.02
            if module in self._residual_outputs():
                std = 0.02 / math.sqrt(2 * self.config.n_layers)
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif module is self:
            nn.init.normal_(self.pos, mean=0.0, std=0.02)

    def _residual_outputs(self) -> set[nn.Module]:
        """Projections that write into the residual stream (GPT-2 scales their init down)."""
        return {m for b in self.blocks for m in (b.attn.out, b.mlp.fc2)}

    def _check_obs(self, obs: torch.Tensor) -> None:
        c = self.config
        if obs.dim() != 2 or obs.shape[1] != c.obs_dim:
            raise ValueError(
                f"TransformerBackbone expects observations of shape (batch, window*n_features + "
                f"n_account) = (batch, {c.window}*{c.n_features} + {c.n_account}) = "
                f"(batch, {c.obs_dim}), got {tuple(obs.shape)}. Pass the env's window and "
                f"n_features (and n_account) to the extractor/make_config."
            )

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Features of a batch of flattened observations (window x features + account)."""
        self._check_obs(obs)
        c = self.config
        B = obs.shape[0]
        W, Fn, P, N = c.window, c.n_features, c.patch_len, c.n_tokens
        x = obs[:, : W * Fn].reshape(B, W, Fn)  # (B, W*F) -> (B, W, F), oldest bar first
        account = obs[:, W * Fn :]  # (B, n_account)
        if N * P != W:
            x = F.pad(x, (0, 0, N * P - W, 0))  # (B, N*P, F): zero rows before the oldest bar
        x = x.reshape(B, N, P * Fn)  # (B, N*P, F) -> (B, N, P*F): P consecutive bars per token
        x = self.drop(self.embed(x) + self.pos)  # (B, N, d_model)
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            # "last" pooling only reads the newest token: the final block computes only that one.
            x = block(x, last_only=c.pool == "last" and i == last)  # (B, N or 1, d_model)
        x = self.ln_f(x)
        pooled = x[:, -1] if c.pool == "last" else x.mean(dim=1)  # (B, d_model)
        z = torch.cat([pooled, account], dim=1)  # (B, d_model + n_account)
        if self.proj is None:
            return z
        return F.gelu(self.proj(z))  # (B, features_dim)
