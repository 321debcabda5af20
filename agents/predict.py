"""``python -m agents.predict``: the decision for the latest closed bar from a registered model.

The command only; its code is ``agents.serving.prediction`` (``--help`` for every flag).
"""

from __future__ import annotations

from agents.serving.prediction import main
from lab.cli import run_cli

if __name__ == "__main__":
    raise SystemExit(run_cli(main))
