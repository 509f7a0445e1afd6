"""A619: a transfer whose destination comes from data, without a `failed` exit.

A destination from data is checked at call time (a queue must name a skill group; a number, a
SIP URI and a caller id must pass the toll-fraud guard). A refusal takes `failed`; without it
the call takes `busy`, or ends, and the caller is never told that the number can't be reached.
Literal destinations are checked at compile time (R502, R510, R511, R517, R518) instead."""

from __future__ import annotations

from ccc_runtime.bytecode import DATA_GROUP, Op

from ccc_dsl.codes import diagnostic
from ccc_dsl.compiler.ir import FlowIR
from ccc_dsl.compiler.program import Program
from ccc_dsl.diagnostics import Diagnostic

_FROM_DATA = {Op.QUEUE: "group_from", Op.TRANSFER_NUMBER: "number", Op.TRANSFER_SIP: "uri"}
"""Per transfer opcode, the operand that holds its destination."""


def unchecked_destinations(ir: FlowIR, program: Program) -> list[Diagnostic]:
    nodes = ir.nodes
    out: list[Diagnostic] = []
    for node in sorted(ir.reachable()):
        attrs = nodes[node]
        operand = _FROM_DATA.get(attrs.op)
        if operand is None or "failed" in attrs.written:
            continue
        if attrs.op is Op.QUEUE and attrs.operand("group") != DATA_GROUP:
            continue
        where = attrs.operand(operand)
        caller_id = attrs.operand("caller_id") if attrs.op is not Op.QUEUE else ["const", None]
        literal = (isinstance(where, list) and where[:1] == ["const"]
                   and isinstance(caller_id, list) and caller_id[:1] == ["const"])
        if literal:
            continue
        out.append(diagnostic(
            "A619", f"`{attrs.what}` takes its destination from data but has no `failed` "
            "exit: a destination the runtime refuses takes `busy`, or ends the call",
            attrs.span, "add `failed -> ...` (say it can't be put through, offer voicemail)"))
    return out
