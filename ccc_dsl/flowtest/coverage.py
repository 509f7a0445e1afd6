"""Coverage of flows by flow tests: which nodes ran and which exits were taken.

The universe of a flow is what a call can reach from its entry through connected exits. The
error handler the compiler adds to every flow is left out of the percentages: it runs only on
a fault, and a correct flow may have no way to fault; how often tests ran it is reported
separately (`handler_runs`). Nor does the universe hold what follows a `call flow` into a
sub-flow that can never return (one that always ends the call): no call can get there.

A branch that no test can reach (a defensive exit) is marked in the DSL with a comment
`// ccc: no cover` on its line (like coverage.py's pragma): nodes on that line, what only they
lead to, and the exits into them are left out and counted as `excluded`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ccc_runtime.bytecode import FlowImage, Op

PRAGMA = re.compile(r"//.*\bccc:\s*no\s+cover\b")


@dataclass(frozen=True, slots=True)
class Uncovered:
    """A node never run, or an exit never taken (`exit` is None for a node)."""

    node: int
    op: str
    loc: str  # file:line:col in the DSL
    exit: str | None = None

    def describe(self) -> str:
        what = f"@{self.node} {self.op}"
        return f"{self.loc}: {what}" + (f" exit `{self.exit}`" if self.exit else " never run")


@dataclass(slots=True)
class FlowCoverage:
    flow: str
    source: str
    nodes_total: int
    nodes_hit: int
    edges_total: int
    edges_hit: int
    handler_runs: int
    uncovered: list[Uncovered] = field(default_factory=list)
    excluded: int = 0

    @property
    def node_percent(self) -> float:
        return 100.0 if self.nodes_total == 0 else 100.0 * self.nodes_hit / self.nodes_total

    @property
    def edge_percent(self) -> float:
        return 100.0 if self.edges_total == 0 else 100.0 * self.edges_hit / self.edges_total

    def as_json(self) -> dict[str, object]:
        return {"flow": self.flow, "source": self.source,
                "nodes": {"total": self.nodes_total, "covered": self.nodes_hit,
                          "percent": round(self.node_percent, 2)},
                "edges": {"total": self.edges_total, "covered": self.edges_hit,
                          "percent": round(self.edge_percent, 2)},
                "error_handler_runs": self.handler_runs,
                "excluded_nodes": self.excluded,
                "uncovered": [{"node": u.node, "op": u.op, "loc": u.loc, "exit": u.exit}
                              for u in self.uncovered]}


def universe(image: FlowImage, returns: Mapping[str, bool] | None = None,
             excluded: frozenset[int] = frozenset(),
             ) -> tuple[set[int], set[tuple[int, int]]]:
    """Nodes reachable from the entry, and their connected exits (node, exit number).
    `returns` says which flows can return to their caller (missing: assume they can);
    `excluded` nodes (marked `no cover`) are not entered."""
    nodes: set[int] = set()
    edges: set[tuple[int, int]] = set()
    todo = [image.entry]
    while todo:
        index = todo.pop()
        if index in nodes or index in excluded:
            continue
        nodes.add(index)
        node = image.nodes[index]
        if node.op is Op.CALL_FLOW and returns is not None and \
                not returns.get(str(node.operands[0]), True):
            continue
        for number, target in enumerate(node.exits):
            if target is not None and target not in excluded:
                edges.add((index, number))
                todo.append(target)
    return nodes, edges


def pragma_nodes(image: FlowImage, root: Path | None) -> frozenset[int]:
    """Nodes whose DSL line carries `// ccc: no cover` (source files read below `root`)."""
    if root is None:
        return frozenset()
    lines: dict[str, list[str]] = {}
    out = set()
    for node in image.nodes:
        file = node.loc.file
        if not file:
            continue
        if file not in lines:
            try:
                lines[file] = (root / file).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                lines[file] = []
        text = lines[file]
        if 0 < node.loc.line <= len(text) and PRAGMA.search(text[node.loc.line - 1]):
            out.add(node.index)
    return frozenset(out)


def returning_flows(flows: Mapping[str, FlowImage]) -> dict[str, bool]:
    """Which flows can reach a RETURN from their entry (a fixpoint: a RETURN behind a call to
    a flow that never returns does not count)."""
    returns = dict.fromkeys(flows, False)
    changed = True
    while changed:
        changed = False
        for name, image in flows.items():
            if returns[name]:
                continue
            nodes, _ = universe(image, returns)
            if any(image.nodes[n].op is Op.RETURN for n in nodes):
                returns[name] = changed = True
    return returns


class Trace(Protocol):
    """What coverage needs of a call (a `CallResult`, or one recorded by `ccc test --changed`):
    the nodes it ran and the exits it took."""

    @property
    def visited(self) -> set[tuple[str, int]]: ...

    @property
    def edges(self) -> set[tuple[str, int, int]]: ...


def measure(flows: Mapping[str, FlowImage], results: Iterable[Trace],
            root: Path | None = None) -> list[FlowCoverage]:
    """Coverage per flow (sorted by name) over everything the given calls did; `root` is the
    config repo (for `no cover` pragmas in the DSL sources)."""
    visited: set[tuple[str, int]] = set()
    taken: set[tuple[str, int, int]] = set()
    handler_runs: dict[str, int] = {}
    for result in results:
        visited |= result.visited
        taken |= result.edges
        for name, image in flows.items():
            if image.error_node is not None and (name, image.error_node) in result.visited:
                handler_runs[name] = handler_runs.get(name, 0) + 1
    returns = returning_flows(flows)
    out = []
    for name in sorted(flows):
        image = flows[name]
        skip = pragma_nodes(image, root)
        nodes, edges = universe(image, returns, skip)
        reachable, _ = universe(image, returns)
        hit_nodes = {n for n in nodes if (name, n) in visited}
        hit_edges = {e for e in edges if (name, *e) in taken}
        missing = [Uncovered(n, image.nodes[n].op.name, str(image.nodes[n].loc))
                   for n in sorted(nodes - hit_nodes)]
        missing += [Uncovered(n, image.nodes[n].op.name, str(image.nodes[n].loc),
                              image.nodes[n].exit_name(x))
                    for n, x in sorted(edges - hit_edges) if n in hit_nodes]
        missing.sort(key=lambda u: (u.node, u.exit or ""))
        source = image.nodes[image.entry].loc.file if image.nodes else ""
        out.append(FlowCoverage(name, source, len(nodes), len(hit_nodes), len(edges),
                                len(hit_edges), handler_runs.get(name, 0), missing,
                                len(reachable - nodes)))
    return out
