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
from envs.barsize import step_ns
from envs.features import FEATURE_SETS
from envs.marketspec import is_market
from envs.multimarket import check_distinct, check_scale_free
from envs.params import DURATION_FIELDS, EnvParams
from envs.presets import get_preset
from envs.randomise import Randomisation
from lab.config import ConfigError, check_seed
from lab.runtime import check_device
from policies.config import make_config

MAX_WINDOW = 4096  # bars of history per observation; more is a typo (and a memory blow-up)
MAX_DAILY_WINDOW = 730  # two years of daily rows; more is a typo


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
    _check_multiframe(env.daily_window, env.context, env.feature_set)
    if not isinstance(env.options, dict):
        raise ConfigError(
            f"env.options must be a mapping (option: value), got {env.options!r}; "
            "e.g. options: {max_drawdown: 0.3}"
        )
    for key in ("fee_bps", "slippage_bps", "dd_penalty"):
        _finite(f"env.{key}", getattr(env, key))
    for key, value in env.options.items():
        _finite(f"env.options.{key}", value)


def _check_multiframe(daily_window: Any, context: Any, feature_set: str) -> None:
    """``env.daily_window`` (an int from 0 to MAX_DAILY_WINDOW) and ``env.context`` (a market
    key, only for the feature sets with context columns), each one line."""
    if (
        isinstance(daily_window, bool)
        or not isinstance(daily_window, int)
        or not 0 <= daily_window <= MAX_DAILY_WINDOW
    ):
        raise ConfigError(
            f"env.daily_window must be an int from 0 to {MAX_DAILY_WINDOW} daily rows (0 = none), "
            f"got {daily_window!r}"
        )
    if context is None:
        return
    fs = FEATURE_SETS.get(feature_set)
    if fs is not None and fs.compute_context is None:
        with_ctx = ", ".join(k for k, v in sorted(FEATURE_SETS.items()) if v.compute_context)
        raise ConfigError(
            f"env.context {context!r}: feature set {feature_set!r} has no cross-asset context "
            f"columns; use feature_set {with_ctx} or drop env.context"
        )
    if not isinstance(context, str) or not is_market(context):
        raise ConfigError(
            f"env.context {context!r} is not a market: give a preset (eth1h, ...) or a market "
            "key/candle file, or null"
        )


def check_env_params(cfg: RunConfig) -> None:
    """Every env value as the env will read it (after the range checks with their own
    messages): what ``EnvParams`` refuses is one ``ConfigError`` line, not a traceback.

    Durations given as a time (``decision_interval: 1d``, ``min_hold: 3d``; ``envs.actions``)
    are converted here to bars of the market's bar size (24 on 1h candles), so the run's
    ``config.yaml`` and every reader of a saved run's settings see bars; a time that is not a
    whole number of bars is refused (one line)."""
    try:
        params = EnvParams.from_kwargs(**cfg.env.env_options())
    except (TypeError, ValueError) as err:
        raise ConfigError(f"env: {' '.join(str(err).split())}") from None
    if not any(isinstance(getattr(params, n), str) for n in DURATION_FIELDS):
        return  # already bars (a saved run's config.yaml): its market need not be resolvable
    try:
        bar_ns = step_ns(get_preset(cfg.env_name).freq)
    except (KeyError, ConfigError):  # a market not resolvable here (a saved run's file moved,
        return  # a partial config): the env converts when it is built on its candles
    try:
        bars = params.in_bars(bar_ns)
    except ValueError as err:
        raise ConfigError(f"env: {err} (--env {cfg.env_name})") from None
    for name in DURATION_FIELDS:
        setattr(cfg.env, name, getattr(bars, name))


def check_randomise(cfg: RunConfig) -> None:
    """``env.randomise`` as the training env will read it (``envs.randomise``): one line."""
    try:
        Randomisation.coerce(cfg.env.randomise).check_length(cfg.env.episode_length)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"env: {' '.join(str(err).split())}") from None


def check_markets(cfg: RunConfig) -> None:
    """A several-market run: each market named once, one bar size, a scale-free feature set."""
    if len(cfg.markets) < 2:
        return
    if cfg.env.context is not None:
        raise ConfigError(
            f"env.context {cfg.env.context}: cross-asset context reads one other market, but "
            "--env names several (each would need its own); drop env.context or train on one"
        )
    try:
        check_distinct(cfg.markets)
        check_scale_free(cfg.env.feature_set)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    freqs = {k: get_preset(k).freq for k in cfg.markets}
    first = cfg.markets[0]
    for key in cfg.markets[1:]:
        if freqs[key] != freqs[first]:
            raise ConfigError(
                f"--env {key}: its bars are {freqs[key]}, {first}'s are {freqs[first]}; train "
                "on markets of one bar size (--bar resamples)"
            )


