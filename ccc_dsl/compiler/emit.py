"""Emit a flow's IR as .ccb bytes through the runtime's `FlowBuilder`.

Deterministic to the byte: nodes are numbered in source order (line, column, then lowering
order), operands are plain values the builder interns in first-use order, and the line table
names the source file relative to the repo root, so the same repo compiles to the same bytes
wherever it is checked out. Every flow gets an error handler: an apology, then a hang-up.
"""

from __future__ import annotations

from typing import Final

from ccc_runtime.bytecode import Const, FlowBuilder, Op, exit_numbers

from ccc_dsl.compiler.ir import FlowIR

APOLOGY: Final[Const] = [False, ["tts", [
    ["zh", "抱歉\uff0c系统出现故障\uff0c请稍后再拨。"],
    [None, "Sorry, something went wrong. Please call again later."],
]]]
"""What the error handler says before it hangs up (a fault: a bad template, a bad number...)."""


def emit(ir: FlowIR, source_hash: str, compiler_version: str, file: str) -> bytes:
    """The image of one flow. `file` is the source name for the line table (repo-relative).
    The IR must have an entry (flows with errors are not emitted); BytecodeError otherwise.
    The builder checks every operand and every exit; it doesn't decode the image again (the
    tests decode every emitted image)."""
    nodes = ir.nodes
    order = [n for _, _, n in sorted([(attrs.span.line, attrs.span.column, n)
                                      for n, attrs in nodes.items()])]
    index = {node: i for i, node in enumerate(order)}
    succ = ir.successors()
    # After the flow's nodes: a hang-up for sub-flow calls that never return (the dead-end
    # analysis checked that; the format still wants their exit connected, so it leads to a
    # hang-up no call reaches), then the error handler (an apology, then a hang-up).
    dead_calls = [n for n in order if not succ[n] and nodes[n].op is Op.CALL_FLOW]
    hangup = len(order) if dead_calls else None
    apology = len(order) + (hangup is not None)
    builder = FlowBuilder(ir.name, source_hash, compiler_version, source_file=file)
    add_node = builder.add_node
    for node in order:
        attrs = nodes[node]
        op, operands = attrs.op, attrs.operands
        numbers = exit_numbers(op, operands)
        exits: list[int | None] = [None] * len(numbers)
        for edge in succ[node]:
            exits[numbers[edge.exit]] = index[edge.target]
        if hangup is not None and not succ[node] and op is Op.CALL_FLOW:
            exits[numbers["next"]] = hangup
        add_node(op, operands, exits, span=attrs.span)
    if hangup is not None:
        add_node(Op.HANGUP, [], [], span=ir.name_span)
    if ir.entry is not None:
        builder.set_entry(index[ir.entry])
    add_node(Op.PLAY, [APOLOGY], [apology + 1, None], span=ir.name_span)
    add_node(Op.HANGUP, [], [], span=ir.name_span)
    builder.set_error_node(apology)
    return builder.build(verify=False)
