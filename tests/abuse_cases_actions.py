"""Hostile values of the action rules and the decision interval on the training CLI (issue 20):
a time that is not a whole number of bars, a duration without a unit, out-of-range bands,
holds and volatility targets. Each case: (id, module, argv, fragment), run by
tests/test_cli_abuse.py (exit 2, one ``error:`` line containing ``fragment``, no traceback,
nothing written)."""

from __future__ import annotations

PPO = ["--env", "btc1h", "--timesteps", "64", "--run-dir", "{new}"]

CASES: list[tuple[str, str, list[str], str]] = [
    (
        "ppo decision interval not whole bars",
        "agents.ppo",
        [*PPO, "--decision-interval", "90m"],
        "decision_interval='90m' is not a whole number of 1h bars (1.5)",
    ),
    (
        "ppo decision interval without a unit",
        "agents.ppo",
        [*PPO, "--decision-interval", "1 day"],
        "decision_interval='1 day' is not valid: expected an int >= 1 (bars) or a duration",
    ),
    (
        "ppo min hold half a bar",
        "agents.ppo",
        [*PPO, "--min-hold", "30m"],
        "min_hold='30m' is not a whole number of 1h bars (0.5)",
    ),
    (
        "ppo negative no-trade band",
        "agents.ppo",
        [*PPO, "--no-trade-band", "-0.2"],
        "no_trade_band=-0.2 is not valid: expected [0, 2]",
    ),
    (
        "ppo zero vol target",
        "agents.ppo",
        [*PPO, "--vol-target", "0"],
        "vol_target=0.0 is not valid: expected (0, 10] or null",
    ),
    (
        "ppo vol window of one bar",
        "agents.ppo",
        [*PPO, "--vol-target", "0.5", "--vol-window", "1h"],
        "vol_window='1h' is 1 bar of 1h",
    ),
]
