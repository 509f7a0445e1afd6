"""Optimization: drop the nodes no call can reach (reported as A601 before)."""

from __future__ import annotations

from ccc_dsl.compiler.ir import FlowIR


def drop_unreachable(ir: FlowIR) -> FlowIR:
    reachable = ir.reachable()
    if len(reachable) == len(ir):
        return ir
    nodes = {n: node for n, node in ir.nodes.items() if n in reachable}  # unchanged: shared
    return ir.replaced(nodes, {n: ir.edges[n] for n in nodes})  # every target is kept
