"""Value checks of a resolved run config that the field types cannot express (issue 12).

``check_env_values(cfg)`` runs inside ``agents.config.validate``: the seed's range, the
observation window, ``env.options`` being a mapping of known ``EnvParams`` options, and every
env value the env itself would refuse (NaN/inf/negative costs, unknown options), raised as one
``ConfigError`` line naming the key, the value and what it must be, before any run folder exists
(the env used to raise a ``ValueError``/``TypeError`` traceback at the first ``make_env``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from envs.params import EnvParams
from lab.config import ConfigError, check_seed

if TYPE_CHECKING:
    from agents.config import RunConfig

MAX_WINDOW = 4096  # bars of history per observation; more is a typo (and a memory blow-up)


def check_env_values(cfg: RunConfig) -> None:
    """Raise one ``ConfigError`` line for the first bad env value of ``cfg`` (see module doc)."""
    check_seed("seed", cfg.seed, "the config or --seed")
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
