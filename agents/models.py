"""SB3 models from a RunConfig: policy kwargs with the transformer extractor, build, load.

Kept apart from the entry points so PPO and SAC build their networks the same way and so
``evaluate`` can load a run's model knowing only its folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stable_baselines3 import PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from agents.config import RunConfig
from policies import TransformerExtractor

ALGOS: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "sac": SAC}


def policy_kwargs(cfg: RunConfig, n_features: int) -> dict[str, Any]:
    """SB3 ``policy_kwargs``: the transformer extractor sized from the env, plus the heads.

    ``n_features`` comes from the env (its feature set); ``window`` from the config, which is
    what the env was built with.
    """
    extractor = {
        "preset": cfg.policy.preset,
        "window": cfg.env.window,
        "n_features": n_features,
        "dropout": cfg.policy.dropout,
        **cfg.policy.extractor_kwargs,
    }
    if cfg.algo == "sac":
        # SAC never re-samples dropout inside a ratio, so a positive value is allowed there.
        extractor["allow_dropout"] = True
    kwargs: dict[str, Any] = {
        "features_extractor_class": TransformerExtractor,
        "features_extractor_kwargs": extractor,
        "net_arch": cfg.policy.net_arch,
        "share_features_extractor": cfg.policy.share_features_extractor,
        # one batched Adam update instead of a per-tensor loop: ~10 % faster PPO on CPU
        # (bench/RESULTS.md, train_fps), same maths
        "optimizer_kwargs": {"foreach": True},
    }
    if cfg.algo == "ppo":
        # Keep the backbone's own (nanoGPT) init: SB3's orthogonal gain-sqrt(2) re-init of the
        # extractor is meant for MLPs and would also break a warm start's equivalence.
        kwargs["ortho_init"] = False
    return kwargs


def build_model(
    cfg: RunConfig, env: VecEnv, n_features: int, tensorboard_log: str | Path | None
) -> BaseAlgorithm:
    """A fresh PPO/SAC with the config's hyperparameters, seeded with ``cfg.seed``."""
    algo_cls = ALGOS[cfg.algo]
    hyper = dict(vars(cfg.hyper))
    return algo_cls(
        "MlpPolicy",
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
    unpickling anything: ``agents.safe_load`` rebuilds its serialized entries from ``cfg``."""
    from agents.safe_load import load_sb3_zip

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
    from policies import lora_parameters

    return sum(p.numel() for p in lora_parameters(model.policy))
