"""SAC on a trading preset: ``python -m agents.sac --env btc1h`` (``--help`` for every flag).

The steps are ``agents.training.train_rl``'s, like ``agents.ppo``'s: parse -> run dir -> seed -> envs ->
model -> callbacks -> learn -> save -> evaluate. SAC acts on a continuous target exposure in [-1, 1]
(``env.action: continuous``); SB3's SAC has no discrete head, so ``--warm-start`` (a 3-class
supervised classifier) is refused. Actor and critics each get their own transformer extractor
by default (SB3's default; the critic's extractor then learns from the Q loss only). Each
checkpoint also holds the replay buffer (``agents.resume.replay_state``, plain arrays), so like PPO a
resumed SAC is bit-identical to an uninterrupted run (``agents.resume.state``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from agents.training import train_rl
from agents.training.train_rl import Session
from agents.transfer.warm_start import WarmStartError
from envs.data import DataValidationError
from lab.cli import run_cli

ALGO = "sac"
__all__ = ["ALGO", "Session", "main", "setup"]


def setup(argv: list[str]) -> Session:
    """Everything up to a model ready to learn (``agents.training.train_rl.setup``)."""
    return train_rl.setup(ALGO, argv)


def main(argv: list[str] | None = None) -> Path:
    """Train, save and validate one SAC run; returns the run folder."""
    return train_rl.run(ALGO, sys.argv[1:] if argv is None else list(argv))


if __name__ == "__main__":
    raise SystemExit(run_cli(main, (WarmStartError, DataValidationError)))
