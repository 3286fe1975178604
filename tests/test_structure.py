"""The shape of sidecar/: packages reach each other only through their public `__init__`, every exported
name exists, modules do not import each other in a circle, and none grows past 500 lines."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "sidecar"
MAX_LINES = 500
KNOWN_LONG: set[str] = set()
KNOWN_CYCLES: set[frozenset[str]] = set()
# mirror/_store.py checks its conformance to sidecar.tools.Store under TYPE_CHECKING, which closes a
# circle mirror -> tools -> peers -> mirror for the type checker only; it goes with the typed store.
KNOWN_CYCLE_EDGES = {("sidecar.mirror._store", "sidecar.tools")}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def imports(path: Path) -> set[str]:
    """The sidecar modules `path` imports (a name imported from a package counts as the package)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("sidecar"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else str(node.module))
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in MODULES}
    return found & set(MODULES)


GRAPH = {name: imports(path) for name, path in MODULES.items()}


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_module_imports_another_packages_private_module() -> None:
    crossing = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if target.split(".")[-1].startswith("_")
        and target.count(".") >= 2
        and package_of(target) != package_of(module)
    ]
    assert crossing == []


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not m.endswith("__main__")))
def test_every_exported_name_exists(module: str) -> None:
    loaded = importlib.import_module(module)
    missing = [name for name in getattr(loaded, "__all__", ()) if not hasattr(loaded, name)]
    assert missing == []


def test_modules_do_not_import_each_other_in_a_circle() -> None:
    graph = {m: {t for t in targets if (m, t) not in KNOWN_CYCLE_EDGES} for m, targets in GRAPH.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(frozenset(component))

    for node in graph:
        if node not in index:
            visit(node)
    assert [sorted(c) for c in cycles if c not in KNOWN_CYCLES] == []


def test_no_module_grows_past_500_lines() -> None:
    long = {
        str(path.relative_to(ROOT))
        for path in MODULES.values()
        if len(path.read_text(encoding="utf-8").splitlines()) > MAX_LINES
    }
    assert long - KNOWN_LONG == set()
