"""``python -m supervised.trees``: train the stacked tree-ensemble baseline."""

from lab.cli import run_cli  # Ctrl-C, a full disk: one line, the unfinished run folder removed
from supervised.trees.train import cli  # imported inside run_cli: Ctrl-C here is one line too


def _main() -> int:

    return cli()


raise SystemExit(run_cli(_main))
