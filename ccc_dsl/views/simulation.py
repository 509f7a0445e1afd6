"""`ccc simulate` output: the traced call as text for people and as one JSON document."""

from __future__ import annotations

import json
from dataclasses import asdict

from ccc_dsl.simulate import Simulation
from ccc_dsl.views.terminal import visible


def render_text(sim: Simulation) -> str:
    """The trace (time, DSL location, flow@node, opcode, exit, inputs), the caller's side of
    the call, and a summary."""
    assert sim.result is not None
    loc_width = max((len(e.loc) for e in sim.events), default=10)
    node_width = max((len(f"{e.flow}@{e.node}") for e in sim.events), default=6)
    lines = ["trace:"]
    for e in sim.events:
        inputs = " ".join(f"{k}={_short(v)}" for k, v in e.inputs.items())
        where = f"{e.flow}@{e.node}"
        lines.append(f"  {e.t_ms / 1000:8.1f}s  {e.loc:<{loc_width}}  {where:<{node_width}}  "
                     f"{e.op:<15} -> {e.outcome}" + (f"  [{inputs}]" if inputs else ""))
    lines.append("caller's side:")
    lines += [f"  {line}" for line in sim.timeline]
    r = sim.result
    lines.append(f"outcome: {r.outcome.describe()}")
    if r.agent or r.queue:
        lines.append(f"agent: {r.agent or '-'}  queue: {r.queue or '-'}  "
                     f"queue wait: {r.queue_wait_ms / 1000:g}s")
    lines.append("prompts: " + (", ".join(u.describe() for u in r.prompts) or "-"))
    if r.variables:
        lines.append("variables: " + json.dumps(r.variables, ensure_ascii=False, default=str,
                                                sort_keys=True))
    lines += [f"fault: {f}" for f in r.faults]
    lines.append(f"{r.steps} steps, {r.record.duration_ms / 1000:g}s of call time")
    return visible("\n".join(lines))  # speech, keys and replies come from outside


def render_json(sim: Simulation) -> str:
    """The trace, timeline, prompts, variables, faults and call record for tools."""
    assert sim.result is not None
    r = sim.result
    return json.dumps({
        "outcome": r.outcome.describe(),
        "trace": [asdict(e) for e in sim.events],
        "timeline": sim.timeline,
        "prompts": [u.describe() for u in r.prompts],
        "variables": r.variables,
        "faults": [str(f) for f in r.faults],
        "record": asdict(r.record),
    }, ensure_ascii=False, indent=2, default=str)


def _short(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
