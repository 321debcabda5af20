"""Warm-start a PPO policy from a supervised classifier checkpoint.

PPO must be built so that its policy is the classifier's function exactly:
``policy_kwargs=dict(features_extractor_class=TransformerExtractor, features_extractor_kwargs=
dict(window=W, n_features=F, ...same architecture...), net_arch=dict(pi=[], vf=[...]),
share_features_extractor=True, ortho_init=False)``. Then ``pi=[]`` puts ``action_net`` (a
``Linear(features_dim, 3)``) directly on the backbone features, like the classifier head.

``load_into_ppo`` copies the backbone weights into ``model.policy.features_extractor.backbone``
and the head into ``model.policy.action_net``, folding the post-hoc logit correction into the
``action_net`` bias, so right after loading the policy's action probabilities equal
``softmax(classifier(obs) + bias)``. The checkpoint's ``decision_rule``
(``supervised.decision``: a confidence threshold and minimum hold on top of those probabilities)
is NOT transferred: PPO acts by argmax/sampling of its own distribution, so a warm-started
policy equals the classifier's *argmax* policy (``evaluate``: ``model.pt@argmax``), not its rule. If the PPO backbone has LoRA adapters and the classifier does
not, the classifier's ``q.weight`` goes to ``q.base.weight`` and the adapters keep their init
(``lora_B = 0``: no change to the function). With ``freeze=True``, ``freeze_policy`` leaves only
the LoRA adapters, the value side (``mlp_extractor.value_net``, ``value_net``) and, with
``train_action_head``, ``action_net`` trainable (the FLAG-Trader recipe).
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from policies import freeze_base
from policies.lora import lora_parameters
from supervised.checkpoint import LoadedClassifier, load_checkpoint


def _remap_backbone_state(
    src: dict[str, torch.Tensor], dst_keys: set[str]
) -> dict[str, torch.Tensor]:
    """Map classifier backbone keys to the PPO backbone's (``x.weight`` -> ``x.base.weight``)."""
    out: dict[str, torch.Tensor] = {}
    for k, v in src.items():
        if k in dst_keys:
            out[k] = v
            continue
        stem, _, leaf = k.rpartition(".")
        alt = f"{stem}.base.{leaf}"
        if alt in dst_keys:
            out[alt] = v
        else:
            raise ValueError(
                f"classifier backbone key {k!r} has no counterpart in the PPO backbone "
                "(different architecture: preset, d_model, n_layers or LoRA targets)"
            )
    return out


VALUE_SIDE = ("mlp_extractor.value_net", "value_net")


def freeze_to_heads(
    policy: nn.Module, heads: tuple[str, ...], *, train_norms: bool = False
) -> list[str]:
    """Freeze an SB3 policy but its LoRA adapters and the parameters under the ``heads``
    prefixes that exist (PPO's value side and action net, SAC's actor and Q heads, ...).

    Returns the names of the trainable parameters; raises ValueError without LoRA adapters.
    """
    if not lora_parameters(policy):
        raise ValueError(
            "freeze=True but the policy's backbone has no LoRA adapters: build the "
            "extractor with lora_rank > 0, or pass freeze=False"
        )
    names = {n for n, _ in policy.named_parameters()}
    extras = tuple(p for p in heads if any(n.startswith(p + ".") for n in names))
    return freeze_base(policy, train_norms=train_norms, extra_trainable=extras)


def freeze_policy(
    policy: nn.Module, *, train_action_head: bool = False, train_norms: bool = False
) -> list[str]:
    """Freeze an SB3 actor-critic policy but its LoRA adapters, value side (and action head).

    Also used when a warm-started run resumes: requires_grad flags are not saved in a model zip.
    Returns the names of the trainable parameters; raises ValueError without LoRA adapters.
    """
    if not lora_parameters(policy.features_extractor.backbone):
        raise ValueError(
            "freeze=True but the PPO backbone has no LoRA adapters: build the "
            "extractor with lora_rank > 0, or pass freeze=False"
        )
    wanted = VALUE_SIDE + (("action_net",) if train_action_head else ())
    return freeze_to_heads(policy, wanted, train_norms=train_norms)


