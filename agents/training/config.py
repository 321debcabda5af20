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

from pathlib import Path
from typing import Any

from agents.algorithms import ACTION_KINDS, ALGOS, CONFIG_DIR
from agents.hyper import PPOHyper, SACHyper
from agents.training.config_checks import (
    check_env_params,
    check_env_values,
    check_hyper,
    check_markets,
    check_randomise,
)
from agents.training.config_schema import (
    EnvConfig,
    PolicyConfig,
    RunConfig,
    TrainConfig,
    WarmStartConfig,
)
from envs.presets import PRESETS, get_preset
from lab.config import ConfigError, load_yaml
from lab.config import apply_section as _apply
from lab.config import coerce as _coerce

__all__ = [
    "ALGO_DEFAULTS",
    "CONFIG_DIR",
    "HYPER_CLASSES",
    "SELECT_METRICS",
    "WARM_START_ALGOS",
    "ConfigError",
    "EnvConfig",
    "PPOHyper",
    "PolicyConfig",
    "RunConfig",
    "SACHyper",
    "TrainConfig",
    "WarmStartConfig",
    "apply_layer",
    "resolve_config",
    "validate",
]


# the hyperparameter dataclass and per-algorithm default layer of every algorithm (agents.algorithms)
HYPER_CLASSES: dict[str, type] = {name: spec.hyper for name, spec in ALGOS.items()}
ALGO_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {n: s.defaults for n, s in ALGOS.items()}
WARM_START_ALGOS = tuple(n for n, s in ALGOS.items() if s.warm_startable)  # ``warm_start`` section
# checkpoint-selection criteria (agents.training.selection): val backtest metrics, or SB3's mean
# reward; each a row of backtest.metric_table with a better direction (tests/test_metric_table.py)
SELECT_METRICS = ("sharpe", "sortino", "total_return", "cagr", "mean_reward")


def apply_layer(cfg: RunConfig, layer: dict[str, Any], source: str) -> None:
    """Apply one config layer (sections ``env``/``policy``/``<algo>``/``train``, plus ``seed``)."""
    if not isinstance(layer, dict):
        raise ConfigError(f"{source}: expected a mapping of sections, got {type(layer).__name__}")
    sections = {"env": cfg.env, "policy": cfg.policy, cfg.algo: cfg.hyper, "train": cfg.train}
    if cfg.algo in WARM_START_ALGOS:
        sections["warm_start"] = cfg.warm_start
    sections["pretrained"] = cfg.pretrained
    valid = ["seed", "algo", "env_name", "markets", *sections]
    for key, value in layer.items():
        if key in sections:
            _apply(sections[key], value or {}, source, key)
        elif key == "seed":
            cfg.seed = _coerce(value, int, f"{source}: seed")
        elif key in ("algo", "env_name", "markets"):  # so a run's config.yaml can be reused
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
    markets: list[str] | None = None,
) -> RunConfig:
    """Resolve defaults -> ``<algo>.yml`` default -> ``<algo>.yml[env]`` -> file -> CLI.

    ``cli`` is a layer in the same sectioned form (``{"train": {"total_timesteps": 500}}``).
    ``markets``: every market's key of a several-market run (``env_name`` is the first, and its
    ``<algo>.yml`` entry applies), None or one for a one-market run.
    """
    if algo not in HYPER_CLASSES:
        raise ConfigError(f"unknown algo {algo!r}; valid: {', '.join(HYPER_CLASSES)}")
    check_env_name(env_name)
    cfg = RunConfig(algo=algo, env_name=env_name, hyper=HYPER_CLASSES[algo]())
    cfg.markets = list(markets) if markets and len(markets) > 1 else []
    apply_layer(cfg, ALGO_DEFAULTS[algo], f"agents.training.config.ALGO_DEFAULTS[{algo!r}]")

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
    check_randomise(cfg)
    check_markets(cfg)
    check_hyper(cfg)
    if cfg.train.keep_checkpoints < 1:
        raise ConfigError(f"train.keep_checkpoints must be >= 1, got {cfg.train.keep_checkpoints}")
    if cfg.train.select_metric not in SELECT_METRICS:
        raise ConfigError(
            f"train.select_metric must be one of {', '.join(SELECT_METRICS)}, "
            f"got {cfg.train.select_metric!r}"
        )
    if cfg.env.action not in ACTION_KINDS:
        raise ConfigError(f"env.action must be discrete or continuous, got {cfg.env.action!r}")
    if cfg.env.action not in ALGOS[cfg.algo].actions:
        raise ConfigError(
            f"{cfg.algo.upper()} needs env.action: {' or '.join(ALGOS[cfg.algo].actions)} "
            f"(SB3 {cfg.algo.upper()} has no {cfg.env.action} head)"
        )
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
