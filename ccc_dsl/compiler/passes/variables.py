"""A607: a variable read where no path from the start of the call can have set it.

A forward "may be set" analysis over the graph, by variable root (`result` for
`result.balance`). Call data (`caller`, `time`...) is always there; a sub-flow starts with
whatever its callers may have set, and a `call flow` may set whatever the sub-flow sets."""

from __future__ import annotations

from ccc_runtime.bytecode import Op

from ccc_dsl.codes import diagnostic
from ccc_dsl.compiler.ir import CALL_DATA_ROOTS, FlowIR
from ccc_dsl.compiler.program import Program
from ccc_dsl.diagnostics import Diagnostic


def read_before_set(ir: FlowIR, program: Program) -> list[Diagnostic]:
    nodes = ir.nodes
    if ir.entry is None or not any(attrs.reads for attrs in nodes.values()):
        return []
    start = CALL_DATA_ROOTS | program.inherited.get(ir.name, frozenset())
    if all(path.split(".", 1)[0] in start for attrs in nodes.values()
           for path, _ in attrs.reads):
        return []  # only call data and what callers set are read: nothing to find
    # The states hold what the flow may have set beyond `start` (which every state includes):
    # smaller sets, the same answers.
    succ = ir.successors()
    empty: frozenset[str] = frozenset()
    state: dict[int, frozenset[str]] = {ir.entry: empty}
    todo = [ir.entry]
    while todo:
        node = todo.pop()
        attrs = nodes[node]
        after = state[node]
        if attrs.writes:
            after = after.union(attrs.writes)
        if attrs.op is Op.CALL_FLOW:
            after |= program.writes(str(attrs.operand("flow")))
        for edge in succ[node]:
            target, writes = edge.target, edge.writes
            new = after.union(writes) if writes else after
            old = state.get(target)
            if old is None:
                state[target] = new
                todo.append(target)
            elif not new <= old:
                state[target] = old | new
                todo.append(target)
    out: list[Diagnostic] = []
    for node in sorted(state):
        for path, span in nodes[node].reads:
            root = path.split(".", 1)[0]
            if root not in start and root not in state[node]:
                out.append(diagnostic("A607", f"variable `{root}` is read before anything sets it",
                                      span, f"set `{root}` first (`set`, `collect {root}` or a "
                                      f"function's `as {root}`), or check the spelling"))
    return out
