"""The classifier checkpoint ``model.pt``: weights plus everything needed to use them honestly.

Contents (a plain dict, loadable with ``torch.load(weights_only=True)``)::

    format            "rltrade-supervised-v1"
    state_dict        Classifier weights (backbone.* and head.*)
    model_config      TransformerConfig fields (window, n_features, preset sizes, LoRA)
    env, feature_set, window, feature_names
    label_spec        LabelSpec.to_dict()
    split             {"train": [start, end], "val": [...], ...} date strings, half-open
    normaliser        RobustNormaliser.to_dict() (fitted on train rows)
    logit_correction  LogitCorrection.to_dict() (fitted on val)
    decision_rule     DecisionRule.to_dict() (fitted on val; absent in older checkpoints = argmax)
    loss              {"name": ..., **options}, class_prior (train label prior, SELL/HOLD/BUY)
    costs             {"fee_bps", "slippage_bps", "funding"} of its labels and backtests
    preset            the policies preset model_config started from (e.g. "cpu")
    extra             free-form (best epoch, val metrics)

``load_checkpoint(path, feature_set=..., window=...)`` refuses a checkpoint whose feature set or
window differ from the requested ones, naming both values: a model fed another layout would
silently read garbage.
"""

from __future__ import annotations

import dataclasses
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lab.atomic import atomic_write_bytes
from lab.config import ConfigError
from policies import TransformerConfig
from supervised.decision import DecisionRule
from supervised.labels import LabelSpec
from supervised.logit_correction import LogitCorrection
from supervised.model import Classifier

FORMAT = "rltrade-supervised-v1"
REQUIRED_KEYS = ("state_dict", "model_config", "feature_set", "window", "label_spec",
                 "normaliser", "logit_correction")  # fmt: skip


class CheckpointError(ConfigError):
    """A ``model.pt`` that cannot or must not be used (unreadable, tampered, NaN weights); the
    message is one line naming the file and the fix (a ``ConfigError``: the CLIs exit 2)."""


@dataclass
class LoadedClassifier:
    """A checkpoint brought back to life; ``model`` is in eval mode."""

    model: Classifier
    correction: LogitCorrection
    label_spec: LabelSpec
    feature_set: str
    window: int
    payload: dict[str, Any]
    rule: DecisionRule = field(default_factory=DecisionRule)  # the trading decision on the probs

    @torch.no_grad()
    def corrected_logits(self, obs: torch.Tensor) -> torch.Tensor:
        """Raw logits plus the post-hoc bias: what the trading policy takes the argmax of."""
        bias = torch.as_tensor(self.correction.bias, dtype=torch.float32)
        return self.model(obs) + bias


def save_checkpoint(
    path: str | os.PathLike[str],
    model: Classifier,
    *,
    env: str,
    feature_set: str,
    feature_names: list[str],
    label_spec: LabelSpec,
    split: dict[str, Any],
    normaliser: dict[str, Any],
    correction: LogitCorrection,
    loss: dict[str, Any],
    class_prior: list[float],
    costs: dict[str, Any] | None = None,
    preset: str | None = None,
    extra: dict[str, Any] | None = None,
    decision_rule: DecisionRule | None = None,
) -> Path:
    """Write ``model.pt`` atomically (temp file + rename)."""
    payload = {
        "format": FORMAT,
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "model_config": dataclasses.asdict(model.config),
        "env": env,
        "feature_set": feature_set,
        "window": int(model.config.window),
        "feature_names": list(feature_names),
        "label_spec": label_spec.to_dict(),
        "split": split,
        "normaliser": normaliser,
        "logit_correction": correction.to_dict(),
        "decision_rule": (decision_rule or DecisionRule()).to_dict(),
        "loss": loss,
        "class_prior": [float(x) for x in class_prior],
        "costs": dict(costs or {}),
        "preset": preset,
        "extra": extra or {},
    }
    # serialised in memory first: torch's zip writer reports a full disk as an opaque
    # RuntimeError ("unexpected pos"); lab.atomic names the file the disk refused
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(
    path: str | os.PathLike[str], *, feature_set: str | None = None, window: int | None = None
) -> LoadedClassifier:
    """Load ``model.pt`` (or a run folder containing it); check feature set and window."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no supervised checkpoint here (expected model.pt)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001  (truncated, not a zip, crafted pickle: all refused)
        raise CheckpointError(
            f"{path}: not a readable supervised checkpoint ({type(err).__name__}); give the "
            "model.pt a supervised.train run wrote"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a supervised checkpoint (format {FORMAT!r} expected)")
    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise CheckpointError(
            f"{path}: the checkpoint lacks {', '.join(missing)} (damaged or edited): give the "
            "model.pt a supervised.train run wrote"
        )
    problems = []
    if feature_set is not None and feature_set != payload["feature_set"]:
        problems.append(
            f"feature_set: checkpoint {payload['feature_set']!r}, requested {feature_set!r}"
        )
    if window is not None and int(window) != int(payload["window"]):
        problems.append(f"window: checkpoint {payload['window']}, requested {int(window)}")
    if problems:
        raise CheckpointError(
            f"{path} does not match the requested observation layout ({'; '.join(problems)}). "
            f"Build the env with feature_set={payload['feature_set']!r}, window={payload['window']}, "
            "or train a classifier for the layout you want."
        )
    check_finite_weights(path, payload["state_dict"])
    try:
        model = Classifier(TransformerConfig(**payload["model_config"]))
        model.load_state_dict(payload["state_dict"])
        model.eval()
        return LoadedClassifier(
            model=model,
            correction=LogitCorrection.from_dict(payload["logit_correction"]),
            label_spec=LabelSpec.from_dict(payload["label_spec"]),
            feature_set=str(payload["feature_set"]),
            window=int(payload["window"]),
            payload=payload,
            rule=DecisionRule.from_dict(payload.get("decision_rule")),
        )
    except (RuntimeError, TypeError, ValueError, KeyError) as err:  # shapes, fields, values
        what = " ".join(str(err).split())[:300]
        raise CheckpointError(
            f"{path}: the checkpoint does not rebuild its model ({type(err).__name__}: {what}); "
            "it was edited or damaged: give the model.pt a supervised.train run wrote"
        ) from None


def check_finite_weights(path: Path, state_dict: Any) -> None:
    """Refuse a checkpoint with a NaN or infinite weight, naming the first tensor: a diverged
    model acts as a constant policy and would be evaluated as if it were one."""
    if not isinstance(state_dict, dict):
        raise CheckpointError(f"{path}: state_dict is not a mapping of tensors (damaged or edited)")
    for name, tensor in state_dict.items():
        if (
            torch.is_tensor(tensor)
            and tensor.is_floating_point()
            and not torch.isfinite(tensor).all()
        ):
            raise CheckpointError(
                f"{path}: weight {name} holds NaN or infinite values (the training diverged or "
                "the file was edited): refused; retrain it"
            )
