"""Hostile inputs of the stats pass (issue 24 item 3): a damaged trial ledger is one line naming
the file, the line and the fix, before any backtest runs, and nothing is written.

Each case: (id, module, argv, fragment), run by tests/test_cli_abuse.py (exit 2, one ``error:``
line containing ``fragment``, no traceback, nothing written). ``fixtures`` damages the ledgers of
markets no other case evaluates, under the test's ``RLTRADE_RUNS_ROOT`` (``<tmp>/ledger_root``):
eth1h (a NaN val Sharpe on line 2), btc1h@1d (a JSON list on line 1), eth1h@1d (a torn last
line), btc1h@4h (the ledger path is a folder).
"""

from __future__ import annotations

import json
from pathlib import Path

EVAL = ["--split", "val", "--n-boot", "20", "--no-plots", "--out", "{new}"]
GOOD = {"market": "eth1h", "source": "run", "algo": "ppo", "config_hash": "a" * 64,
        "val_sharpe": 0.5, "periods_per_year": 8760.0, "seed": 0, "run_dir": None,
        "extra": {}}  # fmt: skip

CASES: list[tuple[str, str, list[str], str]] = [
    ("evaluate ledger NaN val_sharpe", "evaluate", ["--env", "eth1h", *EVAL],
     "eth1h/ledger.jsonl line 2: val_sharpe nan is not a finite number or null"),
    ("evaluate ledger line a JSON list", "evaluate", ["--env", "btc1h", "--bar", "1d", *EVAL],
     "btc1h@1d/ledger.jsonl line 1: a JSON list, not a record object"),
    ("evaluate ledger torn last line", "evaluate", ["--env", "eth1h", "--bar", "1d", *EVAL],
     "eth1h@1d/ledger.jsonl line 2: the last line is torn"),
    ("evaluate ledger path a folder", "evaluate", ["--env", "btc1h", "--bar", "4h", *EVAL],
     "btc1h@4h/ledger.jsonl: the ledger path is a folder"),
]  # fmt: skip


def fixtures(tmp: Path) -> dict[str, str]:
    """Damage four ledgers under ``<tmp>/ledger_root`` (see the module doc); no placeholders."""
    root = tmp / "ledger_root"
    good = json.dumps(GOOD)
    for market, text in (
        ("eth1h", good + "\n" + good.replace('"val_sharpe": 0.5', '"val_sharpe": NaN') + "\n"),
        ("btc1h@1d", "[1, 2, 3]\n"),
        ("eth1h@1d", good + "\n" + good[:30]),
    ):
        (root / market).mkdir(parents=True, exist_ok=True)
        (root / market / "ledger.jsonl").write_text(text)
    (root / "btc1h@4h" / "ledger.jsonl").mkdir(parents=True, exist_ok=True)
    return {}
