"""``python -m agents.paper``: paper trading a registered model, bar by bar.

The command only; its code is ``agents.serving.paper_trading`` (``--help`` for every flag).
"""

from __future__ import annotations

from agents.serving.paper_trading import main
from lab.cli import run_cli

if __name__ == "__main__":
    raise SystemExit(run_cli(main))
