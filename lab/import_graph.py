"""The file-level import graph of our modules: cycles, and imports hidden inside functions.

Checked by ``tests/test_layers.py`` beside the package layer order (``lab.layers``):

* **no file-level cycle**, within a package too: a module that imports a module that imports it
  back is in the wrong place (move the shared part down). An edge is an import made at module
  level (``if TYPE_CHECKING:`` blocks included; imports inside functions and classes are not
  module level). ``from pkg import name`` is an edge to ``pkg`` and, when ``pkg.name`` is a
  module, to it as well; ``import pkg.sub`` is an edge to ``pkg.sub`` only.
* **no function-level import of our own modules**, so a file's dependencies are all in its
  header. The one exception is ``HEAVY``: our modules whose import pulls torch or
  stable_baselines3 (seconds), which a torch-free path (serving one decision with the numpy actor)
  imports inside the function that needs them, with a comment on the line saying why.

``python -m lab.import_graph [ROOT]`` prints both.
"""

from __future__ import annotations

import argparse
import ast
from collections.abc import Iterator
from pathlib import Path

from lab.layers import LAYERS

# our modules that import torch/SB3 on import (the policies package imports torch in __init__);
# only these may be imported inside a function, each such line with a comment
HEAVY: dict[str, str] = {
    "policies": "the policies package imports torch",
    "agents.acting.loading": "imports torch and stable_baselines3",
}
_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)


def modules(root: Path) -> dict[str, Path]:
    """``{dotted module name: file}`` of every module of our packages under ``root``."""
    out = {}
    for pkg in sorted(LAYERS):
        for f in sorted((root / pkg).rglob("*.py")) if (root / pkg).is_dir() else ():
            name = ".".join(f.relative_to(root).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = f
    return out


def _targets(node: ast.Import | ast.ImportFrom, name: str, is_pkg: bool, mods: dict) -> set[str]:
    """The modules of ours an import statement names (relative imports resolved)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:
            parts = name.split(".") if is_pkg else name.split(".")[:-1]
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join([*parts, base] if base else parts)
        names = [base, *(f"{base}.{a.name}" for a in node.names)]
    out = set()
    for n in names:
        while n and n not in mods:  # ``from m import function``: the module m
            n = n.rpartition(".")[0]
        if n and n.split(".")[0] in LAYERS:
            out.add(n)
    return out


def _module_level(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements outside every function and class body."""
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (*_FUNCS, ast.ClassDef)):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def edges(root: Path) -> dict[str, set[str]]:
    """``{module: modules it imports at file level}`` (itself excluded)."""
    mods = modules(root)
    out: dict[str, set[str]] = {}
    for name, f in mods.items():
        tree = ast.parse(f.read_text(encoding="utf-8"), filename=str(f))
        is_pkg = f.name == "__init__.py"
        targets: set[str] = set()
        for node in _module_level(tree):
            targets |= _targets(node, name, is_pkg, mods)
        out[name] = targets - {name}
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return sorted(found)


def function_imports(root: Path) -> list[str]:
    """``path:line: module`` for each import of our modules inside a function, except an import
    of a ``HEAVY`` module carrying a comment on its line."""
    mods = modules(root)
    out = []
    for name, f in mods.items():
        text = f.read_text(encoding="utf-8")
        lines = text.splitlines()
        tree = ast.parse(text, filename=str(f))
        for fn in (n for n in ast.walk(tree) if isinstance(n, _FUNCS)):
            for node in ast.walk(fn):
                if not isinstance(node, (ast.Import, ast.ImportFrom)):
                    continue
                for target in sorted(_targets(node, name, f.name == "__init__.py", mods)):
                    heavy = target in HEAVY or target.split(".")[0] in HEAVY
                    if heavy and "#" in lines[node.lineno - 1]:
                        continue
                    out.append(f"{f.relative_to(root)}:{node.lineno}: {target}")
    return sorted(set(out))


def main(argv: list[str] | None = None) -> int:
    """Print the file-level cycles and the function-level imports of our modules."""
    parser = argparse.ArgumentParser(
        prog="python -m lab.import_graph", description=(__doc__ or "").strip().splitlines()[0]
    )
    parser.add_argument(
        "root", nargs="?", type=Path, default=Path(__file__).resolve().parent.parent,
        help="the repository root to scan (default: this checkout)",
    )  # fmt: skip
    root = parser.parse_args(argv).root
    found = cycles(edges(root))
    hidden = function_imports(root)
    for comp in found:
        print("cycle: " + " <-> ".join(comp))
    for line in hidden:
        print("function-level import: " + line)
    print(f"{len(found)} cycles, {len(hidden)} function-level imports of our modules")
    return 1 if found or hidden else 0


if __name__ == "__main__":
    raise SystemExit(main())
