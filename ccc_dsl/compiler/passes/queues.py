"""A608: a queue without a `busy` or `timeout` exit.

An unwritten exit continues with the next statement, so a caller who finds nobody logged in, or
whose wait times out, silently goes on to whatever comes next: rarely what the author meant.
`busy` is asked for only where the queue can take it (ir.queue_busy_possible): a `when_empty
wait` queue without capacity or `check staffing` never does."""

from __future__ import annotations

from ccc_runtime.bytecode import DATA_GROUP, Op

from ccc_dsl.codes import diagnostic
from ccc_dsl.compiler.ir import FlowIR, queue_busy_possible
from ccc_dsl.compiler.program import Program
from ccc_dsl.diagnostics import Diagnostic

_WHO = {"busy": "finds nobody logged in", "timeout": "waits too long"}


def queue_exits(ir: FlowIR, program: Program) -> list[Diagnostic]:
    nodes = ir.nodes
    out: list[Diagnostic] = []
    for node in sorted(ir.reachable()):
        attrs = nodes[node]
        if attrs.op is not Op.QUEUE:
            continue
        busy = queue_busy_possible(attrs.operand("when_empty"), attrs.operand("capacity"),
                                   attrs.operand("script"), attrs.operand("group_from"),
                                   attrs.written)
        missing = [e for e in ("busy", "timeout")
                   if e not in attrs.written and (busy or e != "busy")]
        if missing:
            group = attrs.operand("group")
            if group == DATA_GROUP:  # a group from data: say so, not `*`
                group = "from data"
            who = " or ".join(_WHO[e] for e in missing)
            out.append(diagnostic(
                "A608", f"queue `{group}` has no {' or '.join(f'`{e}`' for e in missing)} "
                f"exit: a caller who {who} falls through to the next statement", attrs.span,
                f"add e.g. `{missing[-1]} -> voicemail \"{group}\"`"))
    return out
