"""Unit tests of the lowering, the optimizations (behaviour kept, checked on the runtime),
time to agent, and the bundle configuration."""

from __future__ import annotations

import asyncio
from datetime import datetime

from cc_helpers import analyse_text, example_model
from ccc_runtime.bundle import bundle_from_parts
from ccc_runtime.bytecode import Op, decode
from ccc_runtime.clock import FakeClock
from ccc_runtime.durations import CJK_SECONDS, OTHER_SECONDS, tts_seconds
from ccc_runtime.functions import StubFunctions
from ccc_runtime.simchannel import SimChannel, parse_keys
from ccc_runtime.vm import CallResult, Runtime

from ccc_dsl.compiler.bundle import bundle_config
from ccc_dsl.compiler.emit import emit
from ccc_dsl.compiler.ir import FlowIR
from ccc_dsl.compiler.passes import drop_unreachable, merge_plays
from ccc_dsl.compiler.resolve import resolve_names
from ccc_dsl.compiler.results import COMPILER_VERSION
from ccc_dsl.compiler.timing import flow_timing


def lowered(text: str) -> FlowIR:
    result, _ = analyse_text(text)
    (ir,) = result.program.flows.values()
    return ir


def run_image(image: bytes, keys: str = "") -> CallResult:
    config, _ = bundle_config(example_model())
    config["numbers"] = {"+864008201234": "t"}
    bundle = bundle_from_parts(config, {"t": image})
    clock = FakeClock(datetime.fromisoformat("2026-12-24T10:00+08:00"))
    runtime = Runtime(bundle, clock=clock, functions=StubFunctions({}))
    return asyncio.run(runtime.run_call(SimChannel(clock, parse_keys(keys)), "+8613700000001",
                                        "+864008201234"))


PLAYS = '''flow t "T" {
  start:
    play "bye"
    say "one"
    play "closed", "holiday"
    play "all-busy" bargein
    hangup
}
'''


def test_merge_plays_merges_quiet_prompts_only() -> None:
    ir = lowered(PLAYS)
    merged = merge_plays(ir)
    nodes = merged.nodes
    ops = [nodes[n].op for n in sorted(nodes, key=lambda n: nodes[n].span)]
    assert ops == [Op.PLAY, Op.PLAY, Op.HANGUP]
    assert merged.entry is not None
    first = nodes[merged.entry].operand("prompt")
    assert first == [False, ["prompt", "bye"], ["tts", "one"], ["prompt", "closed"],
                     ["prompt", "holiday"]]
    assert len(ir) == 5  # the input IR is not changed


def test_merged_plays_sound_the_same_on_the_runtime() -> None:
    ir = lowered(PLAYS)
    plain = emit(ir, "h", COMPILER_VERSION, "t.ivr")
    optimized = emit(merge_plays(ir), "h", COMPILER_VERSION, "t.ivr")
    assert len(decode(optimized).nodes) < len(decode(plain).nodes)
    a, b = run_image(plain), run_image(optimized)
    assert [(p.prompt, p.text) for p in a.prompts] == [(p.prompt, p.text) for p in b.prompts]
    assert a.outcome == b.outcome


def test_drop_unreachable_removes_dead_nodes_only() -> None:
    ir = lowered('flow t "T" {\n  a:\n    hangup\n    play "bye"\n  b:\n    hangup\n}\n')
    assert len(ir) == 3
    kept = drop_unreachable(ir)
    assert [node.op for node in kept.nodes.values()] == [Op.HANGUP]
    assert run_image(emit(kept, "h", COMPILER_VERSION, "t.ivr")).outcome.describe() == "hung up"


