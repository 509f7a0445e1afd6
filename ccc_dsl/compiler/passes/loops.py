"""A603-A605: loops a call can go round forever without the caller choosing anything.

Edges are of three kinds (see ir.py): `choice` (the caller pressed a key or entered digits),
`counted` (a no-input or wrong key, bounded by the input's retry counter) and `auto`. A cycle
made of `auto` edges alone repeats without any bound:
- A605 when it goes through an input's `exhausted` exit: the counters reset, so the input
  never gives up (an input without a retry limit);
- A603 when nothing in it waits for the caller at all (it spins: prompts, gotos, lookups);
- A604 otherwise: it waits (a queue times out, a transfer fails) and tries again, forever.
A sub-flow call counts as caller input when the sub-flow asks the caller something."""

from __future__ import annotations

import networkx as nx
from ccc_runtime.bytecode import Op

from ccc_dsl.compiler.ir import INPUT_OPS, WAIT_OPS, FlowIR
from ccc_dsl.compiler.program import Program
from ccc_dsl.diagnostics import Diagnostic, error


def loops(ir: FlowIR, program: Program) -> list[Diagnostic]:
    g = ir.graph
    reachable = ir.reachable()
    auto = nx.DiGraph()
    exhausted_edges: set[tuple[int, int]] = set()
    for u, edges in ir.successors().items():
        if u not in reachable:
            continue
        if g.nodes[u]["op"] is Op.CALL_FLOW and program.asks_caller(g.nodes[u]["operands"][0]):
            continue
        for v, label, attrs in edges:
            if attrs["kind"] == "auto":
                auto.add_edge(u, v)
                if label == "exhausted":
                    exhausted_edges.add((u, v))
    out: list[Diagnostic] = []
    for component in nx.strongly_connected_components(auto):
        if len(component) == 1:
            (only,) = component
            if not auto.has_edge(only, only):
                continue
        nodes = sorted(component, key=lambda n: (g.nodes[n]["span"], n))
        first = g.nodes[nodes[0]]
        exhausted = [u for u in nodes if g.nodes[u]["op"] in INPUT_OPS
                     and any((u, v) in exhausted_edges for v in component)]
        if exhausted:
            attrs = g.nodes[exhausted[0]]
            out.append(error("A605", f"this `{attrs['what']}` has no retry limit: its "
                             "`exhausted` exit leads back to it", attrs["span"],
                             "let `exhausted` end the call, e.g. `exhausted -> play \"bye\" "
                             "then hangup`"))
        elif not any(g.nodes[n]["op"] in WAIT_OPS for n in component):
            out.append(error("A603", f"this `{first['what']}` starts a loop that repeats "
                             "without caller input", first["span"],
                             "break the loop with a menu, a retry limit or a hang-up"))
        else:
            out.append(error("A604", f"this `{first['what']}` starts a loop that can repeat "
                             "forever without the caller choosing", first["span"],
                             "after a failed transfer, end the call (e.g. voicemail) instead "
                             "of trying again"))
    return out
