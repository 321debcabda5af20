"""The package layer order and the checker that enforces it (``tests/test_layers.py``).

Bottom to top; a module may import from its own layer or a lower one, never upward, not even
inside a function or through ``importlib.import_module("...")``:

0. ``lab``         run folders + provenance, atomic writes, config mechanism, CLI error wrapper
1. ``envs``, ``policies``   data, features, the env; the torch extractor (policies never imports envs)
2. ``backtest``    the one runner, metrics, statistics, trades, baseline policies (numpy + envs)
3. ``supervised``  the classifier, label schemes, its training and export to PPO
4. ``agents``      PPO/SAC entry points, loading every kind of run as a policy
5. ``evaluate``    the command line on top: head-to-head, report, ensembles, walk-forward

``python -m lab.layers [ROOT]`` prints the import graph between the packages (counts of import
statements per (importer, imported) pair) and any violation.
"""

from __future__ import annotations

import argparse
import ast
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

LAYERS: dict[str, int] = {
    "lab": 0,
    "envs": 1,
    "policies": 1,
    "backtest": 2,
    "supervised": 3,
    "agents": 4,
    "evaluate": 5,
}
# same-layer imports that are still forbidden (importer, imported)
FORBIDDEN_SIDEWAYS = frozenset({("policies", "envs"), ("envs", "policies")})


@dataclass(frozen=True)
class Import:
    """One import statement of one of our packages: where it is and what it names."""

    path: Path
    line: int
    importer: str  # top-level package of the importing module
    imported: str  # top-level package of the imported module


def _module_names(node: ast.AST) -> Iterator[str]:
    """Absolute module names an AST node imports (import, from-import, import_module literal)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        yield node.module
    elif isinstance(node, ast.Call) and node.args:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        arg = node.args[0]
        if name in ("import_module", "__import__") and isinstance(arg, ast.Constant):
            if isinstance(arg.value, str):
                yield arg.value


def imports_of(path: Path, root: Path, layers: Mapping[str, int] = LAYERS) -> list[Import]:
    """Every import of a package in ``layers`` made anywhere in the file (any nesting)."""
    importer = path.relative_to(root).parts[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = []
    for node in ast.walk(tree):
        for name in _module_names(node):
            top = name.split(".")[0]
            if top in layers:
                out.append(Import(path, node.lineno, importer, top))  # type: ignore[attr-defined]
    return out


def package_files(root: Path, layers: Mapping[str, int] = LAYERS) -> Iterator[Path]:
    """The ``.py`` files of every package in ``layers`` under ``root``."""
    for pkg in sorted(layers):
        if (root / pkg).is_dir():
            yield from sorted((root / pkg).rglob("*.py"))


def all_imports(root: Path, layers: Mapping[str, int] = LAYERS) -> list[Import]:
    """The imports of our packages made by every module of our packages."""
    return [imp for f in package_files(root, layers) for imp in imports_of(f, root, layers)]


def violations(root: Path, layers: Mapping[str, int] = LAYERS) -> list[str]:
    """One message per import that points up the layer order (or across a forbidden pair)."""
    out = []
    for imp in all_imports(root, layers):
        lo, hi = layers[imp.importer], layers[imp.imported]
        if hi > lo or (imp.importer, imp.imported) in FORBIDDEN_SIDEWAYS:
            out.append(
                f"{imp.path.relative_to(root)}:{imp.line}: {imp.importer} (layer {lo}) imports "
                f"{imp.imported} (layer {hi}); a module may import only its own layer or lower"
            )
    return out


def graph(root: Path, layers: Mapping[str, int] = LAYERS) -> Counter[tuple[str, str]]:
    """Count of import statements per (importer, imported) pair of distinct packages."""
    return Counter(
        (i.importer, i.imported) for i in all_imports(root, layers) if i.importer != i.imported
    )


def main(argv: list[str] | None = None) -> int:
    """Print the cross-package import graph and the violations of the layer order."""
    parser = argparse.ArgumentParser(
        prog="python -m lab.layers", description=(__doc__ or "").strip().splitlines()[0]
    )
    parser.add_argument(
        "root", nargs="?", type=Path, default=Path(__file__).resolve().parent.parent,
        help="the repository root to scan (default: this checkout)",
    )  # fmt: skip
    root = parser.parse_args(argv).root
    for (a, b), n in sorted(graph(root).items()):
        print(f"{a:>10} -> {b:<10} {n:3d}")
    bad = violations(root)
    print(f"{len(bad)} upward imports")
    for msg in bad:
        print(msg)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
