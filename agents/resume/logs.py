"""What a resumed run's logs depend on, so its TensorBoard run equals an uninterrupted one's.

Saved with each checkpoint (:func:`capture_logs`, arrays in the ``state_<steps>_steps.npz``):
VecMonitor's running episode returns/lengths and count, SB3's ``ep_info_buffer`` (the last 100
episodes behind ``rollout/ep_rew_mean``), the ``trading/`` callback's unfinished episodes
(``agents.training.episode_stats``) and the logger's values recorded since its last dump (PPO records
``train/*`` after its dump, so they are pending at every checkpoint). :func:`restore_logs` puts
the first three back with the rest of the state.

Once the resume has loaded and validated everything, :func:`resume_tensorboard` rewrites the
previous attempts' event files of the run's TensorBoard folder keeping only events at steps up
to the checkpoint's (a killed run logged past its last checkpoint, and the resumed run logs
those steps again), then gives the model a logger on that folder holding the pending values.
Wall-clock values (VecMonitor's episode times, ``time/fps``) are the only ones that differ.
"""

from __future__ import annotations

import json
import re
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from agents.training.callbacks import TradingMetricsCallback
from lab.atomic import atomic_save

LOG_META = "log_meta"
# scalar types a logger value may have, by name; the type is restored with the value (a float32
# and a float average differently in ``record_mean``)
_TYPES: dict[str, Any] = {
    "float": float,
    "int": int,
    "bool": bool,
    "float32": np.float32,
    "float64": np.float64,
    "int32": np.int32,
    "int64": np.int64,
}
_EVENTS_TEMP_RE = re.compile(r"^\..*tfevents.*\.tmp\d+.*$")


def _monitor(env: Any) -> Any:
    """The VecMonitor in a wrapper chain, if any."""
    from stable_baselines3.common.vec_env import VecMonitor

    while env is not None and not isinstance(env, VecMonitor):
        env = getattr(env, "venv", None)
    return env


def _trading(callbacks: list[Any]) -> Any:
    """The ``trading/`` callback among ``callbacks``, if any."""
    return next((cb for cb in callbacks if isinstance(cb, TradingMetricsCallback)), None)


def _pending(logger: Any) -> list[list[Any]]:
    """The logger's values recorded since its last dump: [key, value, type, count, excluded]."""
    out = []
    for key, value in logger.name_to_value.items():
        kind = type(value).__name__
        if kind in _TYPES:  # (no figures, videos or text are logged here)
            excluded = logger.name_to_excluded.get(key)
            excluded = list(excluded) if isinstance(excluded, tuple) else excluded
            out.append([key, value.item() if hasattr(value, "item") else value, kind,
                        int(logger.name_to_count.get(key, 0)), excluded])  # fmt: skip
    return out


def capture_logs(model: Any, callbacks: list[Any]) -> dict[str, np.ndarray]:
    """The logging state of ``model`` and ``callbacks`` as plain arrays (``LOG_META``: JSON)."""
    meta: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    monitor = _monitor(model.get_env())
    if monitor is not None:
        arrays["monitor_returns"] = np.asarray(monitor.episode_returns)
        arrays["monitor_lengths"] = np.asarray(monitor.episode_lengths)
        meta["monitor_episodes"] = int(monitor.episode_count)
    infos = list(model.ep_info_buffer or [])
    meta["ep_info_maxlen"] = None if model.ep_info_buffer is None else model.ep_info_buffer.maxlen
    arrays["ep_info_r"] = np.asarray([e["r"] for e in infos], dtype=np.float32)
    arrays["ep_info_l"] = np.asarray([e["l"] for e in infos], dtype=np.int32)
    arrays["ep_info_t"] = np.asarray([e["t"] for e in infos], dtype=np.float64)
    trading = _trading(callbacks)
    # (a run resumed after its last step never starts training: its restored stats are pending)
    stats = None if trading is None else trading.stats or trading.restored_stats
    if stats is not None:
        state = stats if isinstance(stats, dict) else stats.get_state()
        arrays.update({f"trading_{k}": v for k, v in state.items()})
        meta["trading_episodes"] = int(trading.episodes)
    logger = getattr(model, "_logger", None)
    meta["logger"] = [] if logger is None else _pending(logger)
    arrays[LOG_META] = np.array(json.dumps(meta))
    return arrays


