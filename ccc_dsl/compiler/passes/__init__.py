"""The compiler passes, in the order they run (after sqlglot's optimizer: one small pure
function per file, listed here).

An analysis takes a flow's IR and the whole program and returns diagnostics; it never changes
the IR. An optimization takes an IR and returns a new one with the same behaviour. Analyses run
on the IR as lowered; optimizations run only when the flow is emitted.
"""

from __future__ import annotations

from collections.abc import Callable

from ccc_dsl.compiler.ir import FlowIR
from ccc_dsl.compiler.passes.call_data import unknown_call_data
from ccc_dsl.compiler.passes.dead_ends import dead_ends
from ccc_dsl.compiler.passes.destinations import unchecked_destinations
from ccc_dsl.compiler.passes.drop_unreachable import drop_unreachable
from ccc_dsl.compiler.passes.keys import shadowed_keys
from ccc_dsl.compiler.passes.loops import loops
from ccc_dsl.compiler.passes.merge_plays import merge_plays
from ccc_dsl.compiler.passes.queues import queue_exits
from ccc_dsl.compiler.passes.recursion import recursion
from ccc_dsl.compiler.passes.result_fields import undeclared_result_fields
from ccc_dsl.compiler.passes.time_to_agent import time_to_agent
from ccc_dsl.compiler.passes.tts import tts_text
from ccc_dsl.compiler.passes.unreachable import unreachable
from ccc_dsl.compiler.passes.variables import read_before_set
from ccc_dsl.compiler.program import Program
from ccc_dsl.diagnostics import Diagnostic

__all__ = [
    "ANALYSES", "OPTIMIZATIONS", "Analysis", "Optimization", "analyse", "dead_ends",
    "drop_unreachable", "loops", "merge_plays", "optimize", "queue_exits", "read_before_set",
    "recursion", "shadowed_keys", "time_to_agent", "tts_text", "unchecked_destinations",
    "undeclared_result_fields", "unknown_call_data", "unreachable",
]

Analysis = Callable[[FlowIR, Program], list[Diagnostic]]
Optimization = Callable[[FlowIR], FlowIR]

ANALYSES: tuple[Analysis, ...] = (
    unreachable,       # A601
    dead_ends,         # A602
    loops,             # A603, A604, A605
    shadowed_keys,     # A606, A621-A623
    read_before_set,   # A607
    queue_exits,       # A608
    recursion,         # A609
    tts_text,          # A610, A611
    time_to_agent,     # A612, A613
    unknown_call_data,  # A614
    undeclared_result_fields,  # A615
    unchecked_destinations,  # A619
)

OPTIMIZATIONS: tuple[Optimization, ...] = (
    drop_unreachable,
    merge_plays,
)


def analyse(ir: FlowIR, program: Program) -> list[Diagnostic]:
    """Every analysis on one flow, plus what the lowering found."""
    out = list(ir.lowering)
    for analysis in ANALYSES:
        out += analysis(ir, program)
    return out


def optimize(ir: FlowIR) -> FlowIR:
    for optimization in OPTIMIZATIONS:
        ir = optimization(ir)
    return ir
