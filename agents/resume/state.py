"""What a checkpoint must hold besides the model zip, so that a resumed run is the same run.

A model zip has the weights, the optimiser and the step count. A run's future also depends on
the RNG states (torch samples actions; numpy shuffles minibatches; python's ``random``), the
training env (each account's position and episode clock, each env's start-drawing RNG), the
model's last observation and episode-start flags (SB3 would otherwise reset the envs), the
action space's RNG (SAC's warm-up actions) and the callbacks' call counters (evaluation and
checkpoint schedules). :func:`capture` takes them at a rollout boundary (after an update, before
the next action) and :func:`save` writes one ``state_<steps>_steps.npz`` of plain arrays (a
JSON document is stored as a unicode array; ``np.load(allow_pickle=False)`` reads it back,
nothing is unpickled). :func:`restore` puts them back after the model is loaded.

An off-policy model's replay buffer goes into ``replay_<steps>_steps.npz`` next to it
(``agents.resume.replay_state``; the state's meta names it), so a resumed SAC is bit-identical too.
The logging state (episode counters, trading/ episode statistics, pending logger values, the
TensorBoard folder) is ``agents.resume.logs``'.

Also here: ``fsync``-ed atomic writes of arrays and the clean-up of temp files a SIGKILL left.
"""

from __future__ import annotations

import json
import os
import random
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback

from agents.acting.safe_load import ModelLoadError
from agents.resume.logs import capture_logs, restore_logs
from agents.resume.replay_state import load_replay, save_replay

STATE_FMT = "state_{steps}_steps.npz"
# temps of lab.atomic.atomic_save (.<stem>.tmp<pid><suffix>), atomic_write_bytes
# (.<name>.<random>.tmp) and save_npz_atomic
_TEMP_RE = re.compile(r"^\..+\.tmp(\d+(\..+)?)?$")


def fsync_path(path: Path) -> None:
    """Flush ``path``'s bytes to disk (before it is renamed over the real name)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_npz_atomic(path: Path, **arrays: np.ndarray) -> Path:
    """``np.savez`` to a temp file, fsync, rename: readers see the old or the new file only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.npz")
    try:
        np.savez(tmp, **arrays)  # type: ignore[arg-type]  # the stub types **kwds as allow_pickle
        fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def clean_stale_temps(run_dir: Path) -> list[Path]:
    """Delete temp files (``.<name>.tmp<pid>...``) that a killed run left; returns them."""
    removed = []
    for folder in (run_dir, run_dir / "checkpoints", run_dir / "eval"):
        if folder.is_dir():
            for p in folder.iterdir():
                if p.is_file() and _TEMP_RE.match(p.name):
                    p.unlink()
                    removed.append(p)
    return removed


def _unwrap(env: Any) -> Any:
    """The BatchedTradingEnv under VecMonitor / other VecEnv wrappers."""
    while hasattr(env, "venv"):
        env = env.venv
    return env