def load_backbone_weights(backbone: nn.Module, src: dict[str, torch.Tensor]) -> None:
    """Copy a backbone state dict without LoRA (classifier, pretrained) into ``backbone``,
    which may have LoRA adapters (``x.weight`` -> ``x.base.weight``; adapters keep their init).

    Raises ValueError naming the keys or shapes that differ (another architecture).
    """
    dst = backbone.state_dict()
    state = _remap_backbone_state(src, set(dst))
    missing = [k for k in dst if k not in state]
    not_lora = [k for k in missing if k.rsplit(".", 1)[-1] not in ("lora_A", "lora_B", "merged")]
    if not_lora:
        raise ValueError(f"backbone weights {not_lora[:5]} have no counterpart in the checkpoint")
    shapes = [k for k, v in state.items() if tuple(v.shape) != tuple(dst[k].shape)]
    if shapes:
        k = shapes[0]
        raise ValueError(
            f"backbone weight {k}: checkpoint shape {tuple(state[k].shape)}, this model "
            f"{tuple(dst[k].shape)} (another window, feature set or architecture)"
        )
    backbone.load_state_dict(state, strict=False)


# size: the weight transfer, one block per copied layer with its shape check (model loading)
def load_into_ppo(
    model: Any,
    ckpt: str | os.PathLike[str] | LoadedClassifier,
    *,
    freeze: bool = True,
    train_action_head: bool = False,
    train_norms: bool = False,
) -> dict[str, Any]:
    """Copy classifier weights into an SB3 PPO ``model``; returns a summary dict.

    Raises ValueError naming what differs when the PPO policy is not warm-startable: not a
    shared transformer extractor, ``pi`` layers present, an action space other than 3 actions,
    a different window/feature set or architecture, or ``freeze=True`` without LoRA adapters.
    """
    policy = model.policy
    extractor = policy.features_extractor
    backbone = getattr(extractor, "backbone", None)
    if backbone is None:
        raise ValueError(
            "PPO features extractor has no .backbone: build it with TransformerExtractor"
        )
    if not getattr(policy, "share_features_extractor", True):
        raise ValueError("warm start needs share_features_extractor=True")
    if len(policy.mlp_extractor.policy_net) != 0:
        raise ValueError(
            "warm start needs net_arch=dict(pi=[], vf=[...]): the pi MLP must be empty"
        )
    cfg = backbone.config
    loaded = (
        ckpt if isinstance(ckpt, LoadedClassifier) else load_checkpoint(ckpt, window=cfg.window)
    )
    ccfg = loaded.model.config
    if (ccfg.window, ccfg.n_features, ccfg.n_account) != (
        cfg.window,
        cfg.n_features,
        cfg.n_account,
    ):
        raise ValueError(
            f"observation layout differs: classifier window={ccfg.window}, n_features="
            f"{ccfg.n_features}, n_account={ccfg.n_account}; PPO window={cfg.window}, "
            f"n_features={cfg.n_features}, n_account={cfg.n_account}"
        )
    action_net: nn.Linear = policy.action_net
    head = loaded.model.head
    if action_net.weight.shape != head.weight.shape:
        raise ValueError(
            f"PPO action_net {tuple(action_net.weight.shape)} != classifier head "
            f"{tuple(head.weight.shape)} (features_dim or number of actions differ)"
        )
    load_backbone_weights(backbone, loaded.model.backbone.state_dict())
    with torch.no_grad():
        action_net.weight.copy_(head.weight)
        bias = torch.as_tensor(loaded.correction.bias, dtype=action_net.bias.dtype)
        action_net.bias.copy_(head.bias + bias)
    if freeze:
        trainable = freeze_policy(
            policy, train_action_head=train_action_head, train_norms=train_norms
        )
    else:
        trainable = [n for n, p in policy.named_parameters() if p.requires_grad]
    return {
        "checkpoint_feature_set": loaded.feature_set,
        "window": loaded.window,
        "logit_bias": loaded.correction.bias.tolist(),
        "trainable": trainable,
    }
