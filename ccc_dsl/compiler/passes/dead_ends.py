"""A602: a path that runs off the end of the flow instead of ending the call.

Every path must end in `hangup`, a transfer, `voicemail`, a `goto` or (in a sub-flow)
`return`. The lowering marks each exit whose continuation is the end of the flow; after a
`call flow` of a sub-flow that never returns, nothing runs, so that is no dead end."""

from __future__ import annotations

from ccc_runtime.bytecode import Op

from ccc_dsl.codes import diagnostic
from ccc_dsl.compiler.ir import FlowIR
from ccc_dsl.compiler.program import Program
from ccc_dsl.diagnostics import Diagnostic


def dead_ends(ir: FlowIR, program: Program) -> list[Diagnostic]:
    nodes = ir.nodes
    out: list[Diagnostic] = []
    if ir.entry is None and not ir.lowering and not nodes:
        out.append(diagnostic("A602", f"flow `{ir.name}` does nothing: it has no statement",
                              ir.name_span, "add a step, e.g. `start: hangup`"))
    for node in sorted(ir.reachable()):
        attrs = nodes[node]
        if not attrs.falls_off:
            continue
        if attrs.op is Op.CALL_FLOW and not program.returns(str(attrs.operand("flow"))):
            continue  # the sub-flow never comes back, so nothing runs after it
        for exit_name, span in attrs.falls_off:
            after = (f"after `{attrs.what}`" if exit_name == "next"
                     else f"on `{exit_name}` of this `{attrs.what}`")
            out.append(diagnostic(
                "A602", f"{after} the call runs off the end of flow `{ir.name}` without a "
                "hang-up, transfer or voicemail", span,
                "end the path with `hangup`, a transfer, `voicemail` or `goto`"
                + (" (or `return`, in a sub-flow)" if program.callers.get(ir.name) else "")))
    return out
