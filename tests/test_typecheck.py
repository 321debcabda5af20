"""mypy over every package (``lab`` .. ``evaluate``): the type checker is part of the suite.

Imports outside the checked packages are skipped (``--follow-imports=skip``), which keeps the
run to about half a minute.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("lab", "envs", "policies", "backtest", "supervised", "agents", "evaluate")


def test_mypy_passes_on_the_checked_packages(tmp_path: Path) -> None:
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            *PACKAGES,
            "--ignore-missing-imports",
            "--follow-imports=skip",
            "--cache-dir",
            str(tmp_path / "mypy_cache"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_mypy_flags_a_type_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f(x: int) -> str:\n    return x\n")
    res = subprocess.run(
        [sys.executable, "-m", "mypy", str(bad), "--cache-dir", str(tmp_path / "c")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 1 and "Incompatible return value" in res.stdout
