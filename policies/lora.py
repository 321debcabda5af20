"""Hand-written LoRA (Hu et al. 2021) for the transformer backbone.

``LoRALinear`` wraps an ``nn.Linear`` ``W`` and adds a low-rank update::

    y = x W^T + b + scaling * (x A^T) B^T        A: (rank, in), B: (out, rank), scaling = alpha / rank

``B`` starts at zero, so a freshly wrapped layer computes exactly what the base layer did.
``merge()`` folds ``scaling * B @ A`` into ``W`` for inference (one matmul instead of three) and sets
the ``merged`` buffer; ``forward`` then skips the low-rank path, so the delta is never added twice.
Because ``merged`` is a buffer it travels in ``state_dict``: a merged model saved and loaded into a
fresh (unmerged) model gives the same outputs. Merging is for inference/export: while merged, the
LoRA parameters get no gradient (call ``unmerge()`` before training again).

State-dict keys of a wrapped projection ``...attn.q`` become ``...attn.q.base.weight``,
``...attn.q.base.bias``, ``...attn.q.lora_A``, ``...attn.q.lora_B`` and ``...attn.q.merged``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence

import torch
from torch import nn


class LoRALinear(nn.Module):
    """``base(x) + (alpha / rank) * x A^T B^T`` around an existing ``nn.Linear``.

    Args:
        base: the linear layer to adapt; kept as ``self.base`` (its parameters keep their values).
        rank: inner dimension r of the update (>= 1).
        alpha: scale numerator; the update is multiplied by ``alpha / rank`` so that changing the
            rank does not change the update's initial learning-rate sensitivity.
    """

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"LoRALinear wraps an nn.Linear, got {type(base).__name__}")
        if rank < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {rank}")
        self.base = base
        self.rank = int(rank)
        self.alpha = float(alpha)
        self.scaling = self.alpha / self.rank
        factory = {"device": base.weight.device, "dtype": base.weight.dtype}
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features, **factory))  # (r, in)
        self.lora_B = nn.Parameter(torch.empty(base.out_features, rank, **factory))  # (out, r)
        # A 0-dim bool buffer (not a Python attribute) so that it is saved with the weights.
        self.register_buffer("merged", torch.zeros((), dtype=torch.bool, device=base.weight.device))
        self._init_weights()

    def _init_weights(self) -> None:
        """A as in nn.Linear (kaiming-uniform, a=sqrt(5)), B zero: the wrapped layer starts == base."""
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B)

    @property
    def in_features(self) -> int:
        """Input width of the wrapped linear layer."""
        return self.base.in_features

    @property
    def out_features(self) -> int:
        """Output width of the wrapped linear layer."""
        return self.base.out_features

    def delta_weight(self) -> torch.Tensor:
        """The low-rank update ``scaling * B @ A``, shape (out, in) like ``base.weight``."""
        return (self.lora_B @ self.lora_A) * self.scaling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The base layer's output plus the scaled low-rank update (unless merged)."""
        y = self.base(x)  # (..., out)
        if self.merged:  # the update is already inside base.weight
            return y
        # (..., in) @ (in, r) -> (..., r) @ (r, out) -> (..., out): never forms the (out, in) delta
        return y + (x @ self.lora_A.t()) @ self.lora_B.t() * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        """Fold the update into ``base.weight`` (no-op if already merged)."""
        if not self.merged:
            self.base.weight += self.delta_weight()
            self.merged.fill_(True)

    @torch.no_grad()
    def unmerge(self) -> None:
        """Subtract the update from ``base.weight`` (no-op if not merged).

        Equal to the pre-merge weight up to float rounding (~1e-7 relative), not bit for bit.
        """
        if self.merged:
            self.base.weight -= self.delta_weight()
            self.merged.fill_(False)

    def extra_repr(self) -> str:
        """Rank, alpha and merged state for ``repr``."""
        return f"rank={self.rank}, alpha={self.alpha}, merged={bool(self.merged)}"


def _layer_index(path: str) -> int | None:
    """First integer component of a module path: ``blocks.3.attn.q`` -> 3 (None if none)."""
    for part in path.split("."):
        if part.isdigit():
            return int(part)
    return None


