"""CI must run exactly what the README tells a user to run, in a fresh virtual environment."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _ci_commands() -> list[str]:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    commands = []
    for i, line in enumerate(lines):
        if line.startswith("# README command"):
            commands.append(lines[i + 1].strip())
    return commands


def test_ci_runs_the_two_readme_commands_verbatim() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = _ci_commands()
    assert len(commands) == 2, f".ci/run should hold two README commands, found {commands}"
    for command in commands:
        assert command, "a '# README command' marker is not followed by a command"
        assert command in readme, f"README.md does not contain the CI command:\n{command}"


def test_ci_builds_a_fresh_venv_before_installing() -> None:
    text = (ROOT / ".ci" / "run").read_text()
    assert "rm -rf .venv" in text
    install = _ci_commands()[0]
    assert install.startswith("python3 -m venv .venv")
    assert "pip install torch==2.13.0" in install.split("&&")[1], "torch must be installed first"
