"""`ccc simulate`: place one call through a flow on the simulated channel and show its trace,
each step with its DSL location, plus what the caller heard and how the call ended
(ccc_dsl/views/simulation.py renders it).

The call runs exactly as in a flow test (same compiler, bundle, interpreter and fake clock);
with `ask`, a person at the keyboard answers the input waits the key script leaves open.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ccc_runtime.acd import AgentState
from ccc_runtime.calldata import CallData
from ccc_runtime.clock import FakeClock
from ccc_runtime.functions import MAX_REPLY_BYTES, StubFunctions
from ccc_runtime.limits import MAX_VALUE_DEPTH
from ccc_runtime.records import MemorySink, TraceEvent
from ccc_runtime.simchannel import Press, SimChannel
from ccc_runtime.values import json_too_deep
from ccc_runtime.vm import CallResult, Runtime

from ccc_dsl.commands.common import repo_path
from ccc_dsl.diagnostics import Diagnostic, Span, error
from ccc_dsl.manifest import ROOT_FILE
from ccc_dsl.pipeline import cached_bundle, find_repo_root
from ccc_dsl.util import did_you_mean

SIMULATED_CALL_ID = "simulated"


@dataclass
class Simulation:
    """One simulated call; `result` is None when it could not be placed (see diagnostics)."""

    result: CallResult | None = None
    events: list[TraceEvent] = field(default_factory=list)
    timeline: list[str] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def load_stub(spec: str) -> tuple[str, Any] | Diagnostic:
    """`function=file.json` -> (function, reply); a bad file is a located T706 diagnostic."""
    name, sep, file = spec.partition("=")
    if not sep or not name or not file:
        return error("T706", f"bad --stub {spec!r}", None, "write --stub FUNCTION=FILE.json")
    try:
        text = Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        return error("T706", f"can't read the stub file: {exc.strerror or exc}",
                     Span.point(file, 1, 1))
    except UnicodeDecodeError:
        return error("T706", "the stub file is not UTF-8 text", Span.point(file, 1, 1))
    if len(text) > MAX_REPLY_BYTES or json_too_deep(text.encode("utf-8")):
        return error("T706", f"the stub file is over {MAX_REPLY_BYTES} bytes or nested deeper "
                     f"than {MAX_VALUE_DEPTH}, as no function reply may be", Span.point(file, 1, 1))
    try:
        return name, json.loads(text)
    except json.JSONDecodeError as exc:
        return error("T706", f"the stub file is not JSON: {exc.msg}",
                     Span.point(file, exc.lineno, exc.colno))


def simulate(path: Path, flow: str, *, caller: str, called: str | None, at: datetime,
             presses: list[Press], stubs: Mapping[str, Any] | None = None,
             agents: Mapping[str, AgentState] | None = None, env: str | None = None,
             ask: Callable[[str], str | None] | None = None,
             data: CallData | None = None) -> Simulation:
    """Compile the repo at `path` and run one call into `flow`; `data` is the call data of
    its INVITE (`call.headers`, `call.source`)."""
    sim = Simulation()
    root = find_repo_root(path)
    if root is None:
        sim.diagnostics.append(error("T710", f"no {ROOT_FILE} in {path} or any folder above it",
                                     Span.point(str(path), 1, 1)))
        return sim
    # diagnostics name files as `ccc validate` does (relative for a relative PATH)
    built = cached_bundle(repo_path(path if path.is_dir() else path.parent), env)
    sim.diagnostics += built.diagnostics
    bundle = built.bundle
    if bundle is None:
        return sim
    if flow not in bundle.flows:
        sim.diagnostics.append(error("T713", f"no flow `{flow}` in {path}", None,
                                     did_you_mean(flow, set(bundle.flows))))
        return sim
    known = {a.user for a in bundle.agents}
    for user in agents or {}:
        if user not in known:
            sim.diagnostics.append(error("T716", f"no agent `{user}` in {path}", None,
                                         did_you_mean(user, known)))
    for name in stubs or {}:
        if name not in bundle.functions:
            sim.diagnostics.append(error("T717", f"no function `{name}` in {path}", None,
                                         did_you_mean(name, set(bundle.functions))))
    bound = sorted(n for n, f in bundle.config.numbers.items() if f == flow)
    if called is not None and called not in bundle.config.numbers:
        sim.diagnostics.append(error(
            "T715", f"no flow is bound to the called number `{called}`", None,
            f"numbers bound to `{flow}`: {', '.join(bound)}" if bound
            else f"no number is bound to `{flow}`: leave out --called"))
    if sim.diagnostics:
        return sim
    if called is None:
        called = bound[0] if bound else ""
    clock = FakeClock(at)
    sink = MemorySink()
    runtime = Runtime(bundle, clock=clock, functions=StubFunctions(stubs or {}, clock),
                      sink=sink, next_event=clock.next_due)  # one call: a closed world
    for user, state in (agents or {}).items():
        runtime.acd.set_state(user, state)
    channel = SimChannel(clock, presses, ask=ask)
    # a fixed call id: the same inputs print the same trace (a random one would differ)
    sim.result = asyncio.run(runtime.run_call(channel, caller, called, flow=flow,
                                              call_id=SIMULATED_CALL_ID, data=data))
    sim.events = sink.events
    sim.timeline = channel.log
    return sim
