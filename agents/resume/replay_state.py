"""An off-policy model's replay buffer as plain arrays, saved with each checkpoint.

SAC's future depends on its replay buffer (every update samples from it), so a resumed SAC is
the same run only if the buffer comes back exactly. SB3's ``save_replay_buffer`` pickles the
whole object; here the buffer is written as ``replay_<steps>_steps.npz`` of plain arrays
(``np.savez``, atomic; read back with ``allow_pickle=False``): only the filled rows, in the
buffer's own dtypes (float32 observations), and ``next_observations`` only where they are not
simply the next row's observation (an episode end) -- SB3 stores each observation twice, so
this halves the file. At the default config (SAC and TQC: 16 envs, 100k transitions, observations
of 16 x 60 + 4 = 964 float32) a full buffer would be ~386 MB on disk (100k x 964 x 4 bytes of
observations; actions, rewards and flags add ~1.6 MB); the default 30k-step run ends with 30k
transitions, ~116 MB. Only the newest checkpoint keeps its buffer (``prune``): a resume
always starts from the newest one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from lab.atomic import atomic_save

REPLAY_FMT = "replay_{steps}_steps.npz"
_REPLAY_RE = re.compile(r"^replay_(\d+)_steps\.npz$")
_PLAIN = ("actions", "rewards", "dones", "timeouts")  # (rows, n_envs, ...) arrays kept as is


def _bits(a: np.ndarray) -> np.ndarray:
    """``a`` viewed as unsigned integers of its item size (bitwise comparison, no copy)."""
    return a.view(f"u{a.dtype.itemsize}")


def _successor_same(buffer: Any, n_rows: int) -> np.ndarray:
    """(rows, n_envs) bool: ``next_observations[t] == observations[t + 1]`` bit for bit.

    The newest row's successor slot holds the oldest transition (or nothing yet): never same.
    """
    obs, nxt = _bits(buffer.observations), _bits(buffer.next_observations)
    axes = tuple(range(2, obs.ndim))  # per (row, env): all observation values
    row_axes = tuple(a - 1 for a in axes)
    same = np.zeros((n_rows, obs.shape[1]), dtype=np.bool_)
    if n_rows:
        same[:-1] = np.all(nxt[: n_rows - 1] == obs[1:n_rows], axis=axes)
        same[-1] = np.all(nxt[n_rows - 1] == obs[n_rows % buffer.buffer_size], axis=row_axes)
        same[(buffer.pos - 1) % buffer.buffer_size] = False
    return same


def capture_replay(buffer: Any) -> dict[str, np.ndarray]:
    """The filled part of an SB3 ``ReplayBuffer`` as plain arrays (see the module doc)."""
    if getattr(buffer, "optimize_memory_usage", False):
        raise ValueError("replay buffers with optimize_memory_usage are not checkpointed")
    n_rows = buffer.buffer_size if buffer.full else buffer.pos
    arrays = {
        "pos": np.asarray(buffer.pos, dtype=np.int64),
        "full": np.asarray(buffer.full, dtype=np.bool_),
        "buffer_size": np.asarray(buffer.buffer_size, dtype=np.int64),
        "observations": buffer.observations[:n_rows],
    }
    same = _successor_same(buffer, n_rows)
    arrays["next_same"] = same
    arrays["next_other"] = buffer.next_observations[:n_rows][~same]
    for name in _PLAIN:
        arrays[name] = getattr(buffer, name)[:n_rows]
    return arrays


def _check(arrays: dict[str, np.ndarray], buffer: Any, n_rows: int) -> None:
    """Every array has the live buffer's dtype and shape (of ``n_rows`` filled rows)."""
    expected = {
        "observations": buffer.observations,
        **{name: getattr(buffer, name) for name in _PLAIN},
    }
    for name, live in expected.items():
        got = arrays[name]
        if got.dtype != live.dtype or got.shape != (n_rows, *live.shape[1:]):
            raise ValueError(
                f"replay array {name!r} is {got.dtype}{list(got.shape)}, the model's buffer "
                f"needs {live.dtype}{[n_rows, *live.shape[1:]]}"
            )
    _check_values(arrays)
    n_other = int(np.count_nonzero(~arrays["next_same"]))
    if arrays["next_same"].shape != (n_rows, buffer.n_envs) or arrays["next_other"].shape != (
        n_other,
        *buffer.observations.shape[2:],
    ):
        raise ValueError("replay next-observation arrays do not fit the buffer")


def _check_values(arrays: dict[str, np.ndarray]) -> None:
    """Finite observations and rewards, actions in SB3's scaled [-1, 1] and 0/1 episode flags:
    a NaN transition poisons every update that samples it, silently until training diverges."""
    for name in ("observations", "next_other", "rewards"):
        if not np.isfinite(arrays[name]).all():
            raise ValueError(f"replay array {name!r} holds NaN or inf values")
    if not (np.abs(arrays["actions"]) <= 1).all():  # NaN fails too
        raise ValueError(
            "replay array 'actions' holds values outside [-1, 1] (SB3 stores them scaled)"
        )
    for name in ("dones", "timeouts"):
        if not np.isin(arrays[name], (0, 1)).all():
            raise ValueError(f"replay array {name!r} holds values other than 0 and 1")


def restore_replay(buffer: Any, arrays: dict[str, np.ndarray]) -> None:
    """Fill an empty SB3 ``ReplayBuffer`` (same size and spaces) from :func:`capture_replay`."""
    size, pos, full = int(arrays["buffer_size"]), int(arrays["pos"]), bool(arrays["full"])
    if size != buffer.buffer_size or not 0 <= pos < size:
        raise ValueError(
            f"replay buffer of {size} rows (pos {pos}), the model's holds {buffer.buffer_size} "
            "(buffer_size / n_envs changed?)"
        )
    n_rows = size if full else pos
    _check(arrays, buffer, n_rows)
    buffer.observations[:n_rows] = arrays["observations"]
    for name in _PLAIN:
        getattr(buffer, name)[:n_rows] = arrays[name]
    if n_rows:  # each next observation is the next row's observation but at episode ends
        nxt = buffer.next_observations
        nxt[: n_rows - 1] = buffer.observations[1:n_rows]
        nxt[n_rows - 1] = buffer.observations[n_rows % size]
        nxt[:n_rows][~arrays["next_same"]] = arrays["next_other"]
    buffer.pos, buffer.full = pos, full


def save_replay(checkpoint_dir: Path, model: Any) -> str | None:
    """``replay_<steps>_steps.npz`` (atomic) for a model with a replay buffer; its name."""
    buffer = getattr(model, "replay_buffer", None)
    if buffer is None:
        return None
    path = checkpoint_dir / REPLAY_FMT.format(steps=int(model.num_timesteps))
    arrays = capture_replay(buffer)
    atomic_save(path, lambda tmp: np.savez(tmp, **arrays))  # type: ignore[arg-type]
    return path.name


def load_replay(model: Any, path: Path) -> None:
    """Read ``path`` (no pickle) into the model's freshly built, empty replay buffer."""
    if not path.is_file():
        raise FileNotFoundError(f"the replay buffer file {path.name} is missing")
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    restore_replay(model.replay_buffer, arrays)


def prune(checkpoint_dir: Path, keep: str | None) -> None:
    """Delete every ``replay_*_steps.npz`` but ``keep`` (the newest checkpoint's)."""
    for p in checkpoint_dir.iterdir():
        if _REPLAY_RE.match(p.name) and p.name != keep:
            p.unlink(missing_ok=True)
