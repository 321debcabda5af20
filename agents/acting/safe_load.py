"""Loading a PPO/SAC zip without running code from it.

SB3 saves a model as a zip: torch tensors (``*.pth``, which SB3 reads with
``torch.load(weights_only=True)``) and a JSON ``data`` entry in which every value JSON cannot
hold (the policy class, spaces, schedules, numpy arrays, deques) is a base64 *cloudpickle* blob.
``BaseAlgorithm.load`` unpickles those blobs, so a crafted ``best_model.zip`` runs whatever its
author put in a ``__reduce__``. Here every serialized entry is replaced from the run's own config
through SB3's ``custom_objects`` (then SB3 never decodes it); a zip carrying a serialized entry
this module does not know how to rebuild is refused, naming it. The weights are checked to be
finite before SB3 sees the file, so a diverged checkpoint is refused rather than evaluated as a
constant policy.

Errors are :class:`ModelLoadError` with a one-line message (the CLIs print it, exit code 2).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from agents.algorithms import ALGOS
from agents.training.config import HYPER_CLASSES, ConfigError, RunConfig, apply_layer
from agents.training.config_checks import check_env_params, check_env_values, check_hyper
from agents.training.networks import policy_kwargs

# the env's account slots after the feature window (envs.params.N_ACCOUNT)
N_ACCOUNT = 4
# Serialized ``data`` entries that SB3 rebuilds by itself when given None (buffers, episode
# deques, the last observation: a resume restores these from agents.resume.state instead).
_REBUILT_BY_SB3 = (
    "_last_obs",
    "_last_episode_starts",
    "_last_original_obs",
    "ep_info_buffer",
    "ep_success_buffer",
    "rollout_buffer_class",
    "replay_buffer_class",
    "action_noise",
)


class ModelLoadError(ConfigError):
    """A model file or run folder that cannot or must not be loaded; the message is one line
    naming why. A ``ConfigError`` (a ``ValueError``): every CLI wrapper prints it, exit 2."""


def cli_exit(prog: str, err: Exception) -> SystemExit:
    """Print ``prog: error: err`` on stderr and return the SystemExit (code 2) to raise."""
    import sys

    print(f"{prog}: error: {err}", file=sys.stderr)
    return SystemExit(2)


# --------------------------------------------------------------------------- zip inspection
def read_zip_data(path: str | Path) -> dict[str, Any]:
    """The zip's ``data`` JSON as plain data (nothing decoded); checks the zip is whole.

    Raises ModelLoadError for a missing file, a file that is not a zip, a truncated or corrupt
    zip (CRC), and a zip without SB3's ``data`` / ``policy.pth`` entries.
    """
    p = Path(path)
    if not p.is_file():
        raise ModelLoadError(f"{p}: no such model file")
    try:
        with zipfile.ZipFile(p) as zf:
            names = set(zf.namelist())
            bad = zf.testzip()
            if bad is not None:
                raise ModelLoadError(f"{p}: corrupt zip (entry {bad!r} fails its CRC check)")
            if "data" not in names or "policy.pth" not in names:
                raise ModelLoadError(
                    f"{p}: not an SB3 model zip (no 'data'/'policy.pth' entry; has "
                    f"{sorted(names)[:6]})"
                )
            raw = zf.read("data")
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise ModelLoadError(
            f"{p}: not a readable model zip ({exc}); it is truncated, corrupt or not a zip"
        ) from None
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{p}: its 'data' entry is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"{p}: its 'data' entry is not a JSON object")
    return data


def serialized_keys(data: dict[str, Any]) -> list[str]:
    """Top-level ``data`` keys stored as cloudpickle blobs (what SB3 would unpickle)."""
    return [k for k, v in data.items() if isinstance(v, dict) and ":serialized:" in v]


def check_weights_finite(path: str | Path) -> None:
    """Every tensor of ``policy.pth`` is finite (``torch.load(weights_only=True)``)."""
    import torch

    with zipfile.ZipFile(path) as zf:
        raw = zf.read("policy.pth")
    try:
        state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses any pickled object: say so, in one line
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelLoadError(
            f"{path}: refused policy.pth: not plain tensors (weights_only load failed: {msg})"
        ) from None
    if not isinstance(state, dict):
        raise ModelLoadError(f"{path}: policy.pth is not a state dict")
    for name, tensor in state.items():
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
            bad = int((~torch.isfinite(tensor)).sum())
            if bad:
                raise ModelLoadError(
                    f"{path}: refused: weight {name!r} has {bad} NaN/inf values (the run "
                    "diverged; use an earlier checkpoint or lower the learning rate)"
                )


# --------------------------------------------------------------------------- rebuilding
def config_from_saved(saved: dict[str, Any], source: str) -> RunConfig:
    """A RunConfig from a run's ``config.yaml`` mapping (no preset lookup: walk-forward folds
    and runs on any market load the same way)."""
    algo = str(saved.get("algo", "")).lower()
    if algo not in HYPER_CLASSES:
        raise ModelLoadError(
            f"{source}: algo {saved.get('algo')!r} is not one of {', '.join(HYPER_CLASSES)}"
        )
    cfg = RunConfig(algo=algo, env_name=str(saved.get("env_name")), hyper=HYPER_CLASSES[algo]())
    markets = saved.get("markets")  # a several-market run's keys (checked as a list below)
    cfg.markets = [str(k) for k in markets] if isinstance(markets, list) else []
    try:
        apply_layer(cfg, saved, source)
        check_env_values(cfg)  # a hand-edited window: 0 or a NaN fee: refused here, named
        check_env_params(cfg)
        check_hyper(cfg)  # a training-only value edited (TQC's quantiles to drop: 99) is named
    except ConfigError as err:
        where = "" if str(err).startswith(source) else f"{source}: "
        raise ModelLoadError(
            f"{where}{err} (the saved config was edited or damaged: restore the run folder "
            "or retrain)"
        ) from None
    return cfg


def _obs_dim(data: dict[str, Any], path: Path) -> int:
    """The saved observation size, read from the plain-text ``_shape`` of the space."""
    item = data.get("observation_space")
    shape = item.get("_shape") if isinstance(item, dict) else None
    m = re.fullmatch(r"\[(\d+)\]", str(shape)) or re.fullmatch(r"\((\d+),\)", str(shape))
    if m is None:
        raise ModelLoadError(f"{path}: observation_space shape {shape!r} is not a flat vector")
    return int(m.group(1))


def default_spaces(cfg: RunConfig, obs_dim: int) -> tuple[spaces.Box, spaces.Space]:
    """Observation/action spaces of the run's env (bounds do not matter for acting)."""
    obs = spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
    if cfg.env.action == "discrete":
        return obs, spaces.Discrete(3)
    return obs, spaces.Box(-1.0, 1.0, (1,), np.float32)


