"""A603-A605: loops a call can go round forever without the caller choosing anything.

Edges are of three kinds (see ir.py): `choice` (the caller pressed a key or entered digits),
`counted` (a no-input or wrong key, bounded by the input's retry counter) and `auto`. A cycle
made of `auto` edges alone repeats without any bound:
- A605 when it goes through an input's `exhausted` exit: the counters reset, so the input
  never gives up (an input without a retry limit). A menu meant to repeat until the caller acts
  says so with `retries forever`: its repeats are `counted` edges, so it is no loop here, and
  the time-to-agent figures say where it is (timing.py, `Timing.repeats`);
- A603 when nothing in it waits for the caller at all (it spins: prompts, gotos, lookups);
- A604 otherwise: it waits (a queue times out, a transfer fails) and tries again, forever.
A sub-flow call counts as caller input when the sub-flow asks the caller something."""

from __future__ import annotations

from collections.abc import Iterator

from ccc_runtime.bytecode import Op

from ccc_dsl.codes import diagnostic
from ccc_dsl.compiler.ir import INPUT_OPS, WAIT_OPS, FlowIR
from ccc_dsl.compiler.program import Program
from ccc_dsl.diagnostics import Diagnostic


def _components(adj: dict[int, dict[int, None]]) -> Iterator[set[int]]:
    """Strongly connected components, in the order networkx's
    `strongly_connected_components` yields them (the same algorithm, Nuutila's variant of
    Tarjan's, on plain dicts: IR graphs are tiny, and building an nx.DiGraph per flow cost
    more than the search)."""
    preorder: dict[int, int] = {}
    lowlink: dict[int, int] = {}
    found: set[int] = set()
    stack: list[int] = []
    count = 0
    neighbors = {v: iter(targets) for v, targets in adj.items()}
    for source in adj:
        if source in found:
            continue
        queue = [source]
        while queue:
            v = queue[-1]
            if v not in preorder:
                count += 1
                preorder[v] = count
            done = True
            for w in neighbors[v]:
                if w not in preorder:
                    queue.append(w)
                    done = False
                    break
            if not done:
                continue
            low = preorder[v]
            for w in adj[v]:
                if w not in found:
                    low = min(low, lowlink[w] if preorder[w] > preorder[v] else preorder[w])
            lowlink[v] = low
            queue.pop()
            if low == preorder[v]:
                component = {v}
                while stack and preorder[stack[-1]] > preorder[v]:
                    component.add(stack.pop())
                found.update(component)
                yield component
            else:
                stack.append(v)


def _acyclic(edges: dict[int, list[tuple[int, str]]]) -> bool:
    """Whether the graph (node -> its edges as (target, exit)) has no cycle, by Kahn's
    peeling: the common case, settled at a fraction of the cost of the components."""
    in_degree: dict[int, int] = {}
    for targets in edges.values():
        for v, _ in targets:
            in_degree[v] = in_degree.get(v, 0) + 1
    todo = [u for u in edges if u not in in_degree]
    left = len(in_degree)  # nodes with an edge in: each must be peeled
    while todo:
        for v, _ in edges.get(todo.pop(), ()):
            in_degree[v] -= 1
            if not in_degree[v]:
                left -= 1
                todo.append(v)
    return not left


def loops(ir: FlowIR, program: Program) -> list[Diagnostic]:
    nodes = ir.nodes
    reachable = ir.reachable()
    auto_edges: dict[int, list[tuple[int, str]]] = {}  # u -> (target, exit) of auto edges
    for u, edges in ir.successors().items():
        if u not in reachable:
            continue
        if nodes[u].op is Op.CALL_FLOW and program.asks_caller(str(nodes[u].operand("flow"))):
            continue
        targets = [(e.target, e.exit) for e in edges if e.kind == "auto"]
        if targets:
            auto_edges[u] = targets
    out: list[Diagnostic] = []
    if _acyclic(auto_edges):
        return out
    auto: dict[int, dict[int, None]] = {}  # the auto edges as an nx.DiGraph would hold them
    exhausted_edges: set[tuple[int, int]] = set()
    for u, targets in auto_edges.items():
        for v, label in targets:
            auto.setdefault(u, {})[v] = None
            auto.setdefault(v, {})
            if label == "exhausted":
                exhausted_edges.add((u, v))
    for component in _components(auto):
        if len(component) == 1:
            (only,) = component
            if only not in auto[only]:
                continue
        members = sorted(component, key=lambda n: (nodes[n].span, n))
        first = nodes[members[0]]
        exhausted = [u for u in members if nodes[u].op in INPUT_OPS
                     and any((u, v) in exhausted_edges for v in component)]
        if exhausted:
            attrs = nodes[exhausted[0]]
            hint = ("let `exhausted` end the call, e.g. `exhausted -> play \"bye\" then "
                    "hangup`")
            if attrs.op is Op.MENU:
                hint += ", or write `retries forever` for a menu that repeats until the caller acts"
            out.append(diagnostic("A605", f"this `{attrs.what}` has no retry limit: its "
                                  "`exhausted` exit leads back to it", attrs.span, hint))
        elif not any(nodes[n].op in WAIT_OPS for n in component):
            out.append(diagnostic("A603", f"this `{first.what}` starts a loop that repeats "
                                  "without caller input", first.span,
                                  "break the loop with a menu, a retry limit or a hang-up"))
        else:
            out.append(diagnostic("A604", f"this `{first.what}` starts a loop that can repeat "
                                  "forever without the caller choosing", first.span,
                                  "after a failed transfer, end the call (e.g. voicemail) instead "
                                  "of trying again"))
    return out
