"""``python -m agents.tune``: hyperparameter search over the learner table.

The command only; its code is ``agents.experiments.search`` (``--help`` for every flag).
"""

from __future__ import annotations

from agents.experiments.search import cli
from lab.cli import run_cli

if __name__ == "__main__":
    raise SystemExit(run_cli(cli))
