"""``--warm-start CKPT``: fine-tune PPO from a supervised classifier, the FLAG-Trader recipe.

1. ``prepare_warm_start`` (before the run folder exists, so config.yaml records the result):
   validate the checkpoint, then make the run's config match it: the env's feature set and
   window, the extractor's architecture (the checkpoint's preset and overrides) plus LoRA
   adapters when it has none (``warm_start.lora_*``), ``dropout=0``, and the conservative PPO
   hyperparameters of the ``warm_start`` section (learning rate, clip range, target KL). The
   checkpoint's path and sha256 go into ``warm_start.checkpoint*``; its fitted normaliser feeds
   the envs, so the backbone sees exactly the inputs it was trained on.
2. ``warm_start_into``: ``agents.transfer.policy_surgery.load_into_ppo`` copies backbone + head (+ the logit
   correction into ``action_net``'s bias) and freezes the base: only the LoRA adapters, the value
   head and (``train_action_head``) ``action_net`` stay trainable.
3. ``CriticWarmupCallback``: the first ``critic_warmup_steps`` env steps train only the value
   head (the actor starts as the classifier; the critic starts from random and would otherwise
   feed noisy advantages into the actor's first updates); then the actor's parameters thaw.

A resumed run redoes the freezing (``refreeze``): ``requires_grad`` flags are not in a model zip.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback
from torch import nn

from agents.training.config import RunConfig
from agents.transfer.policy_surgery import VALUE_SIDE, freeze_policy, load_into_ppo
from envs.features import RobustNormaliser
from lab.rundir import sha256_file
from policies import make_config
from supervised.checkpoint import load_checkpoint

# Architecture fields the run takes from the checkpoint rather than from its own config.
_LAYOUT_FIELDS = ("window", "n_features", "n_account", "dropout")
_LORA_FIELDS = ("lora_rank", "lora_alpha", "lora_targets", "lora_layers")


class WarmStartError(ValueError):
    """The checkpoint cannot warm-start this run; the message says why and what to do."""


@dataclass
class LoadedWarmStart:
    """A validated supervised checkpoint, its sha256 and its fitted feature normaliser."""

    path: Path
    sha256: str
    classifier: Any  # supervised.checkpoint.LoadedClassifier
    normaliser: Any  # envs.features.RobustNormaliser


def _plain(value: Any) -> Any:
    """Tuples -> lists, so the config stays YAML-safe."""
    return list(value) if isinstance(value, tuple) else value


def extractor_overrides(
    payload: dict[str, Any], cfg: RunConfig, lora: Any = None
) -> tuple[str, dict[str, Any]]:
    """``(preset, extractor_kwargs)`` rebuilding the checkpoint's backbone, plus LoRA adapters.

    Overrides are the checkpoint's ``model_config`` fields that differ from its preset's; LoRA is
    the checkpoint's when it has adapters (their weights must load), else ``lora.lora_*``
    (default ``cfg.warm_start``; ``--pretrained`` passes ``cfg.pretrained``).
    """
    model_config = dict(payload["model_config"])
    preset = str(payload.get("preset") or "cpu")
    base = dataclasses.asdict(
        make_config(
            preset, window=int(model_config["window"]), n_features=int(model_config["n_features"])
        )
    )
    kwargs = {
        k: _plain(v)
        for k, v in model_config.items()
        if k not in _LAYOUT_FIELDS and _plain(base.get(k)) != _plain(v)
    }
    if int(model_config.get("lora_rank", 0)) == 0:
        ws = cfg.warm_start if lora is None else lora
        for k in _LORA_FIELDS:
            kwargs.pop(k, None)
        if ws.lora_rank > 0:
            kwargs.update(
                lora_rank=int(ws.lora_rank),
                lora_alpha=float(ws.lora_alpha),
                lora_targets=list(ws.lora_targets),
            )
    return preset, kwargs


# size: one check per checkpoint field, in the order the module doc lists them (model loading:
# its restructuring belongs with the loading/resume work)
def prepare_warm_start(path: Path, cfg: RunConfig) -> LoadedWarmStart:  # noqa: C901  (one check per checkpoint field, each with its own message)
    """Validate ``path`` as a supervised checkpoint and adapt ``cfg`` to it (module doc, step 1)."""
    if cfg.algo != "ppo":
        raise WarmStartError(
            f"--warm-start is PPO only: a supervised classifier is a 3-way discrete head and "
            f"{cfg.algo.upper()} acts on a continuous target exposure"
        )
    path = Path(path)
    if not path.exists():
        raise WarmStartError(f"--warm-start {path}: no such file or folder")
    if path.is_dir():
        path = path / "model.pt"
    if cfg.env.action != "discrete":
        raise WarmStartError("--warm-start needs env.action: discrete (the classifier's 3 classes)")
    arch = cfg.policy.net_arch
    if not (isinstance(arch, dict) and list(arch.get("pi", [None])) == []):
        raise WarmStartError(
            f"--warm-start needs policy.net_arch {{pi: [], vf: [...]}} (action_net "
            f"directly on the features, like the classifier head), got "
            f"{cfg.policy.net_arch!r}"
        )
    if not cfg.policy.share_features_extractor:
        raise WarmStartError("--warm-start needs policy.share_features_extractor: true")
    try:
        classifier = load_checkpoint(path)
    except Exception as exc:  # torch.load of a non-checkpoint raises pickle errors, not ValueError
        first = (str(exc).strip().splitlines() or [""])[0][:200]  # torch's notes are long
        raise WarmStartError(
            f"--warm-start {path}: refused: not a usable supervised checkpoint "
            f"({type(exc).__name__}: {first})"
        ) from None
    payload = classifier.payload

    normaliser = RobustNormaliser.from_dict(payload["normaliser"])
    n_model = int(dict(payload.get("model_config") or {}).get("n_features", -1))
    n_norm = len(normaliser.feature_names or [])
    if n_model != n_norm:
        raise WarmStartError(
            f"--warm-start {path}: mismatched checkpoint: its model expects n_features "
            f"{n_model} but its normaliser has {n_norm} features (feature_set "
            f"{classifier.feature_set!r}); re-export it with python -m supervised.train"
        )
    notes = []
    if payload.get("env") != cfg.env_name:
        notes.append(
            f"classifier trained on {payload.get('env')!r}, training on {cfg.env_name!r} "
            "(its normaliser is used)"
        )
    layout = {"feature_set": classifier.feature_set, "window": classifier.window}
    for key, value in layout.items():
        if getattr(cfg.env, key) != value:
            notes.append(f"env.{key} {getattr(cfg.env, key)!r} -> {value!r} (the checkpoint's)")
            setattr(cfg.env, key, value)
    costs = payload.get("costs") or {}
    differ = {k: (v, getattr(cfg.env, k)) for k, v in costs.items() if getattr(cfg.env, k, v) != v}
    if differ:
        notes.append(
            f"the classifier's labels/backtests used other costs (checkpoint, run): {differ}"
        )
    if cfg.policy.dropout:
        notes.append(
            f"policy.dropout {cfg.policy.dropout} -> 0 (PPO needs a deterministic forward)"
        )
    cfg.policy.dropout = 0.0
    cfg.policy.preset, cfg.policy.extractor_kwargs = extractor_overrides(payload, cfg)
    ws = cfg.warm_start
    if cfg.policy.freeze_on_warm_start and not cfg.policy.extractor_kwargs.get("lora_rank"):
        raise WarmStartError(
            "policy.freeze_on_warm_start needs LoRA adapters: set "
            "warm_start.lora_rank > 0 or policy.freeze_on_warm_start: false"
        )
    for name in ("learning_rate", "clip_range", "target_kl"):
        if getattr(ws, name) is not None:
            setattr(cfg.hyper, name, getattr(ws, name))
    ws.checkpoint = str(path)
    ws.checkpoint_sha256 = sha256_file(path)
    for note in notes:
        print(f"note: warm start: {note}")
    return LoadedWarmStart(path, ws.checkpoint_sha256, classifier, normaliser)


def warm_start_into(model: Any, loaded: LoadedWarmStart, cfg: RunConfig) -> dict[str, Any]:
    """Copy the classifier into ``model`` and freeze it (``agents.transfer.policy_surgery.load_into_ppo``)."""
    try:
        return load_into_ppo(
            model,
            loaded.classifier,
            freeze=cfg.policy.freeze_on_warm_start,
            train_action_head=cfg.warm_start.train_action_head,
            train_norms=cfg.warm_start.train_norms,
        )
    except ValueError as exc:
        raise WarmStartError(
            f"--warm-start {loaded.path} does not fit this policy: {exc}"
        ) from None


def refreeze(model: Any, cfg: RunConfig) -> list[str]:
    """On --resume of a warm-started run: freeze as the fresh run did; returns trainable names."""
    if not cfg.policy.freeze_on_warm_start:
        return [n for n, p in model.policy.named_parameters() if p.requires_grad]

    return freeze_policy(
        model.policy,
        train_action_head=cfg.warm_start.train_action_head,
        train_norms=cfg.warm_start.train_norms,
    )


def actor_parameters(policy: nn.Module) -> list[nn.Parameter]:
    """Trainable parameters outside the value side: what the critic warm-up holds still."""
    return [
        p
        for n, p in policy.named_parameters()
        if p.requires_grad and not n.startswith(tuple(v + "." for v in VALUE_SIDE))
    ]


class CriticWarmupCallback(BaseCallback):
    """The updates on the first ``warmup_steps`` env steps train only the value side; then the
    actor's trainable parameters (LoRA, action head) thaw.

    Decided at the end of each rollout, right before the PPO update it governs: an update trains
    the actor only if its rollout ended after ``warmup_steps``. Frozen parameters get no gradient,
    so Adam leaves them (and their moments) alone. Logs ``train/critic_warmup`` (1 = critic only).
    """

    def __init__(self, actor_params: list[nn.Parameter], warmup_steps: int) -> None:
        super().__init__(verbose=0)
        self.actor_params = list(actor_params)
        self.warmup_steps = int(warmup_steps)
        self.in_warmup: bool | None = None

    def _set(self) -> None:
        warm = self.model.num_timesteps <= self.warmup_steps
        if warm != self.in_warmup:
            for p in self.actor_params:
                p.requires_grad_(not warm)
            self.in_warmup = warm
        self.logger.record("train/critic_warmup", int(warm))

    def _on_training_start(self) -> None:
        self._set()

    def _on_rollout_end(self) -> None:
        self._set()

    def _on_step(self) -> bool:
        return True
