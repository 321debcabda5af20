"""Hostile inputs of the daily feature sets and multi-timeframe observations (issue 20 item 3):
a context market with a set that has no context columns, a context that is no market, a negative
or absurd daily window, a registry record whose daily_window is damaged.

Each case: (id, module, argv, fragment), run by tests/test_cli_abuse.py (exit 2, one ``error:``
line containing ``fragment``, no traceback, nothing written). Placeholders from ``fixtures``:
{f_ctx_core17}, {f_ctx_bogus}, {f_daily_neg}, {f_daily_huge} (PPO configs), {f_reg} (a registry
root whose model m_daily has ``daily_window: "4"``); {new} and {candles} are the shared ones.
"""

from __future__ import annotations

import json
from pathlib import Path

CONFIGS = {
    "f_ctx_core17": "env:\n  feature_set: core17\n  context: eth1h\n",
    "f_ctx_bogus": "env:\n  feature_set: daily\n  context: no_such_market\n",
    "f_daily_neg": "env:\n  daily_window: -3\n",
    "f_daily_huge": "env:\n  daily_window: 100000\n",
}
PPO = ["--env", "btc1h", "--run-dir", "{new}", "--config"]

CASES: list[tuple[str, str, list[str], str]] = [
    (
        "ppo context with a set without context columns",
        "agents.ppo",
        [*PPO, "{f_ctx_core17}"],
        "env.context 'eth1h': feature set 'core17' has no cross-asset context columns; use "
        "feature_set daily, daily30 or drop env.context",
    ),  # fmt: skip
    (
        "ppo context not a market",
        "agents.ppo",
        [*PPO, "{f_ctx_bogus}"],
        "env.context 'no_such_market' is not a market",
    ),  # fmt: skip
    (
        "ppo negative daily window",
        "agents.ppo",
        [*PPO, "{f_daily_neg}"],
        "env.daily_window must be an int from 0 to 730 daily rows (0 = none), got -3",
    ),  # fmt: skip
    (
        "ppo absurd daily window",
        "agents.ppo",
        [*PPO, "{f_daily_huge}"],
        "env.daily_window must be an int from 0 to 730 daily rows (0 = none), got 100000",
    ),  # fmt: skip
    (
        "predict record with a damaged daily_window",
        "agents.predict",
        ["--model", "m_daily", "--root", "{f_reg}", "--candles", "{candles}"],
        "damaged version record (missing or wrong: daily_window)",
    ),  # fmt: skip
]


def fixtures(tmp: Path) -> dict[str, str]:
    """Create this pass's placeholder files under ``tmp``; returns placeholder -> path."""
    out = {}
    for key, text in CONFIGS.items():
        path = tmp / f"{key}.yml"
        path.write_text(text)
        out[key] = str(path)
    reg = tmp / "f_reg"
    record = {"name": "m_daily", "version": "v1", "kind": "sb3", "market": "btc1h",
              "feature_set": "daily", "window": 32, "daily_window": "4"}  # fmt: skip
    (reg / "m_daily" / "v1").mkdir(parents=True)
    (reg / "m_daily" / "v1" / "registry.json").write_text(json.dumps(record))
    (reg / "m_daily" / "LATEST.json").write_text('{"version": "v1"}')
    out["f_reg"] = str(reg)
    return out
