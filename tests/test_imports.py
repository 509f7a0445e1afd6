"""The house's import rules: no import cycles among our modules, and the runtime imports
nothing of ccc_dsl (a runtime host installs ccc-runtime alone)."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

TOP = Path(__file__).resolve().parents[1]
ROOTS = {"ccc_dsl": TOP / "ccc_dsl", "ccc_runtime": TOP / "runtime" / "ccc_runtime"}


def _module_name(path: Path, package: str, root: Path) -> str:
    parts = [package, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> nx.DiGraph:
    """Module -> the modules of ours it imports (anywhere in the file, lazy imports too)."""
    graph = nx.DiGraph()
    modules: dict[str, Path] = {}
    for package, root in ROOTS.items():
        for path in root.rglob("*.py"):
            modules[_module_name(path, package, root)] = path
    for name, path in modules.items():
        graph.add_node(name)
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".")
                    anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    graph.add_edge(name, target)
    return graph


def test_no_import_cycles() -> None:
    cycles = sorted(sorted(c) for c in nx.simple_cycles(import_graph()))
    assert cycles == []


def test_the_runtime_imports_nothing_of_ccc_dsl() -> None:
    graph = import_graph()
    bad = sorted((a, b) for a, b in graph.edges if a.startswith("ccc_runtime")
                 and b.startswith("ccc_dsl"))
    assert bad == []
    assert any(a.startswith("ccc_dsl") and b.startswith("ccc_runtime") for a, b in graph.edges)
