"""A609: a flow that calls itself through sub-flows, or nests them deeper than the runtime
allows (it faults on a `call flow` with MAX_SUBFLOW_DEPTH sub-flows already running)."""

from __future__ import annotations

from ccc_dsl.codes import diagnostic
from ccc_dsl.compiler.ir import FlowIR
from ccc_dsl.compiler.program import Program
from ccc_dsl.diagnostics import Diagnostic

MAX_SUBFLOW_DEPTH = 8
"""The runtime's default `limits.max_depth` (the compiler's bundles keep the default)."""


def recursion(ir: FlowIR, program: Program) -> list[Diagnostic]:
    """Reported at each `call flow` of this flow that closes a cycle of calls."""
    out: list[Diagnostic] = []
    for callee, span in ir.calls:
        if callee != ir.name and ir.name not in program.reach(callee):
            continue  # no path back (nx.has_path); networkx only words a cycle
        import networkx as nx  # only to word a cycle

        path = nx.shortest_path(program.call_graph, callee, ir.name)
        cycle = " -> ".join([ir.name, *path])
        out.append(diagnostic("A609", f"sub-flow recursion: {cycle}", span,
                              "a flow may not call itself, directly or through other flows"))
    if out or program.callers.get(ir.name):
        return out  # depth is checked from the flows that start calls (no one calls them)
    for callee, span in ir.calls:
        depth = 1 + program.call_depth.get(callee, 0)
        if depth > MAX_SUBFLOW_DEPTH:
            out.append(diagnostic("A609", f"sub-flows nest {depth} deep from here; the runtime "
                                  f"stops at {MAX_SUBFLOW_DEPTH}", span,
                                  "call fewer levels: let a sub-flow end the call, or merge two"))
    return out
