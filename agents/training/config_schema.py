"""The sections of a training config as dataclasses whose fields document themselves.

``RunConfig`` holds the sections ``env`` (what ``envs.make_env`` receives), ``policy`` (the
network), the algorithm's hyperparameters (``agents.hyper``, section named after the algorithm),
``train`` (budget, eval, checkpoints), ``warm_start`` and ``pretrained``. How a config is resolved
from its layers and validated: ``agents.training.config``; the value checks: ``agents.training.config_checks``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from agents.algorithms import ALGOS
from agents.transfer.pretrained_config import PretrainedConfig
from envs.params import EnvParams
from lab.config import ConfigError
from lab.config import doc as _doc

_ENV_FIELDS = {f.name: f for f in dataclasses.fields(EnvParams)}


def _env_option(name: str) -> Any:
    """A config field that is ``EnvParams.<name>``: the env's default and documentation."""
    f = _ENV_FIELDS[name]
    return field(default=f.default, metadata=_doc(f.metadata["doc"]))


@dataclass
class EnvConfig:
    """Env settings: ``envs`` options (see ``envs.params.EnvParams`` and the ``TradingEnv``
    docstring) plus the number of parallel training envs. Defaults equal the env's own."""

    feature_set: str = field(
        default="core17", metadata=_doc("feature set: core17 | flagtrader60 | daily | daily30")
    )
    window: int = field(default=32, metadata=_doc("observation window in bars (hours)"))
    daily_window: int = field(
        default=0,
        metadata=_doc(
            "daily-sampled feature rows (t, t-1d, ...) appended to the observation, encoded by "
            "a second extractor backbone (envs.multiframe); 0 = none"
        ),
    )
    context: str | None = field(
        default=None,
        metadata=_doc(
            "another market (preset or market key, e.g. eth1h) whose returns the daily/daily30 "
            "sets read as cross-asset context (envs.features.daily); null = none"
        ),
    )
    # every env option below is envs.params.EnvParams' field of the same name: its default and
    # its doc come from there (one source: "same costs everywhere"), see _env_option
    fee_bps: float = _env_option("fee_bps")
    slippage_bps: float = _env_option("slippage_bps")
    funding: bool = _env_option("funding")
    fill: str = _env_option("fill")
    reward: str = _env_option("reward")
    dd_penalty: float = _env_option("dd_penalty")
    episode_length: int | None = _env_option("episode_length")
    decision_interval: int | str = _env_option("decision_interval")
    action: str = _env_option("action")
    long_only: bool = _env_option("long_only")
    # the action rules (envs.actions): part of the policy, applied in training, backtests,
    # walk-forward and serving alike
    no_trade_band: float = _env_option("no_trade_band")
    min_hold: int | str = _env_option("min_hold")
    vol_target: float | None = _env_option("vol_target")
    vol_window: int | str = _env_option("vol_window")
    max_leverage: float = _env_option("max_leverage")
    options: dict[str, Any] = field(
        default_factory=dict,
        metadata=_doc("any other envs.params.EnvParams option (max_drawdown, reward_scale, ...)"),
    )
    n_envs: int = field(default=16, metadata=_doc("parallel envs in the batched training VecEnv"))
    randomise: dict[str, Any] = field(
        default_factory=dict,
        metadata=_doc(
            "TRAINING-only episode randomisation (envs.randomise; never applied to validation, "
            "evaluate, predict or paper): episode_length_min (lengths drawn in [it, "
            "episode_length]), obs_noise_std (Gaussian on the normalised features), fee_mult / "
            "slippage_mult [lo, hi] (cost multipliers drawn per episode), market_weights bars | "
            "equal (several --env markets)"
        ),
    )

    def env_options(self) -> dict[str, Any]:
        """The ``EnvParams`` options (everything but feature_set, window, daily_window, context
        and n_envs)."""
        out = {k: getattr(self, k) for k in ENV_OPTIONS}
        clash = sorted(set(out) & set(self.options))
        if clash:
            raise ConfigError(f"env.options repeats {clash}; set them as env fields instead")
        return {**out, **self.options}


# the EnvConfig fields that are env options (EnvParams fields), passed to the env by name
ENV_OPTIONS = tuple(f.name for f in dataclasses.fields(EnvConfig) if f.name in _ENV_FIELDS)


@dataclass
class PolicyConfig:
    """The network: a transformer features extractor plus SB3 heads."""

    preset: str = field(
        default="cpu", metadata=_doc("TransformerExtractor preset: cpu | flagtrader")
    )
    dropout: float = field(default=0.0, metadata=_doc("extractor dropout (0: RL is noisy enough)"))
    net_arch: Any = field(
        default_factory=lambda: {"pi": [], "vf": [64, 64]},
        metadata=_doc("SB3 net_arch after the extractor (pi=[] lets a supervised head load)"),
    )
    share_features_extractor: bool = field(
        default=True, metadata=_doc("actor and critic share one extractor (faster on CPU)")
    )
    freeze_on_warm_start: bool = field(
        default=True,
        metadata=_doc(
            "with --warm-start: freeze the base; train LoRA + value head (+ action head "
            "if warm_start.train_action_head)"
        ),
    )
    extractor_kwargs: dict[str, Any] = field(
        default_factory=dict, metadata=_doc("extra TransformerExtractor kwargs (e.g. LoRA rank)")
    )


