"""The RL algorithm table: one ``AlgoSpec`` per algorithm, the one place a reader looks.

In the spirit of rl-baselines3-zoo's ``ALGOS``: adding an SB3 algorithm is one entry here plus
one YAML (``agents/configs/<name>.yml``); ``python -m agents <name> --env btc1h`` then trains it
(``agents.__main__``), and the config resolution, the model build, safe loading, the pretrained
backbone's frozen heads, warm start and the learner table (``agents.learners``) all read the
entry. ``tests/test_algorithms.py`` fails when an entry is incomplete.

Fields:

* ``sb3``: the SB3 class as ``"module:Name"``, imported when a model is built or loaded
  (``AlgoSpec.sb3_class``), so reading the table (config checks, ``--help``) pays no torch import.
* ``hyper``: the hyperparameter dataclass (``agents.hyper``): the config's ``<name>`` section.
* ``defaults``: config sections that differ from the shared dataclass defaults (layer 1 of
  ``agents.training.config``), e.g. SAC's continuous action and separate actor/critic extractors.
* ``actions``: the env action kinds the algorithm can drive (``discrete``, ``continuous``).
* ``warm_startable``: takes ``--warm-start CKPT`` (a supervised 3-class head becomes its actor).
* ``trainable_heads``: parameter-name prefixes that train on a frozen pretrained base
  (``--pretrained``; ``agents.transfer.policy_surgery.freeze_to_heads``).
* ``pickled_entries``: the hyperparameters SB3 pickles into a saved zip's ``data`` beyond the
  common ones; ``agents.acting.safe_load`` rebuilds them from the run's config instead of unpickling.
* ``policy_kwargs``: extra SB3 ``policy_kwargs`` (PPO/A2C keep the transformer's own init).
* ``extractor_kwargs``: extra extractor kwargs (SAC never re-samples dropout inside a ratio).
* ``replay_buffer``: off-policy; checkpoints carry the replay buffer (``agents.resume.replay_state``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.hyper import A2CHyper, PPOHyper, SACHyper, TQCHyper

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
OWN_ENTRY_MODULES = ("ppo", "sac")  # agents/ppo.py, agents/sac.py: the README's commands
ACTION_KINDS = ("discrete", "continuous")


@dataclass(frozen=True)
class AlgoSpec:
    """One RL algorithm: its SB3 class, hyperparameters, config and capabilities."""

    name: str
    sb3: str
    hyper: type
    actions: tuple[str, ...]
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    warm_startable: bool = False
    trainable_heads: tuple[str, ...] = ()
    pickled_entries: tuple[str, ...] = ()
    policy_kwargs: dict[str, Any] = field(default_factory=dict)
    extractor_kwargs: dict[str, Any] = field(default_factory=dict)
    replay_buffer: bool = False
    policy: str = "MlpPolicy"

    @property
    def config_yaml(self) -> Path:
        """``agents/configs/<name>.yml``: the zoo-style per-market hyperparameters."""
        return CONFIG_DIR / f"{self.name}.yml"

    @property
    def command(self) -> list[str]:
        """The ``python`` arguments that train it: ``-m agents.ppo`` / ``-m agents.sac`` (their
        own modules, as the README spells them), ``-m agents <name>`` for every other entry."""
        if self.name in OWN_ENTRY_MODULES:
            return ["-m", f"agents.{self.name}"]
        return ["-m", "agents", self.name]

    @property
    def prog(self) -> str:
        """The command as a user types it (``--help``, error lines)."""
        return "python " + " ".join(self.command)

    @property
    def entry(self) -> tuple[str, list[str]]:
        """``(module, leading argv)`` whose ``main(leading + argv)`` trains one run in-process
        (what ``lab.seeds`` runs per seed)."""
        if self.name in OWN_ENTRY_MODULES:
            return f"agents.{self.name}", []
        return "agents.__main__", [self.name]

    def sb3_class(self) -> Any:
        """The SB3 (or sb3-contrib) algorithm class."""
        module, _, name = self.sb3.partition(":")
        # torch + SB3 load only when a model is built or loaded, not when the table is read
        return getattr(importlib.import_module(module), name)


ALGOS: dict[str, AlgoSpec] = {
    "ppo": AlgoSpec(
        name="ppo",
        sb3="stable_baselines3:PPO",
        hyper=PPOHyper,
        actions=("discrete", "continuous"),
        warm_startable=True,
        trainable_heads=("mlp_extractor", "action_net", "value_net"),
        pickled_entries=("clip_range", "clip_range_vf"),
        # keep the backbone's own (nanoGPT) init: SB3's orthogonal gain-sqrt(2) re-init of the
        # extractor is meant for MLPs and would also break a warm start's equivalence
        policy_kwargs={"ortho_init": False},
    ),
    "sac": AlgoSpec(
        name="sac",
        sb3="stable_baselines3:SAC",
        hyper=SACHyper,
        actions=("continuous",),
        defaults={
            "env": {"action": "continuous"},
            "policy": {"net_arch": [64, 64], "share_features_extractor": False},
        },
        trainable_heads=(
            "actor.latent_pi",
            "actor.mu",
            "actor.log_std",
            "critic.qf0",
            "critic.qf1",
        ),
        pickled_entries=("train_freq",),
        extractor_kwargs={"allow_dropout": True},
        replay_buffer=True,
    ),
    "a2c": AlgoSpec(
        name="a2c",
        sb3="stable_baselines3:A2C",
        hyper=A2CHyper,
        actions=("discrete", "continuous"),
        trainable_heads=("mlp_extractor", "action_net", "value_net"),
        policy_kwargs={"ortho_init": False},  # as PPO: keep the transformer's own init
    ),
    "tqc": AlgoSpec(  # sb3-contrib: SAC with distributional (quantile) critics
        name="tqc",
        sb3="sb3_contrib:TQC",
        hyper=TQCHyper,
        actions=("continuous",),
        defaults={
            "env": {"action": "continuous"},
            "policy": {"net_arch": [64, 64], "share_features_extractor": False},
        },
        trainable_heads=(
            "actor.latent_pi",
            "actor.mu",
            "actor.log_std",
            "critic.qf0",
            "critic.qf1",
        ),
        pickled_entries=("train_freq", "target_entropy"),
        extractor_kwargs={"allow_dropout": True},
        replay_buffer=True,
    ),
    # PPO with an LSTM between the transformer extractor and the heads (sb3-contrib); its state
    # is carried by agents.acting.loading.RecurrentSB3Policy (backtest.policy.StatefulPolicy)
    "recurrent_ppo": AlgoSpec(
        name="recurrent_ppo",
        sb3="sb3_contrib:RecurrentPPO",
        hyper=PPOHyper,  # the same keyword arguments as PPO's
        actions=("discrete", "continuous"),
        trainable_heads=("lstm_actor", "lstm_critic", "mlp_extractor", "action_net", "value_net"),
        pickled_entries=("clip_range", "clip_range_vf"),
        policy_kwargs={"ortho_init": False, "lstm_hidden_size": 64, "enable_critic_lstm": True},
        policy="MlpLstmPolicy",
    ),
}


def algo_spec(name: str) -> AlgoSpec:
    """The table's entry ``name``; ``KeyError`` naming the valid ones otherwise."""
    if name not in ALGOS:
        raise KeyError(f"unknown algo {name!r}; valid: {', '.join(ALGOS)}")
    return ALGOS[name]
