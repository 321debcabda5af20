"""The package layer order (docs/ARCHITECTURE.md, ``lab.layers``): no import points upward; no
file-level import cycle and no function-level import of our modules (``lab.import_graph``)."""

from __future__ import annotations

from pathlib import Path

from lab.import_graph import HEAVY, cycles, edges, function_imports
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
            "backtest/bad.py": "import os\n\n\ndef f():\n    from agents.acting.loading import load_run\n",
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


def test_no_file_level_import_cycle() -> None:
    found = cycles(edges(ROOT))
    assert found == [], "file-level import cycles (move the shared part down):\n" + "\n".join(
        " <-> ".join(c) for c in found
    )


def test_no_function_level_import_of_our_modules() -> None:
    hidden = function_imports(ROOT)
    assert hidden == [], (
        "imports of our modules inside functions (put them in the file header; only the torch "
        f"gateways {sorted(HEAVY)} may stay, with a comment):\n" + "\n".join(hidden)
    )


def test_cycle_checker_flags_cycles_within_a_package(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "envs/__init__.py": "from envs.a import x\n",
            "envs/a.py": "from envs import b\nx = 1\n",
            "envs/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from envs.a import x\n",
            "envs/c.py": "import envs.d\n",
            "envs/d.py": "def f():\n    import envs.c\n",
            "lab/__init__.py": "",
        },
    )
    graph = edges(root)
    assert graph["envs.a"] == {"envs", "envs.b"} and graph["envs.d"] == set()
    # a -> b -> a (TYPE_CHECKING counts), envs -> a -> envs; c -> d only (d's import is in f)
    assert cycles(graph) == [["envs", "envs.a", "envs.b"]]


def test_function_import_checker_allows_only_commented_heavy_modules(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "agents/__init__.py": "",
            "agents/x.py": (
                "def f():\n"
                "    import numpy\n"
                "    from agents.acting.loading import load_run  # torch: off the numpy path\n"
                "    from agents.acting.loading import load_run\n"
                "    from . import y\n"
                "    from policies.transformer import T  # torch\n"
                "    from envs.presets import get_preset  # a comment is not enough\n"
            ),
            "agents/y.py": "",
            "agents/acting/loading.py": "",
            "envs/__init__.py": "",
            "envs/presets.py": "",
            "policies/__init__.py": "",
            "policies/transformer.py": "",
        },
    )
    assert function_imports(root) == [
        "agents/x.py:4: agents.acting.loading",
        "agents/x.py:5: agents",
        "agents/x.py:5: agents.y",
        "agents/x.py:7: envs.presets",
    ]
