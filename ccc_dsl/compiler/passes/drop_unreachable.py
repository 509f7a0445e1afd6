"""Optimization: drop the nodes no call can reach (reported as A601 before)."""

from __future__ import annotations

from ccc_dsl.compiler.ir import FlowIR


def drop_unreachable(ir: FlowIR) -> FlowIR:
    reachable = ir.reachable()
    if len(reachable) == len(ir.graph):
        return ir
    keep = [n for n in ir.graph.nodes if n in reachable]
    return ir.with_graph(ir.graph.subgraph(keep).copy(), ir.entry)
