"""The classifier's nested options checked before the run folder exists (issue 12).

``check_options(cfg)`` builds what ``prepare``/``build_model``/``fit`` would build from the
``--label-param``, ``--loss-param``, ``--preset`` and ``--model-override`` values (a label spec,
a loss on a uniform prior, a transformer config for a placeholder feature count) and turns the
``ValueError`` they raise into one ``ConfigError`` line naming the flag. These used to fail
after the run folder was written, with a traceback.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from lab.config import ConfigError
from policies.config import make_config
from supervised.labels import LabelSpec
from supervised.losses import make_loss

if TYPE_CHECKING:
    from supervised.fitting import FitConfig


def check_options(cfg: FitConfig) -> None:
    """One ``ConfigError`` for the first bad nested option of ``cfg`` (see module doc)."""
    for flag, params in (("--label-param", cfg.label_params), ("--loss-param", cfg.loss_params)):
        _finite(flag, params)
    _as_config_error("--label-param", lambda: LabelSpec(cfg.labels, cfg.horizon, {
        "cost_bps": cfg.label_cost_bps(), **cfg.label_params}))  # fmt: skip
    _as_config_error(
        "--loss-param / --class-weights",
        lambda: make_loss(cfg.class_weights, np.full(3, 1 / 3), **cfg.loss_params),
    )
    _as_config_error(
        "--preset / --model-override",
        lambda: make_config(cfg.preset, window=cfg.window, n_features=17, **cfg.model_overrides),
    )


def _as_config_error(flag: str, build: Any) -> None:
    try:
        build()
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{flag}: {' '.join(str(err).split())}") from None


def _finite(flag: str, params: dict[str, Any]) -> None:
    for key, value in params.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{flag} {key}={value}: must be a finite number")
