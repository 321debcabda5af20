"""PPO on a trading preset: ``python -m agents.ppo --env btc1h`` (``--help`` for every flag).

Reads top to bottom: parse -> (warm-start checkpoint) -> run dir -> seed -> market -> envs ->
model -> callbacks -> learn -> save -> evaluate. Trains on the train split with the batched
VecEnv, selects on the val split (best_model.zip), and ends with a deterministic backtest of the
whole val split (metrics.json). The policy is SB3's ActorCriticPolicy on the transformer
extractor (policies.TransformerExtractor) with ``net_arch=dict(pi=[], vf=[64, 64])``:
``action_net`` sits directly on the features, the same shape as the supervised classifier's
head, so ``--warm-start runs/<env>/supervised/<run>/model.pt`` loads one exactly and fine-tunes
it FLAG-Trader style (frozen base, LoRA + heads, critic warm-up; see ``agents.transfer.warm_start``).

The steps are ``agents.training.train_rl``'s, shared by every algorithm of ``agents.algorithms``:
``setup(argv)`` does everything up to a model ready to learn (tests inspect a warm-started
policy there); ``main`` = ``setup`` + ``agents.training.pipeline.learn`` + the validation backtest.
"""

from __future__ import annotations

import sys
from pathlib import Path

from agents.training import train_rl
from agents.training.train_rl import Session
from agents.transfer.warm_start import WarmStartError
from envs.data import DataValidationError
from lab.cli import run_cli

ALGO = "ppo"
__all__ = ["ALGO", "Session", "main", "setup"]


def setup(argv: list[str]) -> Session:
    """Everything up to a model ready to learn (``agents.training.train_rl.setup``)."""
    return train_rl.setup(ALGO, argv)


def main(argv: list[str] | None = None) -> Path:
    """Train, save and validate one PPO run; returns the run folder."""
    return train_rl.run(ALGO, sys.argv[1:] if argv is None else list(argv))


if __name__ == "__main__":
    raise SystemExit(run_cli(main, (WarmStartError, DataValidationError)))
