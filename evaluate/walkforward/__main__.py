"""``python -m evaluate.walkforward``: see ``evaluate.walkforward.cli``."""

from envs.data import DataValidationError
from evaluate.walkforward.cli import main
from lab.cli import run_cli

raise SystemExit(run_cli(main, (DataValidationError,)))
