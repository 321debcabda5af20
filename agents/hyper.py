"""The hyperparameter dataclass of each RL algorithm: SB3 keyword arguments, passed through by name.

One class per entry of the algorithm table (``agents.algorithms``); a config's ``<algo>`` section
(``agents/configs/<algo>.yml``) is applied onto it field by field, unknown keys refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lab.config import doc as _doc


@dataclass
class PPOHyper:
    """SB3 PPO keyword arguments (same names as ``stable_baselines3.PPO``)."""

    learning_rate: float = field(default=3e-4, metadata=_doc("Adam step size"))
    n_steps: int = field(default=128, metadata=_doc("rollout steps per env per update"))
    batch_size: int = field(default=256, metadata=_doc("minibatch size (transitions)"))
    n_epochs: int = field(default=4, metadata=_doc("passes over each rollout"))
    gamma: float = field(
        default=0.99,
        metadata=_doc("discount per agent step = per env.decision_interval bars (k=1: ~100 bars)"),
    )
    gae_lambda: float = field(default=0.95, metadata=_doc("GAE lambda"))
    clip_range: float = field(default=0.2, metadata=_doc("PPO ratio clip"))
    ent_coef: float = field(default=0.01, metadata=_doc("entropy bonus (fights policy collapse)"))
    vf_coef: float = field(default=0.5, metadata=_doc("value loss weight"))
    max_grad_norm: float = field(default=0.5, metadata=_doc("gradient clip (global L2 norm)"))
    target_kl: float | None = field(default=None, metadata=_doc("early-stop epochs above this KL"))


@dataclass
class SACHyper:
    """SB3 SAC keyword arguments (same names as ``stable_baselines3.SAC``)."""

    learning_rate: float = field(default=3e-4, metadata=_doc("Adam step size"))
    buffer_size: int = field(default=100_000, metadata=_doc("replay buffer size (transitions)"))
    learning_starts: int = field(default=1_000, metadata=_doc("random-action steps before updates"))
    batch_size: int = field(default=256, metadata=_doc("minibatch size (transitions)"))
    tau: float = field(default=0.005, metadata=_doc("target network soft-update rate"))
    gamma: float = field(
        default=0.99, metadata=_doc("discount per agent step (env.decision_interval bars)")
    )
    train_freq: int = field(default=1, metadata=_doc("VecEnv steps between updates"))
    gradient_steps: int = field(default=1, metadata=_doc("gradient steps per update"))
    ent_coef: Any = field(default="auto", metadata=_doc("entropy weight or 'auto' (learned)"))


@dataclass
class TQCHyper(SACHyper):
    """sb3-contrib TQC keyword arguments (``sb3_contrib.TQC``): SAC's, plus the quantile
    truncation that controls the critic's overestimation bias (Kuznetsov et al. 2020). The
    critics (``n_critics`` 2, ``n_quantiles`` 25) are sb3-contrib's defaults."""

    top_quantiles_to_drop_per_net: int = field(
        default=2, metadata=_doc("top quantiles of each critic dropped from the target (bias)")
    )
    target_entropy: Any = field(
        default="auto", metadata=_doc("entropy target of ent_coef 'auto' ('auto' = -action dims)")
    )


@dataclass
class A2CHyper:
    """SB3 A2C keyword arguments (same names as ``stable_baselines3.A2C``)."""

    learning_rate: float = field(default=7e-4, metadata=_doc("RMSprop step size"))
    n_steps: int = field(default=5, metadata=_doc("rollout steps per env per update"))
    gamma: float = field(
        default=0.99, metadata=_doc("discount per agent step (env.decision_interval bars)")
    )
    gae_lambda: float = field(default=1.0, metadata=_doc("GAE lambda (1.0: plain returns)"))
    ent_coef: float = field(default=0.0, metadata=_doc("entropy bonus"))
    vf_coef: float = field(default=0.5, metadata=_doc("value loss weight"))
    max_grad_norm: float = field(default=0.5, metadata=_doc("gradient clip (global L2 norm)"))
    normalize_advantage: bool = field(default=False, metadata=_doc("normalise the advantages"))