@dataclass
class WarmStartConfig:
    """PPO fine-tuning from a supervised checkpoint (``--warm-start CKPT``), FLAG-Trader style.

    Only read when a checkpoint is given. The extractor takes the checkpoint's architecture
    and observation layout (window, feature set), plus LoRA adapters when it has none; the base
    is frozen (``policy.freeze_on_warm_start``); the first ``critic_warmup_steps`` train only the
    value head (the actor's probabilities are the classifier's, the critic starts from random);
    then PPO runs with the conservative hyperparameters below, which replace the ``ppo`` ones.
    """

    checkpoint: str | None = field(
        default=None, metadata=_doc("supervised model.pt (--warm-start)")
    )
    checkpoint_sha256: str | None = field(
        default=None, metadata=_doc("sha256 of the checkpoint (recorded, not set by hand)")
    )
    lora_rank: int = field(default=8, metadata=_doc("LoRA rank added when the checkpoint has none"))
    lora_alpha: float = field(default=16.0, metadata=_doc("LoRA scale numerator (alpha / rank)"))
    lora_targets: list[str] = field(
        default_factory=lambda: ["q", "v"], metadata=_doc("projections that get LoRA adapters")
    )
    train_action_head: bool = field(
        default=True, metadata=_doc("also train action_net (the classifier head) after warm-up")
    )
    train_norms: bool = field(default=False, metadata=_doc("also train the LayerNorms"))
    critic_warmup_steps: int = field(
        default=20_000, metadata=_doc("env steps training only the value head (actor frozen)")
    )
    learning_rate: float | None = field(
        default=1e-4, metadata=_doc("replaces ppo.learning_rate (None: keep it)")
    )
    clip_range: float | None = field(
        default=0.1, metadata=_doc("replaces ppo.clip_range (None: keep it)")
    )
    target_kl: float | None = field(
        default=0.02, metadata=_doc("replaces ppo.target_kl: stop an update's epochs above this KL")
    )


@dataclass
class TrainConfig:
    """Budget, evaluation and checkpointing. Frequencies count env steps across all envs."""

    total_timesteps: int = field(default=150_000, metadata=_doc("env steps to train for"))
    eval_freq: int = field(default=25_000, metadata=_doc("env steps between val evaluations"))
    n_eval_episodes: int = field(default=4, metadata=_doc("val episodes per evaluation"))
    checkpoint_freq: int = field(default=25_000, metadata=_doc("env steps between checkpoints"))
    keep_checkpoints: int = field(default=3, metadata=_doc("checkpoints kept (oldest deleted)"))
    select_metric: str = field(
        default="sharpe",
        metadata=_doc(
            "best_model.zip criterion: a metric of the full val backtest after costs (sharpe, "
            "sortino, total_return, cagr; the one the run reports) or mean_reward (SB3's "
            "mean reward of the n_eval_episodes val episodes)"
        ),
    )
    device: str = field(default="auto", metadata=_doc("torch device: auto | cpu | cuda"))
    torch_threads: int | None = field(
        default=None, metadata=_doc("torch intra-op threads; None = 1 (fastest for the cpu preset)")
    )


@dataclass
class RunConfig:
    """A whole run: which env, which algorithm, the seed, and the four sections."""

    algo: str = field(metadata=_doc("algorithm name: an entry of agents.algorithms.ALGOS"))
    env_name: str = field(metadata=_doc("data preset, e.g. btc1h"))
    seed: int = field(default=0, metadata=_doc("one seed for python, numpy, torch, envs, SB3"))
    markets: list[str] = field(
        default_factory=list,
        metadata=_doc(
            "every market's key when one policy trains on several (--env M1 M2 ...; env_name "
            "is the first); empty for one market"
        ),
    )
    env: EnvConfig = field(default_factory=EnvConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    hyper: Any = field(
        default=None, metadata=_doc("the algorithm's agents.hyper dataclass (section <algo>)")
    )
    train: TrainConfig = field(default_factory=TrainConfig)
    warm_start: WarmStartConfig = field(
        default_factory=WarmStartConfig, metadata=_doc("PPO only: --warm-start fine-tuning")
    )
    pretrained: PretrainedConfig = field(
        default_factory=PretrainedConfig, metadata=_doc("--pretrained backbone + LoRA")
    )

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as plain data, sections named as in the YAML files."""
        out: dict[str, Any] = {
            "algo": self.algo,
            "env_name": self.env_name,
            "seed": self.seed,
            **({"markets": list(self.markets)} if len(self.markets) > 1 else {}),
            "env": dataclasses.asdict(self.env),
            "policy": dataclasses.asdict(self.policy),
            self.algo: dataclasses.asdict(self.hyper),
            "train": dataclasses.asdict(self.train),
        }
        if not self.env.randomise:  # only when used: other runs' config hashes stay as they were
            del out["env"]["randomise"]
        if ALGOS[self.algo].warm_startable:
            out["warm_start"] = dataclasses.asdict(self.warm_start)
        if (
            self.pretrained.checkpoint
        ):  # only when used: other runs' config hashes stay as they were
            out["pretrained"] = dataclasses.asdict(self.pretrained)
        return out