def restore_logs(model: Any, callbacks: list[Any], state: dict[str, Any]) -> None:
    """Put :func:`capture_logs`' episode counters back (a state without them: nothing)."""
    if LOG_META not in state:
        return
    meta = json.loads(str(state[LOG_META]))
    monitor = _monitor(model.get_env())
    if monitor is not None and "monitor_returns" in state:
        if state["monitor_returns"].shape != (monitor.num_envs,):
            raise ValueError(f"monitor state for {state['monitor_returns'].shape} envs")
        monitor.episode_returns = state["monitor_returns"].astype(np.float32)
        monitor.episode_lengths = state["monitor_lengths"].astype(np.int32)
        monitor.episode_count = int(meta["monitor_episodes"])
    if meta["ep_info_maxlen"] is not None:
        r, n, t = state["ep_info_r"], state["ep_info_l"], state["ep_info_t"]
        model.ep_info_buffer = deque(
            ({"r": r[i], "l": n[i], "t": float(t[i])} for i in range(len(r))),
            maxlen=int(meta["ep_info_maxlen"]),
        )
        # SB3 rebuilds both buffers only when the info one is missing (no env reports success)
        model.ep_success_buffer = deque(maxlen=int(meta["ep_info_maxlen"]))
    trading = _trading(callbacks)
    if trading is not None and "trading_rows" in state:  # applied at training start
        trading.restored_stats = {k: state[f"trading_{k}"] for k in ("rows", "start", "clock")}
        trading.episodes = int(meta["trading_episodes"])


# --------------------------------------------------------------------------- TensorBoard
def trim_event_file(path: Path, upto: int) -> bool:
    """Rewrite the event file ``path`` without its events after step ``upto`` (and without a
    record torn by a kill); atomic. Returns whether anything was dropped."""
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.summary.writer.record_writer import RecordWriter

    records = list(RawEventFileLoader(str(path)).Load())
    keep = [r for r in records if Event.FromString(r).step <= upto]
    size = sum(len(r) + 16 for r in records)  # 16 bytes of framing per record
    if len(keep) == len(records) and size == path.stat().st_size:
        return False

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            writer = RecordWriter(fh)
            for record in keep:
                writer.write(record)

    atomic_save(path, write)
    return True


def trim_tensorboard(folder: Path, upto: int) -> list[Path]:
    """Trim every event file in ``folder`` to steps ``<= upto``; returns the rewritten ones."""
    if not folder.is_dir():
        return []
    for p in folder.iterdir():  # a kill inside a previous trim
        if _EVENTS_TEMP_RE.match(p.name):
            p.unlink()
    files = sorted(p for p in folder.iterdir() if p.is_file() and "tfevents" in p.name)
    return [p for p in files if trim_event_file(p, upto)]


def resume_tensorboard(model: Any, tb_log_name: str, state: dict[str, Any] | None) -> str:
    """Trim the run's TensorBoard folder to the checkpoint's step and give ``model`` a logger
    on it holding the values pending at the checkpoint; returns a log line."""
    from stable_baselines3.common.utils import configure_logger, get_latest_run_id

    if model.tensorboard_log is None:
        return "no TensorBoard folder"
    run_id = get_latest_run_id(model.tensorboard_log, tb_log_name)
    folder = Path(model.tensorboard_log) / f"{tb_log_name}_{run_id}"
    trimmed = trim_tensorboard(folder, int(model.num_timesteps))
    logger = configure_logger(model.verbose, model.tensorboard_log, tb_log_name, False)
    meta = {} if state is None or LOG_META not in state else json.loads(str(state[LOG_META]))
    for key, value, kind, count, excluded in meta.get("logger", []):
        logger.name_to_value[key] = _TYPES[kind](value)
        logger.name_to_count[key] = count
        logger.name_to_excluded[key] = tuple(excluded) if isinstance(excluded, list) else excluded
    model.set_logger(logger)
    return (
        f"TensorBoard {folder.name}: {len(trimmed)} event file(s) cut back to step "
        f"{model.num_timesteps}"
    )
