"""``python -m evaluate``: see ``evaluate.cli``."""

from evaluate.cli import main

raise SystemExit(main())