def apply_lora(
    model: nn.Module,
    targets: Sequence[str] = ("q", "v"),
    layers: Iterable[int] | None = None,
    rank: int = 8,
    alpha: float = 16.0,
) -> list[str]:
    """Replace the ``nn.Linear`` modules named in ``targets`` with ``LoRALinear`` wrappers, in place.

    Args:
        model: any module; a target is an ``nn.Linear`` whose attribute name (last component of its
            path) is in ``targets``. In ``TransformerBackbone`` the names are ``q, k, v, out``
            (attention) and ``fc1, fc2`` (MLP).
        targets: attribute names to adapt.
        layers: block indices to adapt (the first integer in the module path, e.g. ``blocks.3``);
            None = every matching layer. Modules outside numbered blocks are skipped when given.
        rank, alpha: see ``LoRALinear``.

    Returns:
        The paths of the replaced modules, in ``named_modules`` order.

    Raises:
        ValueError: if nothing matches, a requested layer index does not exist, or a target is
            already wrapped.
    """
    targets = tuple(targets)
    wanted = None if layers is None else {int(i) for i in layers}
    candidates: list[str] = []
    seen_layers: set[int] = set()
    linear_names: set[str] = set()
    for path, module in model.named_modules():
        name = path.rsplit(".", 1)[-1]
        idx = _layer_index(path)
        if idx is not None:
            seen_layers.add(idx)
        if isinstance(module, LoRALinear) and name in targets:
            raise ValueError(f"apply_lora: {path!r} already has LoRA; apply it once")
        if not isinstance(module, nn.Linear):
            continue
        linear_names.add(name)
        if name in targets and (wanted is None or idx in wanted):
            candidates.append(path)
    if wanted is not None and not wanted <= seen_layers:
        raise ValueError(
            f"apply_lora: layers {sorted(wanted - seen_layers)} do not exist; "
            f"the model has layers {sorted(seen_layers)}"
        )
    if not candidates:
        raise ValueError(
            f"apply_lora: no nn.Linear named {list(targets)} (layers={layers}); "
            f"linear module names in this model: {sorted(linear_names)}"
        )
    for path in candidates:
        parent_path, _, child = path.rpartition(".")
        parent = model.get_submodule(parent_path) if parent_path else model
        setattr(parent, child, LoRALinear(getattr(parent, child), rank=rank, alpha=alpha))
    return candidates


def lora_modules(model: nn.Module) -> Iterator[LoRALinear]:
    """Every ``LoRALinear`` inside ``model``."""
    return (m for m in model.modules() if isinstance(m, LoRALinear))


def lora_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The ``lora_A``/``lora_B`` parameters of every ``LoRALinear`` in ``model``."""
    return [p for m in lora_modules(model) for p in (m.lora_A, m.lora_B)]


def freeze_base(
    model: nn.Module, train_norms: bool = False, extra_trainable: Sequence[str] = ()
) -> list[str]:
    """Leave only LoRA parameters (and the chosen extras) trainable; everything else frozen.

    Args:
        model: the module whose parameters to (un)freeze (a backbone, an extractor, an SB3 policy).
        train_norms: also train every ``nn.LayerNorm`` (cheap, often helps fine-tuning).
        extra_trainable: qualified-name prefixes of further trainable parameters or modules, e.g.
            ``("proj",)`` for the backbone's output projection or ``("action_net", "value_net",
            "mlp_extractor")`` on an SB3 policy. Each must match at least one parameter.

    Returns:
        Names of the parameters left trainable.
    """
    lora_ids = {id(p) for p in lora_parameters(model)}
    norm_ids = (
        {id(p) for m in model.modules() if isinstance(m, nn.LayerNorm) for p in m.parameters()}
        if train_norms
        else set()
    )
    names = [n for n, _ in model.named_parameters()]
    for prefix in extra_trainable:
        if not any(n == prefix or n.startswith(prefix + ".") for n in names):
            raise ValueError(
                f"freeze_base: extra_trainable prefix {prefix!r} matches no parameter; "
                f"top-level names: {sorted({n.split('.')[0] for n in names})}"
            )
    trainable: list[str] = []
    for name, p in model.named_parameters():
        keep = (
            id(p) in lora_ids
            or id(p) in norm_ids
            or any(name == pre or name.startswith(pre + ".") for pre in extra_trainable)
        )
        p.requires_grad_(keep)
        if keep:
            trainable.append(name)
    return trainable


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """``(total, trainable)`` element counts; shared parameters are counted once."""
    total = trainable = 0
    for p in model.parameters():  # .parameters() already de-duplicates shared tensors
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return total, trainable


def merge_lora(model: nn.Module) -> int:
    """Merge every ``LoRALinear`` in ``model``; returns how many layers were wrapped."""
    modules = list(lora_modules(model))
    for m in modules:
        m.merge()
    return len(modules)


def unmerge_lora(model: nn.Module) -> int:
    """Unmerge every ``LoRALinear`` in ``model``; returns how many layers were wrapped."""
    modules = list(lora_modules(model))
    for m in modules:
        m.unmerge()
    return len(modules)