def capture(model: Any, callbacks: list[Any], replay: str | None = None) -> dict[str, np.ndarray]:
    """The resume state of ``model`` (with its env) and ``callbacks`` as plain arrays;
    ``replay`` names the replay-buffer file saved with it (off-policy models)."""
    np_state: Any = np.random.get_state()  # noqa: NPY002 (SB3 shuffles minibatches with it)
    py_state = random.getstate()
    env_state = _unwrap(model.get_env()).get_state()
    action_rng = getattr(model.action_space, "_np_random", None)
    meta = {
        "num_timesteps": int(model.num_timesteps),
        "np_random": [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "py_random": [py_state[0], list(py_state[1]), py_state[2]],
        "env_rngs": env_state["rngs"],
        "env_seeds": env_state["seeds"],
        "action_space_rng": None if action_rng is None else action_rng.bit_generator.state,
        "n_calls": [int(cb.n_calls) for cb in callbacks],
        "replay": replay,
    }
    arrays = {
        "meta": np.array(json.dumps(meta)),
        "torch_rng": torch.get_rng_state().numpy(),
        "np_random_keys": np.asarray(np_state[1], dtype=np.uint32),
        "env_accounts": env_state["accounts"],
    }
    if model._last_obs is not None:
        arrays["last_obs"] = np.asarray(model._last_obs)
        arrays["last_episode_starts"] = np.asarray(model._last_episode_starts)
    if getattr(model, "_last_original_obs", None) is not None:
        arrays["last_original_obs"] = np.asarray(model._last_original_obs)
    arrays.update(capture_lstm(model))
    arrays.update(capture_logs(model, callbacks))  # episode counters, pending logger values
    return arrays


LSTM_KEYS = ("lstm_pi_h", "lstm_pi_c", "lstm_vf_h", "lstm_vf_c")


def capture_lstm(model: Any) -> dict[str, np.ndarray]:
    """A recurrent model's (RecurrentPPO) LSTM states of the training envs at the rollout
    boundary, actor and critic (SB3 leaves them out of the zip; loading resets them to zero,
    which would make the next rollout differ); {} for a model without them."""
    states = getattr(model, "_last_lstm_states", None)
    if states is None:
        return {}
    tensors = (*states.pi, *states.vf)
    return {k: t.detach().cpu().numpy() for k, t in zip(LSTM_KEYS, tensors, strict=True)}


def restore_lstm(model: Any, state: dict[str, Any]) -> None:
    """Put :func:`capture_lstm`'s arrays back (shapes checked against the model's own)."""
    current = getattr(model, "_last_lstm_states", None)
    if current is None and LSTM_KEYS[0] not in state:
        return
    if current is None or LSTM_KEYS[0] not in state:
        raise ValueError(
            "the resume state and the model disagree on the LSTM state (a recurrent model's "
            "checkpoint holds one): the checkpoint belongs to another algorithm"
        )
    old = (*current.pi, *current.vf)
    new = []
    for key, t in zip(LSTM_KEYS, old, strict=True):
        arr = np.asarray(state[key], dtype=np.float32)
        if arr.shape != tuple(t.shape):
            raise ValueError(f"{key} has shape {arr.shape}, the model's is {tuple(t.shape)}")
        if not np.isfinite(arr).all():  # a NaN state makes every next action NaN
            raise ValueError(f"{key} holds NaN or inf values; an LSTM state is finite")
        new.append(torch.from_numpy(arr.copy()).to(t.device))
    # sb3-contrib's RNNStates (a NamedTuple of the actor's and the critic's (h, c))
    model._last_lstm_states = type(current)((new[0], new[1]), (new[2], new[3]))


def save(checkpoint_dir: Path, model: Any, callbacks: list[Any]) -> Path:
    """``checkpoints/state_<steps>_steps.npz`` (atomic), after the model's replay buffer
    (``replay_<steps>_steps.npz``, off-policy models); returns the state's path."""
    replay = save_replay(checkpoint_dir, model)
    path = checkpoint_dir / STATE_FMT.format(steps=int(model.num_timesteps))
    return save_npz_atomic(path, **capture(model, callbacks, replay))


def load(path: Path) -> dict[str, Any]:
    """Read a state file back (no pickle); ``meta`` is decoded from its JSON."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["meta"] = json.loads(str(arrays["meta"]))
    return arrays


def restore(model: Any, callbacks: list[Any], state: dict[str, Any]) -> None:
    """Put a :func:`load`-ed state back: RNGs, env, last observation, callback counters.

    Call it last before ``learn`` (loading a model re-seeds the RNGs and the env).
    """
    import gymnasium

    meta = state["meta"]
    if int(meta["num_timesteps"]) != int(model.num_timesteps):
        raise ValueError(
            f"resume state is for step {meta['num_timesteps']}, the model is at "
            f"{model.num_timesteps}"
        )
    torch.set_rng_state(torch.from_numpy(np.ascontiguousarray(state["torch_rng"])))
    name, pos, has_gauss, cached = meta["np_random"]
    np.random.set_state((name, state["np_random_keys"], pos, has_gauss, cached))  # noqa: NPY002
    version, internal, gauss_next = meta["py_random"]
    random.setstate((version, tuple(internal), gauss_next))
    _unwrap(model.get_env()).set_state(
        {"accounts": state["env_accounts"], "rngs": meta["env_rngs"], "seeds": meta["env_seeds"]}
    )
    if meta["action_space_rng"] is not None:
        rng, _ = gymnasium.utils.seeding.np_random(0)
        rng.bit_generator.state = meta["action_space_rng"]
        model.action_space._np_random = rng
    if "last_obs" in state:
        _check_last_obs(model, state)
        model._last_obs = state["last_obs"]
        model._last_episode_starts = state["last_episode_starts"]
    if "last_original_obs" in state:
        model._last_original_obs = state["last_original_obs"]
    restore_lstm(model, state)
    for cb, n in zip(callbacks, meta["n_calls"], strict=True):
        cb.n_calls = n
    restore_logs(model, callbacks, state)


def _check_last_obs(model: Any, state: dict[str, Any]) -> None:
    """The saved last observation and episode-start flags fit the model's envs and are finite
    (a NaN observation makes every next action NaN)."""
    n = int(model.get_env().num_envs)
    want = (n, *model.observation_space.shape)
    obs, starts = np.asarray(state["last_obs"]), np.asarray(state["last_episode_starts"])
    if obs.shape != want:
        raise ValueError(f"last_obs has shape {obs.shape}, the model's is {want}")
    if not np.isfinite(obs).all():
        raise ValueError("last_obs holds NaN or inf values; an observation is finite")
    if starts.shape != (n,):
        raise ValueError(f"last_episode_starts has shape {starts.shape}, the model's is {(n,)}")


# --------------------------------------------------------------------------- pipeline hooks
EVAL_TMP = ".tmp"  # SB3's EvalCallback writes eval/.tmp/evaluations.npz; published atomically


class PublishEvaluations(BaseCallback):
    """After every evaluation: fsync SB3's freshly written ``eval/.tmp/evaluations.npz`` and
    rename it to ``eval/evaluations.npz`` (a kill mid-write never tears the published file)."""

    def __init__(self, eval_dir: Path) -> None:
        super().__init__(verbose=0)
        self.eval_dir = Path(eval_dir)

    def _on_step(self) -> bool:
        tmp = self.eval_dir / EVAL_TMP / "evaluations.npz"
        if tmp.is_file():
            fsync_path(tmp)
            os.replace(tmp, self.eval_dir / "evaluations.npz")
        return True


def latest_state_path(run_dir: Path) -> Path | None:
    """The resume state named by ``checkpoints/latest.json`` (None: an older checkpoint)."""
    latest = run_dir / "checkpoints" / "latest.json"
    name = json.loads(latest.read_text()).get("state") if latest.is_file() else None
    return None if not name else latest.parent / name


def restore_run_state(run_dir: Path, model: Any, ckpt_cb: Any) -> str:
    """Restore the checkpoint's resume state, then clean the temps a kill left (nothing is
    deleted if the state is unusable); returns a log line."""
    path = latest_state_path(run_dir)
    if path is None or not path.is_file():
        removed = clean_stale_temps(run_dir)
        note = f"removed {len(removed)} stale temp file(s); " if removed else ""
        return (
            f"{note}the checkpoint has no resume state (an older run): RNGs and env positions "
            "restart, so the resumed run differs from an uninterrupted one"
        )
    try:
        state = load(path)
        restore(model, ckpt_cb.state_callbacks, state)
        if state["meta"].get("replay"):
            load_replay(model, path.parent / state["meta"]["replay"])
    except (ValueError, KeyError, TypeError, OSError, zipfile.BadZipFile) as exc:  # torn/crafted
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ModelLoadError(f"{path}: unusable resume state ({first})") from None
    removed = clean_stale_temps(run_dir)
    note = f"removed {len(removed)} stale temp file(s); " if removed else ""
    sac = ""
    if hasattr(model, "replay_buffer"):
        sac = " and the replay buffer" if state["meta"].get("replay") else " (SAC: empty buffer)"
    return f"{note}restored RNG, env and schedule state at step {model.num_timesteps}{sac}"


def run_is_finished(run_dir: Path, total_timesteps: int) -> bool:
    """True when ``metrics.json`` reports the run trained to ``total_timesteps`` (or more)."""
    metrics = run_dir / "metrics.json"
    if not metrics.is_file():
        return False
    try:
        return int(json.loads(metrics.read_text()).get("num_timesteps", -1)) >= total_timesteps
    except (ValueError, AttributeError):
        return False


def attach_callbacks(root: BaseCallback, model: Any) -> None:
    """Give ``root`` and every nested callback the model and its step count, without a
    ``learn`` (a run resumed after its last step only finishes: final checkpoint, evaluation)."""
    root.init_callback(model)
    stack = [root]
    while stack:
        cb = stack.pop()
        cb.num_timesteps = int(model.num_timesteps)
        stack.extend(getattr(cb, "callbacks", []) or [])
        stack.extend(
            c
            for c in (getattr(cb, "callback", None), getattr(cb, "callback_on_new_best", None))
            if c is not None
        )
