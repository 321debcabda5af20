"""SB3 ``policy_kwargs`` from a RunConfig: the transformer extractor sized from the env, plus heads.

Apart from ``agents.training.models`` (build/load) so that ``agents.acting.safe_load`` can rebuild a saved
model's ``policy_kwargs`` without importing the module that loads through it.
"""

from __future__ import annotations

from typing import Any

from agents.algorithms import ALGOS
from agents.training.config import RunConfig
from policies import TransformerExtractor


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
    if cfg.env.daily_window:  # multi-timeframe: the second encoder (absent: the old kwargs)
        extractor["daily_window"] = cfg.env.daily_window
    spec = ALGOS[cfg.algo]
    extractor.update(spec.extractor_kwargs)  # e.g. SAC: dropout allowed (no ratio re-sampling)
    kwargs: dict[str, Any] = {
        "features_extractor_class": TransformerExtractor,
        "features_extractor_kwargs": extractor,
        "net_arch": cfg.policy.net_arch,
        "share_features_extractor": cfg.policy.share_features_extractor,
        # one batched Adam update instead of a per-tensor loop: ~10 % faster PPO on CPU
        # (bench/RESULTS.md, train_fps), same maths
        "optimizer_kwargs": {"foreach": True},
    }
    kwargs.update(spec.policy_kwargs)  # e.g. PPO: ortho_init off (agents.algorithms says why)
    return kwargs
