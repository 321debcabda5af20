"""The package layer order (docs/ARCHITECTURE.md, ``lab.layers``): no import points upward."""

from __future__ import annotations

from pathlib import Path

from lab.layers import LAYERS, graph, imports_of, violations

ROOT = Path(__file__).resolve().parent.parent


def test_no_package_imports_upward() -> None:
    bad = violations(ROOT)
    assert bad == [], "imports pointing up the layer order:\n" + "\n".join(bad)


def test_every_package_has_a_layer() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert packages <= set(LAYERS), f"packages without a layer: {packages - set(LAYERS)}"


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        f = tmp_path / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    return tmp_path


def test_checker_flags_an_injected_upward_import(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "lab/__init__.py": "",
            "backtest/__init__.py": "",
            "backtest/ok.py": "import numpy\nfrom envs import make_env\nfrom lab import rundir\n",
            "backtest/bad.py": "import os\n\n\ndef f():\n    from agents.loading import load_run\n",
            "supervised/__init__.py": "import importlib\nimportlib.import_module('evaluate.cli')\n",
            "policies/__init__.py": "import envs.market\n",
            "evaluate/__init__.py": "from agents import ppo\nimport backtest.runner\n",
        },
    )
    assert violations(root) == [
        "backtest/bad.py:5: backtest (layer 2) imports agents (layer 4); "
        "a module may import only its own layer or lower",
        "policies/__init__.py:1: policies (layer 1) imports envs (layer 1); "
        "a module may import only its own layer or lower",
        "supervised/__init__.py:2: supervised (layer 3) imports evaluate (layer 5); "
        "a module may import only its own layer or lower",
    ]
    assert graph(root) == {
        ("backtest", "envs"): 1,
        ("backtest", "lab"): 1,
        ("backtest", "agents"): 1,
        ("supervised", "evaluate"): 1,
        ("policies", "envs"): 1,
        ("evaluate", "agents"): 1,
        ("evaluate", "backtest"): 1,
    }


def test_relative_and_foreign_imports_are_not_ours(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"lab/x.py": "from . import y\nimport numpy\nimport labx\n"})
    assert imports_of(root / "lab/x.py", root) == []