def _finite(where: str, value: Any) -> None:
    """A float setting must be a real number: NaN or inf would poison every equity value."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where} must be a finite number, got {value}")


EXTRACTOR_ARGS = (
    "n_account",
    "allow_dropout",
    "freeze_base_weights",
    "train_norms",
    "daily_window",
)
# field -> (predicate, what the value must be) per algorithm; None values (optional keys) pass
_LR = (lambda v: v > 0, "> 0")
_ON_POLICY: dict[str, tuple[Any, str]] = {
    "learning_rate": _LR,
    "n_steps": (lambda v: v >= 1, ">= 1 step"),
    "gamma": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "gae_lambda": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "ent_coef": (lambda v: v >= 0, ">= 0"),
    "vf_coef": (lambda v: v >= 0, ">= 0"),
    "max_grad_norm": (lambda v: v > 0, "> 0"),
}
_PPO: dict[str, tuple[Any, str]] = {
    **_ON_POLICY,
    "batch_size": (lambda v: v >= 2, ">= 2 (SB3 normalises advantages per minibatch)"),
    "n_epochs": (lambda v: v >= 1, ">= 1"),
    "clip_range": (lambda v: v > 0, "> 0"),
    "target_kl": (lambda v: v > 0, "> 0 (or null: no early stop)"),
}
_SAC: dict[str, tuple[Any, str]] = {
    "learning_rate": _LR,
    "buffer_size": (lambda v: v >= 1, ">= 1 transition"),
    "learning_starts": (lambda v: v >= 0, ">= 0 steps"),
    "batch_size": (lambda v: v >= 1, ">= 1"),
    "tau": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "gamma": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "train_freq": (lambda v: v >= 1, ">= 1 step"),
    "gradient_steps": (lambda v: v >= 1 or v == -1, ">= 1 (or -1: one per env step)"),
}
# section.key -> rule: every algorithm of agents.algorithms (recurrent_ppo takes PPO's keywords,
# TQC SAC's plus the quantile truncation, A2C the on-policy ones)
HYPER_RULES: dict[str, tuple[Any, str]] = {
    **{f"{algo}.{k}": r for algo in ("ppo", "recurrent_ppo") for k, r in _PPO.items()},
    **{f"{algo}.{k}": r for algo in ("sac", "tqc") for k, r in _SAC.items()},
    **{f"a2c.{k}": r for k, r in _ON_POLICY.items()},
    "tqc.top_quantiles_to_drop_per_net": (lambda v: 0 <= v < 25, "in [0, 25) (25 quantiles)"),
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
    """SAC's and TQC's ``ent_coef``: a number > 0, ``auto`` or ``auto_<initial value>``; TQC's
    ``target_entropy``: ``auto`` or a number."""
    value = getattr(cfg.hyper, "ent_coef", None)
    if cfg.algo not in ("sac", "tqc") or value is None:
        return
    target = getattr(cfg.hyper, "target_entropy", "auto")
    if target != "auto" and not (
        isinstance(target, (int, float)) and not isinstance(target, bool) and math.isfinite(target)
    ):
        raise ConfigError(f"{cfg.algo}.target_entropy must be auto or a number, got {target!r}")
    text = str(value)
    try:
        number = float(text.removeprefix("auto_")) if text != "auto" else 1.0
    except ValueError:
        number = float("nan")
    if not (math.isfinite(number) and number > 0):
        raise ConfigError(
            f"{cfg.algo}.ent_coef must be auto, auto_<initial value> or a number > 0, got {value!r}"
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


def check_market_layout(cfg: RunConfig, market: Any) -> None:
    """The market has the daily rows and the context market the config asks for (a market built
    elsewhere, e.g. a walk-forward fold's, must not silently lack them): one ConfigError line."""
    if market.daily_window != cfg.env.daily_window:
        raise ConfigError(
            f"env.daily_window {cfg.env.daily_window} but the market was built with "
            f"{market.daily_window} daily rows; build it with envs.load_market(..., "
            "daily_window=...) (walk-forward fold markets have no daily rows yet)"
        )
    if bool(cfg.env.context) != bool(market.context):
        raise ConfigError(
            f"env.context {cfg.env.context!r} but the market's ctx_* columns were filled from "
            f"{market.context!r}; build it with envs.load_market(..., context=...) (walk-forward "
            "fold markets and several-market runs read no context market yet)"
        )
