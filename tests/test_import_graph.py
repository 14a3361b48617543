"""Floors (DESIGN §8): no two modules of convzoo import each other, directly or round a circle.

The graph is read from the source (AST), not by importing. Two graphs: the imports that run when a module is
imported (module level), and those plus the lazy ones inside functions, which must not lead back either (a
room imports only rooms below it, sooner or later). Imports under ``if TYPE_CHECKING:`` never run and are left
out of both. ``from P import N`` is an edge to the submodule ``P.N`` where that is a module, else to ``P``
(its ``__init__``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import convzoo

ROOT = Path(convzoo.__file__).parent


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """Import statements that run when the module is imported: at top level, or in a top-level try/if/with."""
    found: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                found += _module_level(node.body)
            found += _module_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                found += _module_level(block)
        elif isinstance(node, ast.With):
            found += _module_level(node.body)
    return found


def _anywhere(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, in functions and classes too, except under ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))
    return found


def import_graph(lazy: bool = False) -> dict[str, set[str]]:
    """Module → the convzoo modules it imports (``lazy``: counting imports inside functions)."""
    collect = _anywhere if lazy else _module_level
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in collect(ast.parse(path.read_text(encoding="utf-8")).body):
            if isinstance(node, ast.Import):
                edges |= {a.name for a in node.names if a.name in mods}
                continue
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in mods:
                    edges.add(sub)
                elif base in mods:
                    edges.add(base)
        edges.discard(name)
        graph[name] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan), as a path round it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:  # recursion depth is bounded by the number of modules (~150)
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
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    cycles = []
    for comp in components:  # a shortest path back to the start, for the message
        members, start = set(comp), comp[0]
        paths = {start: [start]}
        frontier = [start]
        cycle = comp
        while frontier:
            nxt = []
            for v in frontier:
                for w in sorted(graph[v] & members):
                    if w == start:
                        cycle = [*paths[v], start]
                        nxt = []
                        break
                    if w not in paths:
                        paths[w] = [*paths[v], w]
                        nxt.append(w)
                else:
                    continue
                break
            frontier = nxt
        cycles.append(cycle)
    return cycles


def test_graph_sees_the_imports() -> None:
    g = import_graph()
    assert "convzoo.registry" in g and "convzoo.models.resnet" in g
    assert "convzoo.registry" in g["convzoo.models.resnet"]


def test_finder_finds_a_cycle() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles (module level):\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_import_cycles_counting_lazy_imports() -> None:
    cycles = find_cycles(import_graph(lazy=True))
    assert not cycles, "import cycles (counting imports inside functions):\n" + "\n".join(
        " -> ".join(c) for c in cycles
    )


def test_lazy_graph_sees_function_imports() -> None:
    assert "convzoo.models" in import_graph(lazy=True)["convzoo.registry"]
    assert "convzoo.models" not in import_graph()["convzoo.registry"]


def test_registry_does_not_import_hub() -> None:
    """The registry is the ground floor: not even a lazy import of convzoo.hub."""
    tree = ast.parse((ROOT / "registry.py").read_text(encoding="utf-8"))
    named = {
        n.module if isinstance(n, ast.ImportFrom) else a.name
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in n.names
    }
    assert not {m for m in named if m and m.startswith("convzoo.hub")}, named
