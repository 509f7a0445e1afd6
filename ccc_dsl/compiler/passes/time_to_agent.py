"""A612/A613: time to agent over the limit a manifest sets (`limits:` of the instance or of a
flow binding): worst-case seconds of prompts, and menu key presses, before a caller reaches a
person. See timing.py for how the worst case is computed.

A menu that repeats until the caller acts (`retries forever`; written as `exhausted` leading
back it is A605) is allowed: the figures hold for a caller who answers, and the timing says
where such a menu is (`Timing.repeats`, shown by `ccc compile`), with no diagnostic."""

from __future__ import annotations

from ccc_dsl.codes import diagnostic
from ccc_dsl.compiler.ir import FlowIR
from ccc_dsl.compiler.program import Program
from ccc_dsl.compiler.timing import flow_timing
from ccc_dsl.diagnostics import Diagnostic


def time_to_agent(ir: FlowIR, program: Program) -> list[Diagnostic]:
    if program.model is None:
        return []
    limits = program.model.limits_for(ir.name)
    if limits.max_time_to_agent_seconds is None and limits.max_key_presses is None:
        return []
    timing = flow_timing(program, ir.name)
    where = f" (at {timing.person})" if timing.person is not None else ""
    hint = "shorten the prompts or the menu path, or raise `limits:` in the manifests"
    out: list[Diagnostic] = []
    seconds, keys = timing.seconds, timing.key_presses
    limit_s, limit_k = limits.max_time_to_agent_seconds, limits.max_key_presses
    if seconds is not None and limit_s is not None and seconds > limit_s:
        out.append(diagnostic("A612", f"a caller may hear {seconds:.0f} s of prompts before "
                              f"reaching a person{where}; the limit is {limit_s} s",
                              ir.name_span, hint))
    if keys is not None and limit_k is not None and keys > limit_k:
        out.append(diagnostic("A613", f"a caller may press {keys} keys before reaching a "
                              f"person; the limit is {limit_k}", ir.name_span, hint))
    return out
