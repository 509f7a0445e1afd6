"""Emit a flow's IR as .ccb bytes through the runtime's `FlowBuilder`.

Deterministic to the byte: nodes are numbered in source order (line, column, then lowering
order), operands are plain values the builder interns in first-use order, and the line table
names the source file relative to the repo root, so the same repo compiles to the same bytes
wherever it is checked out. Every flow gets an error handler: an apology, then a hang-up.
"""

from __future__ import annotations

from typing import Final

from ccc_runtime.bytecode import Const, FlowBuilder, Op

from ccc_dsl.compiler.ir import FlowIR
from ccc_dsl.diagnostics import Span

APOLOGY: Final[Const] = [False, ["tts", [
    ["zh", "抱歉\uff0c系统出现故障\uff0c请稍后再拨。"],
    [None, "Sorry, something went wrong. Please call again later."],
]]]
"""What the error handler says before it hangs up (a fault: a bad template, a bad number...)."""


def _relocated(span: Span, file: str) -> Span:
    return Span(file, span.line, span.column, span.end_line, span.end_column)


def emit(ir: FlowIR, source_hash: str, compiler_version: str, file: str) -> bytes:
    """The image of one flow. `file` is the source name for the line table (repo-relative).
    The IR must have an entry (flows with errors are not emitted); BytecodeError otherwise."""
    g = ir.graph
    order = sorted(g.nodes, key=lambda n: (g.nodes[n]["span"].line,
                                           g.nodes[n]["span"].column, n))
    builder = FlowBuilder(ir.name, source_hash, compiler_version)
    index: dict[int, int] = {}
    for node in order:
        attrs = g.nodes[node]
        index[node] = builder.add_node(attrs["op"], attrs["operands"],
                                       span=_relocated(attrs["span"], file))
    for node in order:
        for _, target, exit_name in g.out_edges(node, keys=True):
            number = builder.exit_number(index[node], exit_name)
            builder.set_exit(index[node], number, index[target])
    hangup: int | None = None
    for node in order:
        if g.nodes[node]["op"] is Op.CALL_FLOW and g.out_degree(node) == 0:
            # The sub-flow never returns (checked by the dead-end analysis); the format still
            # wants the exit connected, so it leads to a hang-up no call reaches.
            if hangup is None:
                hangup = builder.add_node(Op.HANGUP, [], span=_relocated(ir.name_span, file))
            builder.set_exit(index[node], 0, hangup)
    if ir.entry is not None:
        builder.set_entry(index[ir.entry])
    where = _relocated(ir.name_span, file)
    apology = builder.add_node(Op.PLAY, [APOLOGY], span=where)
    builder.set_exit(apology, 0, builder.add_node(Op.HANGUP, [], span=where))
    builder.set_error_node(apology)
    data: bytes = builder.build()
    return data
