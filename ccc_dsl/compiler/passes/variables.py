"""A607: a variable read where no path from the start of the call can have set it.

A forward "may be set" analysis over the graph, by variable root (`result` for
`result.balance`). Call data (`caller`, `time`...) is always there; a sub-flow starts with
whatever its callers may have set, and a `call flow` may set whatever the sub-flow sets."""

from __future__ import annotations

from ccc_runtime.bytecode import Op

from ccc_dsl.compiler.ir import CALL_DATA_ROOTS, FlowIR
from ccc_dsl.compiler.program import Program
from ccc_dsl.diagnostics import Diagnostic, error


def read_before_set(ir: FlowIR, program: Program) -> list[Diagnostic]:
    g = ir.graph
    if ir.entry is None or not any(attrs["reads"] for _, attrs in g.nodes(data=True)):
        return []
    start = CALL_DATA_ROOTS | program.inherited.get(ir.name, frozenset())
    succ = ir.successors()
    state: dict[int, frozenset[str]] = {ir.entry: start}
    todo = [ir.entry]
    while todo:
        node = todo.pop()
        attrs = g.nodes[node]
        after = state[node] | frozenset(attrs["writes"])
        if attrs["op"] is Op.CALL_FLOW:
            after |= program.writes(str(attrs["operands"][0]))
        for target, _, edge in succ[node]:
            new = after | frozenset(edge["writes"])
            old = state.get(target)
            if old is None or not new <= old:
                state[target] = new if old is None else old | new
                todo.append(target)
    out: list[Diagnostic] = []
    for node in sorted(state):
        for path, span in g.nodes[node]["reads"]:
            root = path.split(".", 1)[0]
            if root not in state[node]:
                out.append(error("A607", f"variable `{root}` is read before anything sets it",
                                 span, f"set `{root}` first (`set`, `collect {root}` or a "
                                 f"function's `as {root}`), or check the spelling"))
    return out
