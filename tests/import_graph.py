"""The import graph of a package, read from its source, and the rules mixedkit's layout keeps.

Every ``import`` and ``from ... import`` counts, at module top or inside a function (an
import inside a function is still a dependency; it only runs later), except those under
``if TYPE_CHECKING:`` (annotations only, never executed). ``from . import name`` counts as
an import of the submodule ``name`` when there is one, else of the package itself.

The layout (``../shared/DESIGN.md``, "Layout") in ranks; an import may point to a lower
rank or stay inside its own wing, nothing else:

0. foundations at the top of the package, used by every wing: ``errors``, ``arguments``,
   ``findings``, ``parallel`` (the executor runner: the bootstrap needs it as much as
   power does), ``_version``
1. ``model`` (formulas, data, design, engine, estimation, state) and ``datasets``
2. ``inference``
3. the fit object and its presentation: ``fitting``, ``results``, ``display``,
   ``compare``, ``checks``
4. ``plots`` and ``scale``
5. ``cli``, ``__main__``
6. the package's ``__init__`` (which imports lazily) and ``_moved`` (the old import paths
   of moved modules, answered for one release)
"""

from __future__ import annotations

import ast
from pathlib import Path

RANKS = {
    "_version": 0, "errors": 0, "arguments": 0, "findings": 0, "parallel": 0,
    "model": 1, "datasets": 1,
    "inference": 2,
    "fitting": 3, "results": 3, "repeated": 3, "display": 3, "compare": 3, "checks": 3,
    "report": 3,
    "plots": 4, "scale": 4,
    "cli": 5, "__main__": 5,
    "__init__": 6, "_moved": 6,
}
TOP = {name for name, rank in RANKS.items() if rank in (0, 3, 5, 6)}  # modules, not wings


def module_names(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file under the package ``root``."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Import nodes of a module, skipping ``if TYPE_CHECKING:`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports."""
    modules = module_names(root)
    package = root.name
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        base = name.split(".") if is_package else name.split(".")[:-1]
        targets = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found = [a.name for a in node.names]
            else:
                if node.level:
                    anchor = base[:len(base) - node.level + 1]
                    mod = ".".join(anchor + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                found = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod
                         for a in node.names]
            for target in found:
                while target and target not in modules:  # a.b.c -> a.b when c is a name
                    target = target.rpartition(".")[0]
                if target and target.split(".")[0] == package and target != name:
                    targets.add(target)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out = []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def wing(module: str) -> str:
    """``mixedkit.model.design`` -> ``model``; ``mixedkit.results`` -> ``results``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def rank(module: str) -> int:
    return RANKS.get(wing(module), 6)


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Imports that point to a higher rank, or sideways into another wing of the same rank
    (modules of the top-level groups may import each other: cycles are caught apart)."""
    bad = []
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            a, b = wing(source), wing(target)
            if rank(target) > rank(source):
                bad.append(f"{source} -> {target} (upward: rank {rank(source)} to {rank(target)})")
            elif rank(target) == rank(source) and a != b and not (a in TOP and b in TOP):
                bad.append(f"{source} -> {target} (sideways: {a} to {b})")
    return bad


def summary(root: Path) -> dict[str, object]:
    """Module count per wing, cycles and layer violations: the closing note's numbers."""
    graph = import_graph(root)
    per_wing: dict[str, int] = {}
    for module in graph:
        key = wing(module) if wing(module) not in TOP else "(top)"
        per_wing[key] = per_wing.get(key, 0) + 1
    return {"modules": len(graph), "per_wing": per_wing, "cycles": cycles(graph),
            "violations": layer_violations(graph)}


if __name__ == "__main__":  # python tests/import_graph.py [package dir]
    import sys

    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parents[1] / "mixedkit")
    result = summary(root)
    print(f"{result['modules']} modules; per wing {result['per_wing']}")
    print(f"cycles: {len(result['cycles'])}")
    for c in result["cycles"]:
        print("  ", " <-> ".join(c))
    print(f"layer violations: {len(result['violations'])}")
    for v in result["violations"]:
        print("  ", v)
