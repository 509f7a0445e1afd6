"""A609: a flow that calls itself through sub-flows (the runtime stops at depth 8)."""

from __future__ import annotations

import networkx as nx

from ccc_dsl.compiler.ir import FlowIR
from ccc_dsl.compiler.program import Program
from ccc_dsl.diagnostics import Diagnostic, error


def recursion(ir: FlowIR, program: Program) -> list[Diagnostic]:
    """Reported at each `call flow` of this flow that closes a cycle of calls."""
    calls = program.call_graph
    out: list[Diagnostic] = []
    for callee, span in ir.calls:
        if callee not in calls or not nx.has_path(calls, callee, ir.name):
            continue
        path = nx.shortest_path(calls, callee, ir.name)
        cycle = " -> ".join([ir.name, *path])
        out.append(error("A609", f"sub-flow recursion: {cycle}", span,
                         "a flow may not call itself, directly or through other flows"))
    return out
