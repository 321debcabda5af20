"""Process-wide runtime settings every trainer sets the same way: seeds and torch threads."""

from __future__ import annotations

import os
import random

import numpy as np

from lab.config import ConfigError


def seed_everything(seed: int) -> None:
    """Seed python ``random``, numpy's global RNG and torch (CPU and CUDA).

    Envs and SB3 get the same seed explicitly (``make_env(..., seed=)``, ``model(seed=)``):
    this only covers the global generators that third-party code may use.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002  (the legacy global RNG is what we must seed)
    os.environ["PYTHONHASHSEED"] = str(seed)  # for subprocesses; this one's hash seed is fixed
    try:
        import torch
    except ImportError:  # supervised/agents always have torch; keep rundir importable without
        return
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def set_torch_threads(requested: int | None) -> int:
    """Set torch's intra-op threads: ``requested``, or 1 by default; returns the number.

    The cpu-preset transformer's ops are tiny (batches of 16-256 rows, width 32), so intra-op
    parallelism buys nothing and thread hand-offs dominate. Measured on the 2-core machine
    shared with other jobs: PPO trained at ~2,000 steps/s with 1 thread and ~125 with 2, and a
    batch-1 ``predict`` took 2 ms vs 30 ms (bench/RESULTS.md, ppo_default_run).
    """
    import torch  # lazily: lab must import without torch

    n = requested or 1
    torch.set_num_threads(n)
    return n


def check_device(device: str | None, flag: str = "--device") -> None:
    """``cuda`` (or ``cuda:N``) only where torch sees that GPU: SB3 silently trained on the CPU
    instead, and a Ray engine waited forever for a GPU nobody has. ``auto``/``cpu`` pass."""
    if device is None or not str(device).startswith("cuda"):
        return
    import torch  # lazily: lab must import without torch

    index = int(device.split(":", 1)[1]) if ":" in device and device[5:].isdigit() else 0
    if not torch.cuda.is_available() or index >= torch.cuda.device_count():
        raise ConfigError(
            f"{flag} {device}: no such CUDA device here (torch.cuda.is_available() is "
            f"{torch.cuda.is_available()}, {torch.cuda.device_count()} devices); use "
            f"{flag} cpu or {flag} auto"
        )
