"""Properties of random valid flows: they compile, and their graphs keep the invariants (every
node reachable from the entry, no path runs off the end, every exit the format needs connected,
every node without a way on ends the call); and the optimizations don't change what a caller
hears or how the call ends, checked by running both images on the runtime."""

from __future__ import annotations

import asyncio
from datetime import datetime

from cc_helpers import analyse_text, example_model
from ccc_runtime.acd import AgentState
from ccc_runtime.bundle import bundle_from_parts
from ccc_runtime.bytecode import SPECS, Op, decode
from ccc_runtime.clock import FakeClock
from ccc_runtime.functions import StubFunctions
from ccc_runtime.simchannel import SimChannel, parse_keys
from ccc_runtime.vm import Runtime
from hypothesis import given, settings
from hypothesis import strategies as st

from ccc_dsl.compiler.bundle import bundle_config
from ccc_dsl.compiler.driver import emit_all
from ccc_dsl.compiler.emit import emit
from ccc_dsl.compiler.passes import optimize
from ccc_dsl.compiler.results import COMPILER_VERSION

TERMINALS = (
    "hangup",
    'voicemail "sales"',
    'play "bye" then hangup',
    'transfer queue "support" timeout 1m { busy -> hangup  timeout -> voicemail "support" }',
    'transfer agent "bob" timeout 20s { busy -> hangup  timeout -> hangup }',
)
SIMPLE = ('play "closed"', 'say "Hello {{ caller.number }}"', 'set tier = "gold"',
          'language "en"', 'play "holiday", "bye" bargein')
ENDS = frozenset({Op.HANGUP, Op.RETURN, Op.VOICEMAIL, Op.QUEUE, Op.TRANSFER_AGENT,
                  Op.TRANSFER_NUMBER})


@st.composite
def flows(draw: st.DrawFn) -> str:
    count = draw(st.integers(1, 6))
    lines = ['flow t "Random" {']
    for i in range(count):
        label = f"s{i}"
        nxt = f"s{i + 1}" if i + 1 < count else draw(st.sampled_from(TERMINALS))

        def anywhere(i: int = i, nxt: str = nxt) -> str:
            """A target: a terminal, the next step, or any later step."""
            later = [f"s{j}" for j in range(i + 1, count)]
            return draw(st.sampled_from([*TERMINALS, nxt, *later]))

        lines.append(f"  {label}:")
        lines += ["    " + s for s in draw(st.lists(st.sampled_from(SIMPLE), max_size=2))]
        kind = draw(st.sampled_from(("menu", "hours", "function", "staffing", "queue",
                                     "collect", "if", "goto")))
        if kind == "menu":
            keys = draw(st.integers(1, 3))
            back = [f"s{j}" for j in range(i + 1)]  # a key may go back: the caller chose it
            lines.append('    menu prompt "main-greeting" timeout 5s retries 2 {')
            lines.append(f"      1 -> {nxt}")
            lines += [f"      {k} -> {draw(st.sampled_from([anywhere(), *back]))}"
                      for k in range(2, keys + 1)]
            lines += ['      nomatch -> play "invalid-key" then reprompt',
                      f"      exhausted -> {draw(st.sampled_from(TERMINALS))}", "    }"]
        elif kind == "hours":
            lines += ['    hours "support-hours" {', f"      open -> {nxt}",
                      f"      closed -> {anywhere()}", f"      holiday -> {anywhere()}",
                      "    }"]
        elif kind == "function":
            lines += ['    call function "account-lookup" with { account: caller.number } '
                      "timeout 2s {", f"      ok -> {nxt}", f"      error -> {anywhere()}",
                      "    }"]
        elif kind == "staffing":
            lines += ['    staffing "sales" {', f"      free -> {nxt}",
                      f"      busy -> {anywhere()}", f"      none -> {anywhere()}", "    }"]
        elif kind == "queue":
            lines += ['    transfer queue "sales" timeout 2m {', f"      timeout -> {nxt}",
                      f"      busy -> {anywhere()}", "    }"]
        elif kind == "collect":
            lines += ['    collect account digits 4..8 terminator # prompt "enter-account" '
                      "timeout 5s retries 2 {", f"      ok -> {nxt}",
                      f"      exhausted -> {anywhere()}", "    }"]
        elif kind == "if":
            lines.append(f'    if caller.number == "+8613800138000" -> {nxt} else -> '
                         f"{anywhere()}")
        else:
            lines.append(f"    goto {nxt}" if nxt.startswith("s") else f"    {nxt}")
    lines.append("}")
    return "\n".join(lines) + "\n"


@settings(max_examples=150, deadline=None)
@given(flows())
def test_random_valid_flows_compile_and_keep_the_graph_invariants(text: str) -> None:
    result, diagnostics = analyse_text(text)
    assert diagnostics == [], text
    (compiled,) = emit_all(result, {"t.ivr": text.encode()}).values()
    ir = optimize(result.program.flows["t"])
    assert ir.reachable() == set(ir.nodes)
    for n, attrs in ir.nodes.items():
        assert attrs.falls_off == ()
        if not ir.edges[n]:
            assert attrs.op in ENDS, (text, attrs.op)
    image = decode(compiled.image)
    assert len(image.nodes) == len(ir) + 2  # plus the error handler: apology, hang-up
    for node in image.nodes:
        spec = SPECS[node.op]
        for number, target in enumerate(node.exits[:len(spec.exits)]):
            assert target is not None or spec.exits[number] in spec.optional


def _run(image: bytes, keys: str) -> tuple[str, list[tuple[str | None, str | None]], int]:
    config, _ = bundle_config(example_model())
    config["numbers"] = {"+864008201234": "t"}
    bundle = bundle_from_parts(config, {"t": image})
    clock = FakeClock(datetime.fromisoformat("2026-12-24T10:00+08:00"))
    runtime = Runtime(bundle, clock=clock, functions=StubFunctions({"account-lookup": {}}))
    runtime.acd.set_state("bob", AgentState.AVAILABLE)
    result = asyncio.run(runtime.run_call(SimChannel(clock, parse_keys(keys)),
                                          "+8613700000001", "+864008201234"))
    return (result.outcome.describe(), [(p.prompt, p.text) for p in result.prompts],
            len(result.faults))


@settings(max_examples=60, deadline=None)
@given(flows(), st.lists(st.tuples(st.sampled_from("0123456789#-"),
                                    st.none() | st.integers(0, 30_000)), max_size=8))
def test_optimizations_keep_what_the_caller_hears(
        text: str, keys: list[tuple[str, int | None]]) -> None:
    """Keys are pressed when asked, or at a time (`K@ms`), which tells prompts apart that a
    key can or can't interrupt."""
    result, diagnostics = analyse_text(text)
    assert diagnostics == []
    ir = result.program.flows["t"]
    timed = sorted((at, key) for key, at in keys if at is not None and key != "-")
    script = ",".join([key for key, at in keys if at is None]
                      + [f"{key}@{at}" for at, key in timed])
    plain = _run(emit(ir, "h", COMPILER_VERSION, "t.ivr"), script)
    optimized = _run(emit(optimize(ir), "h", COMPILER_VERSION, "t.ivr"), script)
    assert plain == optimized
    assert plain[2] == 0  # no runtime faults in a flow the compiler accepted
