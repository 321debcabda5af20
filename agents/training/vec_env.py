"""The SB3 side of the batched trading env, and the env builders the entry points use.

``envs.BatchedTradingEnv`` implements SB3's VecEnv method set in plain numpy (``envs`` never
imports SB3); inheriting from both makes it a real ``VecEnv`` that SB3's type checks and
wrappers (VecMonitor) accept. VecEnv's ``__init__`` is not called: BatchedTradingEnv already
sets every attribute it would (``num_envs``, spaces, ``reset_infos``, ``_seeds``, ...).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv

from envs import BatchedTradingEnv, load_market
from envs.registry import split_range


class SB3BatchedTradingEnv(BatchedTradingEnv, VecEnv):
    """``BatchedTradingEnv`` as an SB3 ``VecEnv``.

    ``reseed_every_reset``: when set, every ``reset()`` re-seeds env i with
    ``reseed_every_reset + i`` first, so each evaluation (SB3's ``evaluate_policy`` resets
    once per call) sees the same episode starts and successive scores are comparable.
    """

    def __init__(self, *args: Any, reseed_every_reset: int | None = None, **kwargs: Any) -> None:
        BatchedTradingEnv.__init__(self, *args, **kwargs)
        self.reseed_every_reset = reseed_every_reset

    def reset(self) -> np.ndarray:
        """Reset every env, reseeding first when ``reseed_every_reset`` is set."""
        if self.reseed_every_reset is not None:
            self.seed(self.reseed_every_reset)
        return BatchedTradingEnv.reset(self)


def make_sb3_batched_env(
    preset: str,
    n_envs: int,
    split: str | None,
    *,
    feature_set: str,
    window: int,
    normaliser: Any = None,
    seed: int | None = None,
    reseed_every_reset: int | None = None,
    context: str | None = None,
    daily_window: int = 0,
    **options: Any,
) -> SB3BatchedTradingEnv:
    """Like ``envs.make_batched_env`` but the SB3 subclass: env i is seeded ``seed + i``.

    ``normaliser`` None fits the RobustNormaliser on the train split (``envs.load_market``,
    cached in-process, so the val env built next reuses the same market arrays); the fitted
    one is ``venv.normaliser``.
    """
    market, norm = load_market(preset, feature_set, window, normaliser, context, daily_window)
    venv = SB3BatchedTradingEnv(
        market,
        n_envs,
        split_range(market, preset, split),
        seed=seed,
        reseed_every_reset=reseed_every_reset,
        **options,
    )
    venv.normaliser = norm
    venv.preset, venv.split = preset, split
    return venv