def rebuilt_objects(
    cfg: RunConfig, observation_space: spaces.Space, action_space: spaces.Space, n_features: int
) -> dict[str, Any]:
    """Every serialized entry this project's zips carry, rebuilt from the config."""
    # SB3 is imported where a model is loaded, not by the config-only checks (preflight)
    from stable_baselines3.common.utils import FloatSchedule

    hyper = vars(cfg.hyper)
    out: dict[str, Any] = {
        "policy_class": ALGOS[cfg.algo].sb3_class().policy_aliases[ALGOS[cfg.algo].policy],
        "policy_kwargs": policy_kwargs(cfg, n_features),
        "observation_space": observation_space,
        "action_space": action_space,
        "learning_rate": hyper["learning_rate"],
        "lr_schedule": FloatSchedule(hyper["learning_rate"]),
        **dict.fromkeys(_REBUILT_BY_SB3),
    }
    for key in ALGOS[cfg.algo].pickled_entries:  # the algorithm's own pickled hyperparameters
        out[key] = hyper.get(key)
    if out.get("target_entropy") == "auto":  # TQC resolves 'auto' from its env, absent on load
        out["target_entropy"] = -float(np.prod(action_space.shape))
    return out


def safe_custom_objects(
    path: Path,
    cfg: RunConfig,
    data: dict[str, Any],
    spaces_: tuple[spaces.Space, spaces.Space] | None,
    n_features: int | None,
) -> dict[str, Any]:
    """``custom_objects`` covering every serialized key of ``data``; unknown ones are refused."""
    obs_dim = _obs_dim(data, path)
    if spaces_ is not None and spaces_[0].shape != (obs_dim,):
        raise ModelLoadError(
            f"{path}: the model observes {obs_dim} values but this env gives "
            f"{spaces_[0].shape[0]} (other feature set or window)"
        )
    if n_features is None:
        rows = cfg.env.window + cfg.env.daily_window  # bar window + daily rows (envs.multiframe)
        n_features, rem = divmod(obs_dim - N_ACCOUNT, rows)
        if rem or n_features < 1:
            raise ModelLoadError(
                f"{path}: observation size {obs_dim} does not fit env.window {cfg.env.window} "
                f"of its config (window x features + {N_ACCOUNT})"
            )
    obs_space, act_space = spaces_ or default_spaces(cfg, obs_dim)
    custom = rebuilt_objects(cfg, obs_space, act_space, n_features)
    unknown = [k for k in serialized_keys(data) if k not in custom]
    if unknown:
        raise ModelLoadError(
            f"{path}: refused: its 'data' carries serialized (pickled) entries {unknown} that "
            "are not rebuilt from the run's config; loading them would run code from the file"
        )
    return custom


def preflight(path: str | Path, cfg: RunConfig) -> None:
    """Everything ``load_sb3_zip`` refuses, checked without building a model (a resume runs it
    before it records anything in the run folder)."""
    p = Path(path)
    data = read_zip_data(p)
    check_weights_finite(p)
    safe_custom_objects(p, cfg, data, None, None)


def load_sb3_zip(
    path: str | Path,
    cfg: RunConfig,
    *,
    env: Any = None,
    spaces_: tuple[spaces.Space, spaces.Space] | None = None,
    n_features: int | None = None,
    device: str = "auto",
    tensorboard_log: str | Path | None = None,
) -> Any:
    """Load a PPO/SAC zip with nothing unpickled: serialized entries come from ``cfg``.

    ``env`` (a resume) or ``spaces_`` give the observation/action spaces; without them they are
    rebuilt from the config and the saved observation size.
    """
    p = Path(path)
    data = read_zip_data(p)
    check_weights_finite(p)
    if env is not None:
        spaces_ = (env.observation_space, env.action_space)
    custom = safe_custom_objects(p, cfg, data, spaces_, n_features)
    kwargs: dict[str, Any] = {}
    if tensorboard_log is not None:
        kwargs["tensorboard_log"] = str(tensorboard_log)
    try:
        return (
            ALGOS[cfg.algo]
            .sb3_class()
            .load(
                str(p),
                env=env,
                device=device,
                custom_objects=custom,
                print_system_info=False,
                **kwargs,
            )
        )
    except (RuntimeError, KeyError, ValueError) as exc:  # e.g. weight shapes of another config
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"{p}: does not fit the run's config ({first[:300]})") from None
