"""``--pretrained CKPT``: PPO/SAC on a self-supervised backbone with LoRA, the FLAG-Trader recipe.

1. ``prepare_pretrained`` (before the run folder exists, so config.yaml records the result):
   load the checkpoint safely (``torch.load(weights_only=True)``, ``supervised.pretrain_core``),
   check its format and that its feature set and window are the run's (refused otherwise: a
   backbone fed another layout reads garbage), then make the extractor the checkpoint's
   architecture plus LoRA adapters (``pretrained.lora_*``; ``agents.transfer.warm_start.
   extractor_overrides``) with dropout 0. The checkpoint's path and sha256 go into
   ``pretrained.checkpoint*`` (a sha256 set in the config beforehand is a pin it must match).
2. ``pretrained_into``: copy the backbone weights into every transformer backbone of the policy
   (PPO's shared extractor; SAC's actor, critic and target critic extractors) and, with
   ``pretrained.freeze``, freeze the base: only the LoRA adapters and the heads (``HEADS``) train
   (``agents.transfer.policy_surgery.freeze_to_heads``), plus the LayerNorms with ``train_norms``.
3. ``refreeze_pretrained`` on --resume: ``requires_grad`` flags are not in a model zip.

SAC's target critic is frozen too (it follows the critic by Polyak averaging); its copy of the
frozen base then drifts from the checkpoint by float rounding only (~1e-6: ``(1 - tau) x + tau x``).

The env keeps its own train-fitted normaliser: the pretraining normalised each market by its own
train-fitted normaliser, as the env does, so the backbone sees inputs scaled as in pretraining.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.algorithms import ALGOS
from agents.training.config import RunConfig
from agents.transfer.policy_surgery import freeze_to_heads, load_backbone_weights
from agents.transfer.warm_start import extractor_overrides
from lab.rundir import REPO_ROOT, sha256_file
from policies import TransformerBackbone
from supervised.pretrain_core import read_checkpoint

# Parameter-name prefixes of the heads that train on a frozen pretrained base, per algorithm:
# the algorithm table's (every entry, a2c and tqc included).
HEADS: dict[str, tuple[str, ...]] = {name: spec.trainable_heads for name, spec in ALGOS.items()}


class PretrainedError(ValueError):
    """The checkpoint cannot serve this run; the message says why and what to do."""


@dataclass
class LoadedPretrained:
    """A validated pretrained checkpoint and its sha256."""

    path: Path
    sha256: str
    payload: dict[str, Any]


def _check_layout(path: Path, payload: dict[str, Any], cfg: RunConfig) -> None:
    """Refuse a checkpoint whose feature set or window differ from the run's env."""
    problems = []
    if payload["feature_set"] != cfg.env.feature_set:
        problems.append(f"feature_set {payload['feature_set']!r} (run: {cfg.env.feature_set!r})")
    if int(payload["window"]) != int(cfg.env.window):
        problems.append(f"window {payload['window']} (run: {cfg.env.window})")
    if problems:
        raise PretrainedError(
            f"--pretrained {path}: pretrained for {' and '.join(problems)}; set env.feature_set "
            f"/ env.window to the checkpoint's (--config) or pretrain for this layout: "
            f"python -m supervised.pretrain --feature-set {cfg.env.feature_set} "
            f"--window {cfg.env.window}"
        )


def _note_market(payload: dict[str, Any], cfg: RunConfig) -> None:
    """A note when the run's market was not pretrained on (allowed: transfer)."""
    names = [m.get("name") for m in payload.get("markets", [])]
    if cfg.env_name not in names:
        print(f"note: pretrained: backbone pretrained on {names}, training on {cfg.env_name!r}")


