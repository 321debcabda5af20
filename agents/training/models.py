"""SB3 models from a RunConfig: policy kwargs with the transformer extractor, build, load.

Kept apart from the entry points so PPO and SAC build their networks the same way and so
``evaluate`` can load a run's model knowing only its folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from agents.acting.safe_load import load_sb3_zip
from agents.algorithms import ALGOS
from agents.training.config import RunConfig
from agents.training.networks import policy_kwargs
from policies import lora_parameters

__all__ = ["build_model", "load_model", "lora_parameter_count", "parameter_counts", "policy_kwargs"]


def build_model(
    cfg: RunConfig, env: VecEnv, n_features: int, tensorboard_log: str | Path | None
) -> BaseAlgorithm:
    """A fresh model of ``cfg.algo`` (``agents.algorithms``) with the config's hyperparameters,
    seeded with ``cfg.seed``."""
    spec = ALGOS[cfg.algo]
    hyper = dict(vars(cfg.hyper))
    return spec.sb3_class()(
        spec.policy,
        env,
        policy_kwargs=policy_kwargs(cfg, n_features),
        tensorboard_log=None if tensorboard_log is None else str(tensorboard_log),
        seed=cfg.seed,
        device=cfg.train.device,
        verbose=0,
        **hyper,
    )


def load_model(
    algo: str,
    path: str | Path,
    env: VecEnv | None = None,
    device: str = "auto",
    tensorboard_log: str | Path | None = None,
    *,
    cfg: RunConfig,
    spaces: tuple[Any, Any] | None = None,
    n_features: int | None = None,
) -> BaseAlgorithm:
    """Load a saved PPO/SAC zip (optionally attaching an env and a TensorBoard folder) without
    unpickling anything: ``agents.acting.safe_load`` rebuilds its serialized entries from ``cfg``."""
    assert cfg.algo == algo, (cfg.algo, algo)
    return load_sb3_zip(
        path,
        cfg,
        env=env,
        spaces_=spaces,
        n_features=n_features,
        device=device,
        tensorboard_log=tensorboard_log,
    )


def parameter_counts(model: BaseAlgorithm) -> tuple[int, int]:
    """``(total, trainable)`` parameter elements of the policy (shared modules counted once)."""
    params = list(model.policy.parameters())  # nn.Module.parameters() deduplicates
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def lora_parameter_count(model: BaseAlgorithm) -> int:
    """LoRA adapter elements in the policy (``--pretrained``, ``--warm-start``; 0 from scratch)."""
    return sum(p.numel() for p in lora_parameters(model.policy))
