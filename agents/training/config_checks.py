"""Value checks of a resolved run config that the field types cannot express (issue 12).

``check_env_values(cfg)`` runs inside ``agents.training.config.validate``: the seed's range, the
observation window, ``env.options`` being a mapping of known ``EnvParams`` options, and every
env value the env itself would refuse (NaN/inf/negative costs, unknown options), raised as one
``ConfigError`` line naming the key, the value and what it must be, before any run folder exists
(the env used to raise a ``ValueError``/``TypeError`` traceback at the first ``make_env``).
"""

from __future__ import annotations

import math
from typing import Any

from agents.training.config_schema import RunConfig
from envs.features import FEATURE_SETS
from envs.params import EnvParams
from lab.config import ConfigError, check_seed
from lab.runtime import check_device
from policies.config import make_config

MAX_WINDOW = 4096  # bars of history per observation; more is a typo (and a memory blow-up)


def check_env_values(cfg: RunConfig) -> None:
    """Raise one ``ConfigError`` line for the first bad env value of ``cfg`` (see module doc)."""
    check_seed("seed", cfg.seed, "the config or --seed")
    check_device(cfg.train.device)  # --device or train.device
    threads = cfg.train.torch_threads
    if threads is not None and not 1 <= threads <= 256:  # 1e5 threads exhausted the memory
        raise ConfigError(f"train.torch_threads must be from 1 to 256 (or null), got {threads}")
    env = cfg.env
    if not 1 <= env.window <= MAX_WINDOW:
        raise ConfigError(f"env.window must be from 1 to {MAX_WINDOW} bars, got {env.window}")
    if not isinstance(env.options, dict):
        raise ConfigError(
            f"env.options must be a mapping (option: value), got {env.options!r}; "
            "e.g. options: {max_drawdown: 0.3}"
        )
    for key in ("fee_bps", "slippage_bps", "dd_penalty"):
        _finite(f"env.{key}", getattr(env, key))
    for key, value in env.options.items():
        _finite(f"env.options.{key}", value)


def check_env_params(cfg: RunConfig) -> None:
    """Every env value as the env will read it (after the range checks with their own
    messages): what ``EnvParams`` refuses is one ``ConfigError`` line, not a traceback."""
    try:
        EnvParams.from_kwargs(**cfg.env.env_options())
    except (TypeError, ValueError) as err:
        raise ConfigError(f"env: {' '.join(str(err).split())}") from None


def _finite(where: str, value: Any) -> None:
    """A float setting must be a real number: NaN or inf would poison every equity value."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where} must be a finite number, got {value}")


EXTRACTOR_ARGS = ("n_account", "allow_dropout", "freeze_base_weights", "train_norms")
# section.key -> (predicate, what the value must be); None values (optional keys) pass
HYPER_RULES: dict[str, tuple[Any, str]] = {
    "ppo.n_steps": (lambda v: v >= 1, ">= 1 step"),
    "ppo.batch_size": (lambda v: v >= 2, ">= 2 (SB3 normalises advantages per minibatch)"),
    "ppo.n_epochs": (lambda v: v >= 1, ">= 1"),
    "ppo.gamma": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "ppo.gae_lambda": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "ppo.clip_range": (lambda v: v > 0, "> 0"),
    "ppo.ent_coef": (lambda v: v >= 0, ">= 0"),
    "ppo.vf_coef": (lambda v: v >= 0, ">= 0"),
    "ppo.max_grad_norm": (lambda v: v > 0, "> 0"),
    "ppo.target_kl": (lambda v: v > 0, "> 0 (or null: no early stop)"),
    "sac.buffer_size": (lambda v: v >= 1, ">= 1 transition"),
    "sac.learning_starts": (lambda v: v >= 0, ">= 0 steps"),
    "sac.batch_size": (lambda v: v >= 1, ">= 1"),
    "sac.tau": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "sac.gamma": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "sac.train_freq": (lambda v: v >= 1, ">= 1 step"),
    "sac.gradient_steps": (lambda v: v >= 1 or v == -1, ">= 1 (or -1: one per env step)"),
    "train.n_eval_episodes": (lambda v: v >= 1, ">= 1 episode"),
    "policy.dropout": (lambda v: 0 <= v < 1, "in [0, 1)"),
}


def check_hyper(cfg: RunConfig) -> None:
    """The SB3 hyperparameters, the network and the feature set, each one ``ConfigError`` line
    (SB3 asserted, divided by zero or trained silently on a meaningless value before)."""
    sections = {cfg.algo: cfg.hyper, "train": cfg.train, "policy": cfg.policy}
    for key, (ok, what) in HYPER_RULES.items():
        section, name = key.split(".")
        value = getattr(sections[section], name) if section in sections else None
        if value is None or isinstance(value, str):
            continue
        _finite(key, float(value))
        if not ok(value):
            raise ConfigError(f"{key} must be {what}, got {value}")
    _check_ent_coef(cfg)
    _check_net_arch(cfg.policy.net_arch)

    if cfg.env.feature_set not in FEATURE_SETS:
        raise ConfigError(
            f"env.feature_set {cfg.env.feature_set!r} is unknown; valid: "
            + ", ".join(sorted(FEATURE_SETS))
        )
    overrides = {k: v for k, v in cfg.policy.extractor_kwargs.items() if k not in EXTRACTOR_ARGS}
    try:
        make_config(cfg.policy.preset, window=cfg.env.window, n_features=17,
                    **{"dropout": cfg.policy.dropout, **overrides})  # fmt: skip
    except (TypeError, ValueError) as err:
        raise ConfigError(f"policy: {' '.join(str(err).split())}") from None


def _check_ent_coef(cfg: RunConfig) -> None:
    """SAC's ``ent_coef``: a number > 0, ``auto`` or ``auto_<initial value>``."""
    value = getattr(cfg.hyper, "ent_coef", None)
    if cfg.algo != "sac" or value is None:
        return
    text = str(value)
    try:
        number = float(text.removeprefix("auto_")) if text != "auto" else 1.0
    except ValueError:
        number = float("nan")
    if not (math.isfinite(number) and number > 0):
        raise ConfigError(
            f"sac.ent_coef must be auto, auto_<initial value> or a number > 0, got {value!r}"
        )


def _check_net_arch(arch: Any) -> None:
    """``net_arch``: a list of layer sizes, or ``{pi: [...], vf: [...]}``."""
    layers = list(arch.values()) if isinstance(arch, dict) else [arch]
    ok = isinstance(arch, (list, dict)) and all(
        isinstance(v, list)
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in v)  # fmt: skip
        for v in layers
    )
    if not ok or (isinstance(arch, dict) and set(arch) - {"pi", "vf", "qf"}):
        raise ConfigError(
            f"policy.net_arch must be a list of layer sizes (e.g. [64, 64]) or "
            f"{{pi: [...], vf: [...]}}, got {arch!r}"
        )