def prepare_pretrained(path: Path, cfg: RunConfig) -> LoadedPretrained:
    """Validate ``path`` as a pretrained backbone and adapt ``cfg`` to it (module doc, step 1)."""
    if cfg.warm_start.checkpoint:
        raise PretrainedError(
            "--pretrained and --warm-start (warm_start.checkpoint) exclude each other: "
            "pick one starting point"
        )
    path = Path(path)
    if not path.exists() and not path.is_absolute() and (REPO_ROOT / path).exists():
        path = REPO_ROOT / path  # a config's relative path (ppo.yml) names a repository file
    if not path.exists():
        raise PretrainedError(f"--pretrained {path}: no such file or folder")
    if path.is_dir():
        path = path / "backbone.pt"
    try:
        payload = read_checkpoint(path)
    except (ValueError, OSError) as exc:
        raise PretrainedError(f"--pretrained {exc}") from None
    digest = sha256_file(path)
    pin = cfg.pretrained.checkpoint_sha256
    if pin and pin != digest:  # set in a config (ppo.yml, --config): the file must match it
        raise PretrainedError(
            f"--pretrained {path}: sha256 {digest[:16]}... differs from the pinned "
            f"pretrained.checkpoint_sha256 {pin[:16]}... of the config; rebuild it with the "
            "command in its 'command' field, or update or remove the pin"
        )
    _check_layout(path, payload, cfg)
    pc = cfg.pretrained
    if pc.freeze and pc.lora_rank == 0:
        raise PretrainedError(
            "pretrained.freeze needs LoRA adapters: set pretrained.lora_rank > 0 "
            "or pretrained.freeze: false (full fine-tuning)"
        )

    if cfg.policy.dropout:
        print(f"note: pretrained: policy.dropout {cfg.policy.dropout} -> 0")
    cfg.policy.dropout = 0.0
    cfg.policy.preset, cfg.policy.extractor_kwargs = extractor_overrides(payload, cfg, lora=pc)
    pc.checkpoint, pc.checkpoint_sha256 = str(path), digest
    _note_market(payload, cfg)
    return LoadedPretrained(path, digest, payload)


def backbones(policy: Any) -> list[Any]:
    """Every distinct ``TransformerBackbone`` in ``policy`` (shared extractors counted once)."""
    return [m for m in policy.modules() if isinstance(m, TransformerBackbone)]


def pretrained_into(model: Any, loaded: LoadedPretrained, cfg: RunConfig) -> list[str]:
    """Load the backbone into every extractor of ``model`` and freeze (module doc, step 2);
    returns the trainable parameter names."""
    found = backbones(model.policy)
    if not found:
        raise PretrainedError("--pretrained: the policy has no transformer backbone")
    for backbone in found:
        try:
            load_backbone_weights(backbone, loaded.payload["backbone"])
        except (ValueError, RuntimeError) as exc:
            first = str(exc).splitlines()[0][:200]
            raise PretrainedError(f"--pretrained {loaded.path} does not fit: {first}") from None
    return refreeze_pretrained(model, cfg)


def refreeze_pretrained(model: Any, cfg: RunConfig) -> list[str]:
    """Freeze all but LoRA + heads (``pretrained.freeze``); returns the trainable names."""
    if not cfg.pretrained.freeze:
        return [n for n, p in model.policy.named_parameters() if p.requires_grad]

    names = freeze_to_heads(model.policy, HEADS[cfg.algo], train_norms=cfg.pretrained.train_norms)
    target = getattr(model.policy, "critic_target", None)
    if target is not None:  # SAC's target critic follows by Polyak averaging, never by gradient
        target.requires_grad_(False)
        names = [n for n in names if not n.startswith("critic_target.")]
    return names


def pretrained_for(inv: Any) -> LoadedPretrained | None:
    """The run's pretrained backbone (``--pretrained`` or ``pretrained.checkpoint`` in the
    config), prepared; None without one or on --resume (the saved config already has it)."""
    source = inv.pretrained or inv.cfg.pretrained.checkpoint
    if not source or inv.resume:
        return None
    return prepare_pretrained(Path(source), inv.cfg)