def test_unwritten_exits_follow_the_language_rules() -> None:
    ir = lowered('''flow t "T" {
  start:
    transfer queue "sales" timeout 1m {
      timeout -> voicemail "sales"
    }
    menu prompt "bye" timeout 5s retries 1 {
      1 -> hangup
    }
    hangup
}
''')
    nodes = ir.nodes
    assert ir.entry is not None
    queue = ir.entry
    # `busy` unwritten continues with the menu; `done` unwritten ends the call (unconnected)
    queue_exits = {e.exit: nodes[e.target].op for e in ir.edges[queue]}
    assert queue_exits == {"timeout": Op.VOICEMAIL, "busy": Op.MENU}
    menu = next(n for n in nodes if nodes[n].op is Op.MENU)
    exits = {e.exit: nodes[e.target].op for e in ir.edges[menu]}
    assert exits == {"1": Op.HANGUP, "exhausted": Op.HANGUP}  # noinput/nomatch ask again


def test_time_to_agent_counts_prompts_and_menu_keys() -> None:
    result, _ = analyse_text('''flow t "T" {
  start:
    say "你好"
    menu prompt say "Press one" timeout 5s interdigit 2s retries 1 {
      1 -> hangup
      12 -> transfer queue "sales" timeout 1m { busy -> hangup  timeout -> hangup }
    }
}
''')
    timing = flow_timing(result.program, "t")
    assert timing.key_presses == 2
    assert timing.seconds is not None
    assert abs(timing.seconds - (2 * CJK_SECONDS + len("Press one") * OTHER_SECONDS)) < 1e-9
    assert timing.person is not None and timing.person.line == 6


def test_time_to_agent_through_a_sub_flow() -> None:
    result, _ = analyse_text('''flow t "T" {
  start:
    call flow greet
    transfer agent "bob" timeout 20s { busy -> hangup  timeout -> hangup }
}

flow greet "G" {
  start:
    say "Welcome to Acme"
    return
}
''')
    timing = flow_timing(result.program, "t")
    assert timing.seconds == tts_seconds("Welcome to Acme")
    assert flow_timing(result.program, "greet").seconds is None


def test_tts_estimate_counts_placeholders() -> None:
    assert tts_seconds("{{ result.balance }}") == 1.0
    assert tts_seconds("") == 0.0


def test_bundle_config_is_what_the_runtime_loads() -> None:
    config, problems = bundle_config(example_model())
    assert problems == []
    assert config["timezone"] == "Asia/Shanghai"
    assert config["languages"] == ["en", "zh"]
    assert config["blacklists"]["inbound-block"] == ["+8617012345678", "+86165*"]
    assert config["functions"]["account-lookup"]["secret_headers"] == [
        {"header": "Authorization", "env": "ACME_LOOKUP_TOKEN", "prefix": "Bearer "}]
    assert config["schedules"]["support-hours"]["weekly"]["sat"] == ["10:00-16:00"]
    assert "2026-02-15..2026-02-23" in config["schedules"]["support-hours"]["holidays"]
    assert config["agents"]["alice"]["forward_when_offline"] is True


def test_bindings_to_missing_flows_point_into_the_manifest() -> None:
    diagnostics = resolve_names([], example_model())
    r509 = sorted((d.span.file.rsplit("/", 1)[-1], d.message.split("`")[3])
                  for d in diagnostics if d.code == "R509" and d.span is not None)
    assert ("numbers.yaml", "main") in r509
    assert len(r509) == len(example_model().flow_bindings)


def test_a_long_chain_of_sub_flows_is_analysed_without_recursing_per_flow() -> None:
    """Cross-flow facts (does a sub-flow ask the caller, its time to agent) are computed along
    the call graph without one Python stack frame per level, so a hostile chain of sub-flows
    is not a RecursionError (exit 3)."""
    n = 1500
    text = "\n".join(f'flow c{i} "C" {{ s: call flow c{i + 1} then menu prompt "bye" '
                     f'{{ 1 -> return }} }}' for i in range(n))
    text += f'\nflow c{n} "C" {{ s: say "hi" then transfer agent "bob" {{ busy -> return }} }}\n'
    result, _ = analyse_text(text)
    assert result.program.asks_caller("c0")
    assert not result.program.asks_caller(f"c{n}")
    timing = flow_timing(result.program, "c0")
    assert timing.seconds == tts_seconds("hi") and timing.key_presses == 0
