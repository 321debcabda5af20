"""``--warm-start CKPT``: initialise PPO from a supervised classifier checkpoint.

The check runs before anything is built (a wrong path or layout fails in a second, not after
loading data), and the checkpoint's own normaliser then feeds the envs, so the backbone sees
exactly the inputs it was trained on. The weight copy itself is
``supervised.warmstart.load_into_ppo`` (backbone -> features extractor, head + logit
correction -> ``action_net``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.config import RunConfig


class WarmStartError(ValueError):
    """The checkpoint cannot warm-start this run; the message says why and what to do."""


@dataclass
class LoadedWarmStart:
    """A validated supervised checkpoint and its fitted feature normaliser."""

    path: Path
    classifier: Any  # supervised.checkpoint.LoadedClassifier
    normaliser: Any  # envs.features.RobustNormaliser


def check_warm_start(path: Path, cfg: RunConfig) -> LoadedWarmStart:
    """Validate ``path`` as a supervised checkpoint matching the run's observation layout."""
    if cfg.algo != "ppo":
        raise WarmStartError(
            f"--warm-start is PPO only: a supervised classifier is a 3-way discrete head and "
            f"{cfg.algo.upper()} acts on a continuous target exposure"
        )
    if not path.exists():
        raise WarmStartError(f"--warm-start {path}: no such file or folder")
    try:
        from supervised.checkpoint import load_checkpoint
        from supervised.warmstart import load_into_ppo  # noqa: F401  (availability check)
    except ImportError as exc:
        raise WarmStartError(f"--warm-start is not yet available: supervised.warmstart cannot be "
                             f"imported ({exc})") from None
    if cfg.env.action != "discrete":
        raise WarmStartError("--warm-start needs env.action: discrete (the classifier's 3 classes)")
    try:
        classifier = load_checkpoint(path, feature_set=cfg.env.feature_set, window=cfg.env.window)
    except Exception as exc:  # torch.load of a non-checkpoint raises pickle errors, not ValueError
        raise WarmStartError(f"--warm-start {path}: not a usable supervised checkpoint "
                             f"({type(exc).__name__}: {exc})") from None
    from envs.features import RobustNormaliser

    normaliser = RobustNormaliser.from_dict(classifier.payload["normaliser"])
    ckpt_env = classifier.payload.get("env")
    if ckpt_env != cfg.env_name:
        print(f"note: warm start from a classifier trained on {ckpt_env!r}, training on "
              f"{cfg.env_name!r} (its normaliser is used)")
    return LoadedWarmStart(Path(path), classifier, normaliser)


def warm_start_into(model: Any, loaded: LoadedWarmStart, cfg: RunConfig) -> dict[str, Any]:
    """Copy the classifier into ``model`` (see ``supervised.warmstart.load_into_ppo``)."""
    from supervised.warmstart import load_into_ppo

    try:
        return load_into_ppo(model, loaded.classifier, freeze=cfg.policy.freeze_on_warm_start)
    except ValueError as exc:
        raise SystemExit(
            f"python -m agents.ppo: error: --warm-start {loaded.path} does not fit this policy: "
            f"{exc}. Match policy.preset / policy.extractor_kwargs to the classifier's."
        ) from None
