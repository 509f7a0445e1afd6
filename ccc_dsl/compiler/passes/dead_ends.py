"""A602: a path that runs off the end of the flow instead of ending the call.

Every path must end in `hangup`, a transfer, `voicemail`, a `goto` or (in a sub-flow)
`return`. The lowering marks each exit whose continuation is the end of the flow; two of those
never run: after a `call flow` of a sub-flow that never returns nothing runs, and a menu's,
collect's or survey's `exhausted` is never taken when no retry counter can run out (each
`noinput`/`nomatch` exit leaves the statement for good). `as_run` is the graph without them,
which `ccc graph` draws."""

from __future__ import annotations

from ccc_runtime.bytecode import OPERAND_INDEX, Op

from ccc_dsl.codes import diagnostic
from ccc_dsl.compiler.ir import INPUT_OPS, FlowIR, IRNode, Located
from ccc_dsl.compiler.program import Program
from ccc_dsl.diagnostics import Diagnostic


def _stops(ir: FlowIR, node: int, program: Program) -> bool:
    """A `call flow` of a sub-flow that never returns: the call goes on in the sub-flow."""
    attrs = ir.nodes[node]
    return attrs.op is Op.CALL_FLOW and not program.returns(str(attrs.operand("flow")))


def _exhaustible(ir: FlowIR, node: int) -> bool:
    """Whether a menu, collect or survey can take `exhausted`: a counter runs out only when its
    limit is 0 or when its event asks again (the exit unwritten, `reprompt`, or a path back to
    the statement, which keeps its counters), and a counter of `forever` never does. A collect
    without pattern, terminator or a minimum over one digit has no `nomatch`."""
    attrs = ir.nodes[node]
    operands = OPERAND_INDEX[attrs.op]
    targets = {edge.exit: edge.target for edge in ir.edges[node]}
    ends = {name for name, _ in attrs.falls_off}
    for event in ("noinput", "nomatch"):
        if event == "nomatch" and attrs.op is Op.COLLECT and attrs.operand("pattern") is None \
                and attrs.operand("terminator") is None and attrs.operand("min_digits") == 1:
            continue
        if f"{event}_forever" in operands and attrs.operand(f"{event}_forever"):
            continue
        if attrs.operand(f"{event}_retries") == 0 or event not in attrs.written:
            return True
        target = targets.get(event)
        if target is None:
            if event in ends:
                continue  # its path ends the flow: the statement is never asked again
            return True  # an unknown label (R513): no claim
        if node in ir.descendants(target, inclusive=True):
            return True
    return False


def runs_off(ir: FlowIR, node: int, program: Program) -> Located:
    """The exits of `node` that really run off the end of the flow (see the module doc)."""
    attrs = ir.nodes[node]
    if not attrs.falls_off or _stops(ir, node, program):
        return ()
    if attrs.op in INPUT_OPS and not _exhaustible(ir, node):
        return tuple(f for f in attrs.falls_off if f[0] != "exhausted")
    return attrs.falls_off


def as_run(ir: FlowIR, program: Program) -> FlowIR:
    """The flow's graph as calls run it: no exit out of a `call flow` of a sub-flow that never
    returns (what follows it is unreachable), and dead ends only where a call gets to."""
    nodes = ir.nodes
    stops = {n for n, attrs in nodes.items() if attrs.op is Op.CALL_FLOW
             and not program.returns(str(attrs.operand("flow")))}  # as `_stops`
    shown = ir if not stops else ir.replaced(
        nodes, {n: [] if n in stops else out for n, out in ir.edges.items()})
    reachable = shown.reachable()
    changed: dict[int, IRNode] = {}
    for n, attrs in nodes.items():
        if attrs.falls_off:
            off = runs_off(ir, n, program) if n in reachable else ()
            if off != attrs.falls_off:
                changed[n] = attrs.copy()
                changed[n].falls_off = off
    if not changed:
        return shown
    return shown.replaced({n: changed.get(n, attrs) for n, attrs in nodes.items()}, shown.edges)


def dead_ends(ir: FlowIR, program: Program) -> list[Diagnostic]:
    nodes = ir.nodes
    out: list[Diagnostic] = []
    if ir.entry is None and not ir.lowering and not nodes:
        out.append(diagnostic("A602", f"flow `{ir.name}` does nothing: it has no statement",
                              ir.name_span, "add a step, e.g. `start: hangup`"))
    shown = as_run(ir, program)
    for node in sorted(shown.reachable()):
        attrs = nodes[node]
        for exit_name, span in shown.nodes[node].falls_off:
            after = (f"after `{attrs.what}`" if exit_name == "next"
                     else f"on `{exit_name}` of this `{attrs.what}`")
            out.append(diagnostic(
                "A602", f"{after} the call runs off the end of flow `{ir.name}` without a "
                "hang-up, transfer or voicemail", span,
                "end the path with `hangup`, a transfer, `voicemail` or `goto`"
                + (" (or `return`, in a sub-flow)" if program.callers.get(ir.name) else "")))
    return out
