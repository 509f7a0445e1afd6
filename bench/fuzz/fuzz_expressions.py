"""Fuzz the VM's expression evaluator: bytes become an expression tree (a little stack
language), run as a BRANCH in a real call: the call hangs up or takes its error path."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from harness import main

CONSTS: list[Any] = [None, True, False, 0, 1, -1, 2**63 - 1, 1.5, "", "a", "+861", [1, "a"], []]
NAMES = ["a", "b", "caller.number", "menu.key", "time.hour", "missing"]
BINARY = ["==", "!=", "<", "<=", ">", ">=", "in", "not in", "and", "or"]


def expression(data: bytes) -> list[Any]:
    stack: list[list[Any]] = []
    for byte in data[:200]:
        kind, arg = byte % 6, byte // 6
        if kind == 0:
            stack.append(["const", CONSTS[arg % len(CONSTS)]])
        elif kind == 1:
            stack.append(["var", NAMES[arg % len(NAMES)]])
        elif kind == 2 and len(stack) >= 2:
            right, left = stack.pop(), stack.pop()
            stack.append([BINARY[arg % len(BINARY)], left, right])
        elif kind == 3 and stack:
            stack.append(["not" if arg % 2 else "neg", stack.pop()])
        elif kind == 4 and len(stack) >= 3:
            c, b, a = stack.pop(), stack.pop(), stack.pop()
            stack.append(["?", a, b, c])
        elif kind == 5 and stack:
            n = min(len(stack), arg % 4)
            items = [stack.pop() for _ in range(n)][::-1]
            stack.append(["list", *items])
    return stack[-1] if stack else ["const", None]


def target(data: bytes) -> None:
    from ccc_runtime.bundle import bundle_from_parts
    from ccc_runtime.bytecode import BytecodeError, FlowBuilder, Op
    from ccc_runtime.clock import FakeClock
    from ccc_runtime.functions import StubFunctions
    from ccc_runtime.simchannel import SimChannel
    from ccc_runtime.vm import Runtime

    builder = FlowBuilder("main", "sha256:fuzz", "0")
    try:
        set_a = builder.add_node(Op.SET, ["a", expression(data[:len(data) // 2])])
        branch = builder.add_node(Op.BRANCH, [expression(data[len(data) // 2:])])
    except BytecodeError:
        return
    end = builder.add_node(Op.HANGUP, [])
    builder.set_exit(set_a, 0, branch)
    builder.set_exit(branch, 0, end)
    builder.set_exit(branch, 1, end)
    bundle = bundle_from_parts(_CONFIG, {"main": builder.build()})
    clock = FakeClock(datetime(2026, 11, 18, 2, 0, tzinfo=UTC))
    runtime = Runtime(bundle, clock=clock, functions=StubFunctions({}))
    result = asyncio.run(runtime.run_call(SimChannel(clock, []), "+8613700000001",
                                          "+864001234567", flow="main"))
    assert result.outcome.kind in ("hangup", "error"), result.outcome


_CONFIG: dict[str, Any] = {
    "format": 1, "timezone": "Asia/Shanghai", "default_language": "zh", "languages": ["zh"],
    "numbers": {"+864001234567": "main"},
}

if __name__ == "__main__":
    main(target, "expression evaluator")
