"""Hostile inputs of the serving pass (issues 23, 24): the registry's default root and --root
after the subcommand, a LATEST.json that points to a missing version, a tree run without its
model file, paper's clock flags.

Each case: (id, module, argv, fragment), run by tests/test_cli_abuse.py (exit 2, one ``error:``
line containing ``fragment``, no traceback, nothing written). Placeholders from ``fixtures``:
{sreg} (a registry root: m_gone's LATEST names v2 while only v1 is complete; m_void's LATEST
names v1 and there is no version), {s_tree} (a promotable tree run folder, model bytes fake),
{s_nomodel} (a tree run folder without model.skops), {s_state_time} / {s_state_action} /
{s_state_book} (paper --state folders of model m_ok with a damaged decisions log or book); the
shared ones ({new}, {file},
{candles}, {reg}) come from tests/abuse_cases.py and abuse_cases3.py.
"""

from __future__ import annotations

import json
from pathlib import Path

GONE = "LATEST.json: points to v2, which is missing (no v2/registry.json; complete versions: v1)"
PAPER = ["--model", "m_ok", "--root", "{reg}", "--candles", "{candles}", "--state", "{new}"]

CASES: list[tuple[str, str, list[str], str]] = [
    ("registry list dangling LATEST", "agents.registry", ["--root", "{sreg}", "list"], GONE),
    (
        "registry show dangling LATEST, --root after",
        "agents.registry",
        ["show", "m_gone", "--root", "{sreg}"],
        GONE + "; point it at v1: python -m agents.registry rollback m_gone",
    ),  # fmt: skip
    (
        "registry promote over a dangling LATEST",
        "agents.registry",
        ["promote", "{s_tree}", "--name", "m_gone", "--root", "{sreg}"],
        GONE,
    ),  # fmt: skip
    (
        "registry rollback dangling LATEST, nothing older",
        "agents.registry",
        ["rollback", "m_void", "--root", "{sreg}"],
        "complete versions: none); no older version to roll back to: remove",
    ),  # fmt: skip
    (
        "registry promote trees run without model.skops",
        "agents.registry",
        ["promote", "{s_nomodel}", "--name", "m", "--root", "{new}"],
        "model.skops: missing, a tree run is tree.json + model.skops; promote the folder of a "
        "finished supervised.trees run",
    ),  # fmt: skip
    (
        "registry --root a file after the subcommand",
        "agents.registry",
        ["list", "--root", "{file}"],
        "is a file; give the registry folder",
    ),  # fmt: skip
    (
        "registry show without --root (default root)",
        "agents.registry",
        ["show", "zz_no_such_model"],
        "no model 'zz_no_such_model' under",
    ),  # fmt: skip
    (
        "predict dangling LATEST",
        "agents.predict",
        ["--model", "m_gone", "--root", "{sreg}", "--candles", "{candles}", "--replay"],
        GONE,
    ),  # fmt: skip
    (
        "paper dangling LATEST",
        "agents.paper",
        [
            "--model",
            "m_gone",
            "--root",
            "{sreg}",
            "--candles",
            "{candles}",
            "--state",
            "{new}",
            "--replay",
        ],  # fmt: skip
        GONE,
    ),  # fmt: skip
    (
        "retrain dangling LATEST",
        "agents.retrain",
        ["--model", "m_gone", "--root", "{sreg}", "--work-dir", "{new}"],
        GONE,
    ),  # fmt: skip
    (
        "paper --replay with --now",
        "agents.paper",
        [*PAPER, "--replay", "--now", "2024-01-01"],
        "--replay sets the clock to the last bar's close; drop --now or --replay",
    ),  # fmt: skip
    (
        "paper state decision time garbage",
        "agents.paper",
        [*PAPER[:-1], "{s_state_time}"],
        "state.json: damaged paper state (decision 0: bar_open_utc 'x' is not a time)",
    ),  # fmt: skip
    (
        "paper state decision action 7",
        "agents.paper",
        [*PAPER[:-1], "{s_state_action}"],
        "damaged paper state (decision 0 is not {bar_open_utc, action 0/1/2})",
    ),  # fmt: skip
    (
        "paper state book a list",
        "agents.paper",
        [*PAPER[:-1], "{s_state_book}"],
        "damaged paper state (the book is not {bar_utc, cash,",
    ),  # fmt: skip
    (
        "paper tail-bars -1",
        "agents.paper",
        [*PAPER, "--tail-bars", "-1"],
        "--tail-bars -1 (from the command line) must be >= 0 (0: the whole file)",
    ),  # fmt: skip
]


def _tree_run(d: Path, model: bool = True) -> str:
    """A tree run folder as ``supervised.trees`` writes it (the model bytes are not read)."""
    d.mkdir(parents=True)
    if model:
        (d / "model.skops").write_bytes(b"model bytes")
    info = {"format": "rltrade-trees-v1", "env": "btc1h", "feature_set": "core17", "window": 32}
    (d / "tree.json").write_text(json.dumps(info))
    (d / "normaliser.json").write_text("{}")
    (d / "meta.json").write_text(json.dumps({"data_sha256": {"btcusdt_1h.csv.gz": "ab" * 32}}))
    checks = {"val_classes": {"ok": True, "message": "ok", "pred_shares": [0.3, 0.4, 0.3]}}
    (d / "metrics.json").write_text(json.dumps({"checks": checks, "val_backtest": {"sharpe": 1}}))
    return str(d)


def fixtures(tmp: Path) -> dict[str, str]:
    """Create this pass's placeholder paths under ``tmp``; returns placeholder -> path."""
    reg = tmp / "sreg"
    record = {"name": "m_gone", "version": "v1", "kind": "trees", "market": "btc1h",
              "feature_set": "core17", "window": 32}  # fmt: skip
    (reg / "m_gone" / "v1").mkdir(parents=True)
    (reg / "m_gone" / "v1" / "registry.json").write_text(json.dumps(record))
    (reg / "m_gone" / "LATEST.json").write_text('{"version": "v2"}')
    (reg / "m_void").mkdir()
    (reg / "m_void" / "LATEST.json").write_text('{"version": "v1"}')
    states = {
        "s_state_time": [{"bar_open_utc": "x", "action": 1, "missed": False}],
        "s_state_action": [{"bar_open_utc": "2024-01-01T00:00:00Z", "action": 7}],
        "s_state_book": [],
    }
    for key, decisions in states.items():
        state = {"model": "m_ok", "decisions": decisions}
        if key == "s_state_book":
            state["book"] = [1]
        (tmp / key).mkdir()
        (tmp / key / "state.json").write_text(json.dumps(state))
    return {
        **{key: str(tmp / key) for key in states},
        "sreg": str(reg),
        "s_tree": _tree_run(tmp / "s_tree"),
        "s_nomodel": _tree_run(tmp / "s_nomodel", model=False),
    }
