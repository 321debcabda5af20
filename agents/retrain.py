"""``python -m agents.retrain``: retrain a registered model on new data, promote only if it wins.

The command only; its code is ``agents.serving.retraining`` (``--help`` for every flag).
"""

from __future__ import annotations

from agents.serving.retraining import main
from lab.cli import run_cli

if __name__ == "__main__":
    raise SystemExit(run_cli(main))
