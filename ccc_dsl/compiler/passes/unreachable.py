"""A601: statements and steps no call can reach (dropped by the optimizer, so a warning)."""

from __future__ import annotations

from ccc_dsl.codes import diagnostic
from ccc_dsl.compiler.ir import FlowIR
from ccc_dsl.compiler.program import Program
from ccc_dsl.diagnostics import Diagnostic


def unreachable(ir: FlowIR, program: Program) -> list[Diagnostic]:
    """One warning per unreachable region (its first node in source order), not per node."""
    nodes = ir.nodes
    reachable = ir.reachable()
    if len(reachable) == len(nodes):
        return []
    dead = set(nodes) - reachable
    out: list[Diagnostic] = []
    covered: set[int] = set()
    for node in sorted(dead, key=lambda n: (nodes[n].span, n)):
        if node in covered:
            continue
        covered |= ir.descendants(node, inclusive=True)
        attrs = nodes[node]
        if attrs.first:
            message, span = f"step `{attrs.step}` is never reached", attrs.step_span
        else:
            message, span = f"this `{attrs.what}` is never reached", attrs.span
        out.append(diagnostic("A601", message, span,
                              "remove it, or add an exit or `goto` that leads here"))
    return out
