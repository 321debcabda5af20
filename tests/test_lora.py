"""LoRA: exact identity at B=0, hand-computed forward, merge/unmerge, save/load, freezing, counts."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from policies import (
    LoRALinear,
    TransformerBackbone,
    apply_lora,
    count_parameters,
    freeze_base,
    lora_parameters,
    make_config,
    merge_lora,
    unmerge_lora,
)


def small_config(**kw):
    base = dict(d_model=16, n_layers=2, n_heads=2, d_ff=32, patch_len=4, features_dim=8)
    return make_config("cpu", window=8, n_features=3, **{**base, **kw})


def randomise_lora(model: nn.Module, seed: int = 0) -> None:
    """Give every B a non-zero value so that the LoRA path actually contributes."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in lora_parameters(model):
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)


def test_lora_linear_hand_computed() -> None:
    base = nn.Linear(2, 1)
    with torch.no_grad():
        base.weight.copy_(torch.tensor([[1.0, 2.0]]))
        base.bias.copy_(torch.tensor([0.5]))
    layer = LoRALinear(base, rank=1, alpha=2.0)  # scaling 2
    with torch.no_grad():
        layer.lora_A.copy_(torch.tensor([[1.0, -1.0]]))
        layer.lora_B.copy_(torch.tensor([[2.0]]))
    x = torch.tensor([[3.0, 4.0]])
    # base: 3 + 8 + 0.5 = 11.5; x A^T = -1; times B = -2; times scaling 2 = -4 -> 7.5
    assert layer(x).item() == pytest.approx(7.5)
    layer.merge()
    assert torch.equal(base.weight, torch.tensor([[1.0 + 4.0, 2.0 - 4.0]]))  # W + 2 * B @ A
    assert layer(x).item() == pytest.approx(7.5)
    layer.merge()  # a second merge is a no-op
    assert torch.equal(base.weight, torch.tensor([[5.0, -2.0]]))
    layer.unmerge()
    assert torch.equal(base.weight, torch.tensor([[1.0, 2.0]]))
    assert layer(x).item() == pytest.approx(7.5)


def test_lora_linear_rejects_bad_args() -> None:
    with pytest.raises(ValueError, match="rank must be >= 1"):
        LoRALinear(nn.Linear(2, 2), rank=0, alpha=1.0)
    with pytest.raises(TypeError, match="wraps an nn.Linear"):
        LoRALinear(nn.Conv1d(2, 2, 1), rank=1, alpha=1.0)  # type: ignore[arg-type]


def test_zero_b_equals_base_exactly() -> None:
    torch.manual_seed(0)
    model = TransformerBackbone(small_config())
    x = torch.randn(7, model.config.obs_dim)
    before = model(x)
    replaced = apply_lora(model, targets=("q", "v", "fc1"), rank=4, alpha=8.0)
    assert replaced == [
        "blocks.0.attn.q",
        "blocks.0.attn.v",
        "blocks.0.mlp.fc1",
        "blocks.1.attn.q",
        "blocks.1.attn.v",
        "blocks.1.mlp.fc1",
    ]
    assert all(
        torch.count_nonzero(m.lora_B) == 0 for m in model.modules() if isinstance(m, LoRALinear)
    )
    assert torch.equal(model(x), before)


def test_apply_lora_layer_selection_and_errors() -> None:
    model = TransformerBackbone(small_config())
    assert apply_lora(model, targets=("k",), layers=[1], rank=2) == ["blocks.1.attn.k"]
    assert isinstance(model.blocks[0].attn.k, nn.Linear)
    with pytest.raises(ValueError, match="already has LoRA"):
        apply_lora(model, targets=("k",), rank=2)
    with pytest.raises(ValueError, match=r"layers \[5\] do not exist"):
        apply_lora(model, targets=("q",), layers=[5], rank=2)
    with pytest.raises(ValueError, match="no nn.Linear named"):
        apply_lora(model, targets=("query",), rank=2)


def test_config_lora_fields_build_the_wrappers() -> None:
    model = TransformerBackbone(
        small_config(lora_rank=3, lora_targets=["v", "out"], lora_layers=[0])
    )
    wrapped = sorted(n for n, m in model.named_modules() if isinstance(m, LoRALinear))
    assert wrapped == ["blocks.0.attn.out", "blocks.0.attn.v"]
    assert model.blocks[0].attn.v.scaling == pytest.approx(16.0 / 3)


