"""Training configs: dataclasses whose fields document themselves, resolved in layers.

Resolution order (later wins), rl-baselines3-zoo style:

1. the dataclass defaults below;
2. ``agents/configs/<algo>.yml`` entry ``default``;
3. ``agents/configs/<algo>.yml`` entry ``<env name>`` (e.g. ``btc1h``), when present;
4. ``--config FILE`` (same sections, no env-name level; a run's ``config.yaml`` works too);
5. CLI flags (``--timesteps``, ``--n-envs``, ``--seed``, ``--device``).

A config is sectioned: ``env`` (what ``envs.make_env`` receives), ``policy`` (the network),
``ppo`` / ``sac`` (SB3 hyperparameters, passed through by name) and ``train`` (budget, eval,
checkpoints). Any unknown key is an error naming the key, the file and the valid keys: a typo
must never silently fall back to a default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.config_checks import check_env_params, check_env_values, check_hyper
from agents.pretrained_config import PretrainedConfig
from envs.params import EnvParams
from envs.presets import PRESETS, get_preset
from lab.config import ConfigError, load_yaml
from lab.config import apply_section as _apply
from lab.config import coerce as _coerce
from lab.config import doc as _doc

_ENV_DEFAULTS = EnvParams()
CONFIG_DIR = Path(__file__).resolve().parent / "configs"


@dataclass
class EnvConfig:
    """Env settings: ``envs`` options (see ``envs.params.EnvParams`` and the ``TradingEnv``
    docstring) plus the number of parallel training envs. Defaults equal the env's own."""

    feature_set: str = field(default="core17", metadata=_doc("feature set: core17 | flagtrader60"))
    window: int = field(default=32, metadata=_doc("observation window in bars (hours)"))
    # costs: the env's own defaults (one source, envs.params.EnvParams): "same costs everywhere"
    fee_bps: float = field(
        default=_ENV_DEFAULTS.fee_bps, metadata=_doc("fee per unit of notional traded, bps")
    )
    slippage_bps: float = field(
        default=_ENV_DEFAULTS.slippage_bps,
        metadata=_doc("slippage per unit of notional traded, bps (adverse fill)"),
    )
    funding: bool = field(
        default=_ENV_DEFAULTS.funding, metadata=_doc("charge perpetual funding on positions")
    )
    fill: str = field(default="next_open", metadata=_doc("next_open (honest) | close (optimistic)"))
    reward: str = field(default="drawdown", metadata=_doc("drawdown | log_return | dsr"))
    dd_penalty: float = field(
        default=0.5, metadata=_doc("reward = log return - dd_penalty * drawdown increase")
    )
    episode_length: int | None = field(
        default=720, metadata=_doc("bars per training episode (720 = 30 days); None = to the end")
    )
    decision_interval: int = field(
        default=_ENV_DEFAULTS.decision_interval,
        metadata=_doc(
            "bars per agent step: each action is held k bars, rewards summed (gamma is per step)"
        ),
    )
    action: str = field(default="discrete", metadata=_doc("discrete (sell/flat/buy) | continuous"))
    long_only: bool = field(default=False, metadata=_doc("SELL means flat; no short positions"))
    options: dict[str, Any] = field(
        default_factory=dict,
        metadata=_doc("any other envs.params.EnvParams option (max_drawdown, reward_scale, ...)"),
    )
    n_envs: int = field(default=16, metadata=_doc("parallel envs in the batched training VecEnv"))

    def env_options(self) -> dict[str, Any]:
        """The ``EnvParams`` options (everything but feature_set, window and n_envs)."""
        out = {
            k: getattr(self, k)
            for k in (
                "fee_bps",
                "slippage_bps",
                "funding",
                "fill",
                "reward",
                "dd_penalty",
                "episode_length",
                "decision_interval",
                "action",
                "long_only",
            )
        }
        clash = sorted(set(out) & set(self.options))
        if clash:
            raise ConfigError(f"env.options repeats {clash}; set them as env fields instead")
        return {**out, **self.options}


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

    algo: str = field(metadata=_doc("algorithm name: ppo | sac"))
    env_name: str = field(metadata=_doc("data preset, e.g. btc1h"))
    seed: int = field(default=0, metadata=_doc("one seed for python, numpy, torch, envs, SB3"))
    env: EnvConfig = field(default_factory=EnvConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    hyper: Any = field(default=None, metadata=_doc("PPOHyper | SACHyper (section 'ppo'/'sac')"))
    train: TrainConfig = field(default_factory=TrainConfig)
    warm_start: WarmStartConfig = field(
        default_factory=WarmStartConfig, metadata=_doc("PPO only: --warm-start fine-tuning")
    )
    pretrained: PretrainedConfig = field(
        default_factory=PretrainedConfig, metadata=_doc("--pretrained backbone + LoRA")
    )

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as plain data, sections named as in the YAML files."""
        out = {
            "algo": self.algo,
            "env_name": self.env_name,
            "seed": self.seed,
            "env": dataclasses.asdict(self.env),
            "policy": dataclasses.asdict(self.policy),
            self.algo: dataclasses.asdict(self.hyper),
            "train": dataclasses.asdict(self.train),
        }
        if self.algo in WARM_START_ALGOS:
            out["warm_start"] = dataclasses.asdict(self.warm_start)
        if (
            self.pretrained.checkpoint
        ):  # only when used: other runs' config hashes stay as they were
            out["pretrained"] = dataclasses.asdict(self.pretrained)
        return out


HYPER_CLASSES: dict[str, type] = {"ppo": PPOHyper, "sac": SACHyper}
# checkpoint-selection criteria (agents.selection): val backtest metrics, or SB3's mean reward
SELECT_METRICS = ("sharpe", "sortino", "total_return", "cagr", "mean_reward")
WARM_START_ALGOS = ("ppo",)  # algorithms with a ``warm_start`` config section
# Per-algorithm defaults that differ from the shared dataclass defaults.
ALGO_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "ppo": {},
    "sac": {
        "env": {"action": "continuous"},
        "policy": {"net_arch": [64, 64], "share_features_extractor": False},
    },
}


def apply_layer(cfg: RunConfig, layer: dict[str, Any], source: str) -> None:
    """Apply one config layer (sections ``env``/``policy``/``<algo>``/``train``, plus ``seed``)."""
    if not isinstance(layer, dict):
        raise ConfigError(f"{source}: expected a mapping of sections, got {type(layer).__name__}")
    sections = {"env": cfg.env, "policy": cfg.policy, cfg.algo: cfg.hyper, "train": cfg.train}
    if cfg.algo in WARM_START_ALGOS:
        sections["warm_start"] = cfg.warm_start
    sections["pretrained"] = cfg.pretrained
    valid = ["seed", "algo", "env_name", *sections]
    for key, value in layer.items():
        if key in sections:
            _apply(sections[key], value or {}, source, key)
        elif key == "seed":
            cfg.seed = _coerce(value, int, f"{source}: seed")
        elif key in ("algo", "env_name"):  # allowed so a run's config.yaml can be reused
            if value != getattr(cfg, key):
                raise ConfigError(
                    f"{source} is for {key}={value!r} but this run has {key}={getattr(cfg, key)!r}"
                )
        else:
            raise ConfigError(
                f"unknown key {key!r} at the top level of {source}; valid keys: {', '.join(valid)}"
            )


def check_env_name(env_name: str) -> None:
    """Raise a ConfigError listing the presets when ``env_name`` is neither a preset nor a
    market key (``envs.marketspec``: a file, a catalog entry)."""
    if env_name in PRESETS:
        return
    try:
        get_preset(env_name)
    except (KeyError, ValueError) as err:
        raise ConfigError(
            f"unknown --env {env_name!r}; valid presets: {', '.join(sorted(PRESETS))} ({err})"
        ) from None


def resolve_config(
    algo: str,
    env_name: str,
    config_file: str | Path | None = None,
    cli: dict[str, Any] | None = None,
    algo_yaml: str | Path | None = None,
) -> RunConfig:
    """Resolve defaults -> ``<algo>.yml`` default -> ``<algo>.yml[env]`` -> file -> CLI.

    ``cli`` is a layer in the same sectioned form (``{"train": {"total_timesteps": 500}}``).
    """
    if algo not in HYPER_CLASSES:
        raise ConfigError(f"unknown algo {algo!r}; valid: {', '.join(HYPER_CLASSES)}")
    check_env_name(env_name)
    cfg = RunConfig(algo=algo, env_name=env_name, hyper=HYPER_CLASSES[algo]())
    apply_layer(cfg, ALGO_DEFAULTS[algo], f"agents.config.ALGO_DEFAULTS[{algo!r}]")

    zoo_path = Path(algo_yaml) if algo_yaml else CONFIG_DIR / f"{algo}.yml"
    zoo = load_yaml(zoo_path)
    for entry in zoo:
        if entry != "default" and entry not in PRESETS:
            raise ConfigError(
                f"unknown entry {entry!r} in {zoo_path}; valid entries: default, "
                + ", ".join(sorted(PRESETS))
            )
    if "default" in zoo:
        apply_layer(cfg, zoo["default"] or {}, f"{zoo_path} [default]")
    if env_name in zoo:
        apply_layer(cfg, zoo[env_name] or {}, f"{zoo_path} [{env_name}]")
    if config_file is not None:
        apply_layer(cfg, load_yaml(config_file), str(config_file))
    if cli:
        apply_layer(cfg, cli, "the command line")
    validate(cfg)
    return cfg


MAX_N_ENVS = 1024  # 100,000 envs asked a 46 GiB rollout buffer (MemoryError traceback)
MAX_TIMESTEPS = 10**12


def validate(cfg: RunConfig) -> None:
    """Cross-field checks that a single field's type cannot express."""
    if cfg.env.n_envs < 1:
        raise ConfigError(f"env.n_envs must be >= 1, got {cfg.env.n_envs}")
    if cfg.train.total_timesteps < 1:
        raise ConfigError(f"train.total_timesteps must be >= 1, got {cfg.train.total_timesteps}")
    if cfg.env.n_envs > MAX_N_ENVS:  # the rollout buffer (n_steps x n_envs x obs) would not fit
        raise ConfigError(f"env.n_envs must be <= {MAX_N_ENVS}, got {cfg.env.n_envs}")
    if cfg.train.total_timesteps > MAX_TIMESTEPS:
        raise ConfigError(
            f"train.total_timesteps must be <= {MAX_TIMESTEPS:.0e} (years of CPU), "
            f"got {cfg.train.total_timesteps}"
        )
    check_env_values(cfg)
    _validate_values(cfg)
    check_env_params(cfg)
    check_hyper(cfg)
    if cfg.train.keep_checkpoints < 1:
        raise ConfigError(f"train.keep_checkpoints must be >= 1, got {cfg.train.keep_checkpoints}")
    if cfg.train.select_metric not in SELECT_METRICS:
        raise ConfigError(
            f"train.select_metric must be one of {', '.join(SELECT_METRICS)}, "
            f"got {cfg.train.select_metric!r}"
        )
    if cfg.env.action not in ("discrete", "continuous"):
        raise ConfigError(f"env.action must be discrete or continuous, got {cfg.env.action!r}")
    if cfg.algo == "sac" and cfg.env.action != "continuous":
        raise ConfigError("SAC needs env.action: continuous (SB3 SAC has no discrete head)")
    if cfg.train.device not in ("auto", "cpu", "cuda") and not cfg.train.device.startswith("cuda:"):
        raise ConfigError(f"train.device must be auto, cpu or cuda, got {cfg.train.device!r}")
    ws = cfg.warm_start
    if ws.lora_rank < 0 or ws.critic_warmup_steps < 0:
        raise ConfigError(
            f"warm_start.lora_rank ({ws.lora_rank}) and critic_warmup_steps "
            f"({ws.critic_warmup_steps}) must be >= 0"
        )
    if cfg.pretrained.lora_rank < 0:
        raise ConfigError(f"pretrained.lora_rank must be >= 0, got {cfg.pretrained.lora_rank}")


def _validate_values(cfg: RunConfig) -> None:
    """Single-field ranges: frequencies, learning rate, costs, the drawdown stop."""
    for key in ("eval_freq", "checkpoint_freq"):
        if getattr(cfg.train, key) < 1:
            raise ConfigError(
                f"train.{key} must be >= 1 env step, got {getattr(cfg.train, key)}; "
                "set a large value to make it rare"
            )
    if not cfg.hyper.learning_rate > 0:
        raise ConfigError(f"{cfg.algo}.learning_rate must be > 0, got {cfg.hyper.learning_rate}")
    for key in ("fee_bps", "slippage_bps"):
        value = getattr(cfg.env, key)
        if value is not None and value < 0:
            raise ConfigError(f"env.{key} must be >= 0 bps, got {value}")
    mdd = cfg.env.options.get("max_drawdown", 0.5)
    if mdd is not None and not 0 < mdd <= 1:
        raise ConfigError(f"env.options.max_drawdown must be in (0, 1] (or null), got {mdd}")
