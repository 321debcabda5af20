"""``python -m evaluate``: see ``evaluate.cli``."""

from envs.data import DataValidationError
from evaluate.cli import main
from lab.cli import run_cli

raise SystemExit(run_cli(main, (DataValidationError,)))
