"""A606: keys that shadow each other, so one of them can never be taken.

In a queue, an offer's key (`offer callback ... key 1`) and the queue's own key exits
(`1 -> ...`) share the keypad: the same key can't mean both, and two offers can't share one."""

from __future__ import annotations

from ccc_runtime.bytecode import Op

from ccc_dsl.codes import diagnostic
from ccc_dsl.compiler.ir import FlowIR
from ccc_dsl.compiler.program import Program
from ccc_dsl.diagnostics import Diagnostic


def shadowed_keys(ir: FlowIR, program: Program) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for node in ir.nodes.values():
        if node.op is not Op.QUEUE:
            continue
        offers, keys = node.operand("offers"), node.operand("keys")
        assert isinstance(offers, list) and isinstance(keys, list)
        seen: dict[str, str] = {str(k): f"the exit `{k}`" for k in keys}
        for offer in offers:
            assert isinstance(offer, list)
            kind, key = offer[0], str(offer[2])  # [kind, after_ms, key, prompt]
            owner = seen.get(key)
            if owner is not None:
                out.append(diagnostic("A606", f"key `{key}` of the {kind} offer is also {owner} "
                                      "of this queue: one shadows the other", node.span,
                                      "give the offer a key of its own"))
            seen.setdefault(key, f"the key of the {kind} offer")
    return out
