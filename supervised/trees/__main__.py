"""``python -m supervised.trees``: train the stacked tree-ensemble baseline."""

import sys

from supervised.trees.train import cli

sys.exit(cli())