@settings(max_examples=25, deadline=None)
@given(rank=st.integers(1, 6), alpha=st.floats(0.5, 32.0), seed=st.integers(0, 10_000))
def test_merge_unmerge_equivalence(rank: int, alpha: float, seed: int) -> None:
    torch.manual_seed(seed)
    model = TransformerBackbone(small_config(lora_rank=rank, lora_alpha=alpha))
    randomise_lora(model, seed)
    base_weights = {n: p.clone() for n, p in model.named_parameters() if n.endswith("base.weight")}
    x = torch.randn(5, model.config.obs_dim)
    unmerged = model(x)
    assert merge_lora(model) == 4  # q and v in 2 blocks
    assert torch.allclose(model(x), unmerged, atol=1e-5)
    assert unmerge_lora(model) == 4
    assert torch.allclose(model(x), unmerged, atol=1e-5)
    for n, w in base_weights.items():
        assert torch.allclose(model.get_parameter(n), w, atol=1e-6)


def test_merged_state_dict_round_trip() -> None:
    torch.manual_seed(1)
    cfg = small_config(lora_rank=4)
    model = TransformerBackbone(cfg)
    randomise_lora(model)
    x = torch.randn(6, cfg.obs_dim)
    unmerged = model(x)
    merge_lora(model)
    merged = model(x)
    state = model.state_dict()
    assert state["blocks.0.attn.q.merged"].item() is True

    fresh = TransformerBackbone(cfg)  # unmerged, different random weights
    assert not torch.allclose(fresh(x), merged, atol=1e-3)
    fresh.load_state_dict(state)
    assert bool(fresh.blocks[0].attn.q.merged)
    assert torch.equal(fresh(x), merged)  # the delta is not added a second time
    assert torch.allclose(fresh(x), unmerged, atol=1e-5)
    unmerge_lora(fresh)
    assert torch.allclose(fresh(x), unmerged, atol=1e-5)


@pytest.mark.parametrize("train_norms", [False, True])
def test_freeze_base_only_lora_changes(train_norms: bool) -> None:
    torch.manual_seed(2)
    model = TransformerBackbone(small_config(lora_rank=2))
    trainable = freeze_base(model, train_norms=train_norms, extra_trainable=("proj",))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    x = torch.randn(16, model.config.obs_dim)
    for _ in range(2):  # step 1 moves B only (A's gradient is B^T... = 0); step 2 moves A too
        opt.zero_grad()
        model(x).pow(2).sum().backward()
        opt.step()

    def should_change(name: str) -> bool:
        is_norm = any(part in ("ln1", "ln2", "ln_f") for part in name.split("."))
        return "lora_" in name or name.startswith("proj.") or (train_norms and is_norm)

    for name, p in model.named_parameters():
        changed = not torch.equal(p, before[name])
        assert changed == should_change(name), name
        assert (name in trainable) == should_change(name), name


def test_freeze_base_bad_prefix() -> None:
    model = TransformerBackbone(small_config(lora_rank=2))
    with pytest.raises(ValueError, match="'head' matches no parameter"):
        freeze_base(model, extra_trainable=("head",))


def test_count_parameters_cpu_preset_by_hand() -> None:
    cfg = make_config("cpu", window=32, n_features=17)
    model = TransformerBackbone(cfg)
    embed = 8 * 17 * 32 + 32  # patch of 8 bars x 17 features -> d_model 32
    pos = 4 * 32  # 4 tokens
    block = 2 * 32 + 4 * (32 * 32 + 32) + 2 * 32 + (32 * 64 + 64) + (64 * 32 + 32)
    ln_f = 2 * 32
    proj = (32 + 4) * 64 + 64
    assert count_parameters(model) == (embed + pos + block + ln_f + proj,) * 2 == (15488, 15488)


def test_count_parameters_flagtrader_preset_by_hand() -> None:
    cfg = make_config("flagtrader", window=32, n_features=60)
    with torch.device("meta"):  # counts only: no 340 MB allocation
        model = TransformerBackbone(cfg)
    d, ff, layers = 768, 3072, 12
    block = 4 * (d * d + d) + (d * ff + ff) + (ff * d + d) + 2 * (2 * d)
    assert layers * block == 85_054_464  # the ~85M FLAG-TRADER-size trunk
    base = layers * block + (60 * d + d) + 32 * d + 2 * d + ((d + 4) * 256 + 256)
    lora = layers * 2 * (16 * d + d * 16)  # rank 16 on q and v
    assert lora == 589_824
    assert count_parameters(model) == (base + lora, base + lora)
    assert sum(p.numel() for p in lora_parameters(model)) == lora
    freeze_base(model)
    assert count_parameters(model) == (85_325_312 + lora, lora)
