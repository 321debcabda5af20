"""``python -m agents.registry``: the model registry: promote, list, show, roll back.

The command only; its code is ``agents.serving.model_registry`` (``--help`` for every flag).
"""

from __future__ import annotations

from agents.serving.model_registry import main
from lab.cli import run_cli

if __name__ == "__main__":
    raise SystemExit(run_cli(main))
