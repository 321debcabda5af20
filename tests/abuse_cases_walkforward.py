"""Hostile inputs of ``python -m evaluate.walkforward`` (issue 19: methods, seeds, rolling
windows, resumable run folders). Run by tests/test_cli_abuse.py: exit 2, one ``error:`` line
holding the fragment, no traceback, nothing written.

Placeholders from ``fixtures``: {wf_run} (a walk-forward run folder started with --folds 2),
{not_wf} (a folder whose config.yaml is not a walk-forward's).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from evaluate.walkforward.args import build_parser, config_from_args
from evaluate.walkforward.cli import identity

WF = ["--methods", "momentum", "--folds", "2"]
MOD = "evaluate.walkforward"

CASES: list[tuple[str, str, list[str], str]] = [
    (
        "wf no method",
        MOD,
        ["--folds", "2", "--out", "{new}"],
        "one of the arguments --methods --algo is required",
    ),
    ("wf unknown method", MOD, ["--methods", "banana", "--folds", "2"], "invalid choice: 'banana'"),
    (
        "wf method twice",
        MOD,
        ["--methods", "momentum", "momentum", "--folds", "2", "--out", "{new}"],
        "a value repeats",
    ),  # fmt: skip
    (
        "wf algo and methods",
        MOD,
        ["--algo", "ppo", "--methods", "trees", "--folds", "2"],
        "not allowed with argument",
    ),  # fmt: skip
    ("wf seed repeated", MOD, [*WF, "--seeds", "1", "1", "--out", "{new}"], "a value repeats"),
    (
        "wf seeds negative",
        MOD,
        [*WF, "--seeds", "0", "-3", "--out", "{new}"],
        "a seed must be an integer from 0 to",
    ),  # fmt: skip
    (
        "wf train-span banana",
        MOD,
        [*WF, "--train-span", "banana", "--out", "{new}"],
        "--train-span 'banana': not a duration",
    ),  # fmt: skip
    (
        "wf train-span too short",
        MOD,
        [*WF, "--train-span", "10d", "--out", "{new}"],
        "a rolling window of 240 bars cannot hold",
    ),  # fmt: skip
    (
        "wf out and run-dir",
        MOD,
        [*WF, "--out", "{new}", "--run-dir", "{new}"],
        "--out and --run-dir both given",
    ),  # fmt: skip
    (
        "wf run-dir other settings",
        MOD,
        ["--methods", "momentum", "--folds", "3", "--run-dir", "{wf_run}"],
        "was started with --folds 2, this command gives 3",
    ),  # fmt: skip
    (
        "wf run-dir not a walk-forward",
        MOD,
        [*WF, "--run-dir", "{not_wf}"],
        "not a walk-forward run folder",
    ),  # fmt: skip
    (
        "wf epochs with ppo only",
        MOD,
        ["--methods", "ppo", "--folds", "2", "--epochs", "2"],
        "--epochs is not read by --algo ppo",
    ),  # fmt: skip
    (
        "wf groups without cpcv",
        MOD,
        [*WF, "--groups", "6", "--out", "{new}"],
        "--groups is read by --cv cpcv only",
    ),  # fmt: skip
    (
        "wf cpcv with folds",
        MOD,
        ["--methods", "momentum", "--cv", "cpcv", "--folds", "3", "--out", "{new}"],
        "--folds is not read by --cv cpcv",
    ),  # fmt: skip
    (
        "wf cpcv one group",
        MOD,
        ["--methods", "momentum", "--cv", "cpcv", "--groups", "1", "--out", "{new}"],
        "CPCV needs at least 2 groups",
    ),  # fmt: skip
    (
        "wf cpcv test groups too many",
        MOD,
        [
            "--methods",
            "momentum",
            "--cv",
            "cpcv",
            "--groups",
            "4",
            "--test-groups",
            "4",
            "--out",
            "{new}",
        ],
        "must be at least 1 and below --groups 4",
    ),  # fmt: skip
]


def fixtures(tmp: Path) -> dict[str, str]:
    """A started walk-forward run folder and a folder that is not one."""
    run = tmp / "wf_run"
    run.mkdir()
    started = config_from_args(build_parser().parse_args([*WF, "--run-dir", str(run)]))
    (run / "config.yaml").write_text(yaml.safe_dump({"identity": identity(started)}))
    other = tmp / "not_wf"
    other.mkdir()
    (other / "config.yaml").write_text(yaml.safe_dump({"algo": "ppo"}))
    return {"wf_run": str(run), "not_wf": str(other)}
