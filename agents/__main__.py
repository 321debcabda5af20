"""``python -m agents <algo> --env btc1h [flags]``: train any algorithm of the table.

``<algo>`` is an entry of ``agents.algorithms.ALGOS`` (``ppo``, ``sac``, ...); the flags are the
ones ``python -m agents.ppo --help`` lists (``python -m agents <algo> --help`` for that
algorithm's section). Runs ``agents.training.train_rl.run``, the steps every RL entry point shares.
"""

from __future__ import annotations

import sys
from pathlib import Path

from agents.algorithms import ALGOS
from agents.training import train_rl
from agents.transfer.warm_start import WarmStartError
from envs.data import DataValidationError
from lab.cli import run_cli
from lab.config import ConfigError


def main(argv: list[str] | None = None) -> Path:
    """Train one run (or a ``--seeds`` group) of the algorithm named first in ``argv``."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] in (["-h"], ["--help"]):
        print(f"usage: python -m agents {{{','.join(ALGOS)}}} --env ENV [flags]")
        print(__doc__)
        print(f"algorithms: {', '.join(ALGOS)}")
        raise SystemExit(0)
    if not args or args[0] not in ALGOS:
        got = repr(args[0]) if args else "nothing"
        raise ConfigError(
            f"python -m agents: the first argument must be an algorithm ({', '.join(ALGOS)}), "
            f"got {got}; e.g. python -m agents a2c --env btc1h"
        )
    return train_rl.run(args[0], args[1:])


if __name__ == "__main__":
    raise SystemExit(run_cli(main, (WarmStartError, DataValidationError)))
