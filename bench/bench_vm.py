"""Benchmark: simulated calls per second and interpreter steps per second.

Runs a realistic hand-built flow (blacklist, work hours, a menu with a multi-digit key, digit
collection, a function call with a templated read-back, a queue with an agent, a survey) with a
mix of caller scripts, the way a CI flow-test run would: many short simulated calls, each on its
own fake clock, in one process. Prints the figures; not a timed test.

    .venv/bin/python bench/bench_vm.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ccc_runtime.acd import AgentState
from ccc_runtime.bundle import Bundle, bundle_from_parts
from ccc_runtime.bytecode import FlowBuilder, Op
from ccc_runtime.clock import FakeClock
from ccc_runtime.functions import StubFunctions
from ccc_runtime.records import MemorySink, NullSink, RecordSink
from ccc_runtime.simchannel import SimChannel, parse_keys
from ccc_runtime.vm import Runtime

CONFIG: dict[str, Any] = {
    "format": 1, "timezone": "Asia/Shanghai", "default_language": "zh",
    "languages": ["zh", "en"], "numbers": {"+864001234567": "main"},
    "skill_groups": {"sales": {}, "billing": {}},
    "agents": {"bob": {"skills": {"sales": 5, "billing": 5}},
               "carol": {"skills": {"billing": 7}}},
    "schedules": {"support-hours": {"timezone": "Asia/Shanghai", "weekly": {
        d: ["09:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
        "holidays": ["2026-10-01..2026-10-07"]}},
    "functions": {"account-lookup": {"url": "http://127.0.0.1:9/lookup"}},
    "prompts": {name: {"zh": {"tts": f"{name} 中文"}, "en": {"tts": name}} for name in (
        "main-greeting", "invalid-key", "closed", "holiday", "bye", "enter-account",
        "account-not-found", "hold-music", "survey-question", "survey-thanks", "blocked")},
    "blacklists": {"inbound-block": ["+8613900000001"]},
}


def p(*names: str, barge_in: bool = False) -> list[Any]:
    return [barge_in, *(["prompt", n] for n in names)]


def build_main() -> bytes:
    b = FlowBuilder("main", "sha256:bench", "0.1.0")
    n = b.add_node
    screen = n(Op.BLACKLIST, ["inbound-block", ["var", "caller.number"]])
    blocked = n(Op.PLAY, [p("blocked")])
    hours = n(Op.HOURS, ["support-hours"])
    closed = n(Op.PLAY, [p("closed")])
    holiday = n(Op.PLAY, [p("holiday")])
    menu = n(Op.MENU, [p("main-greeting", barge_in=True), 5000, 1500, 2, 2, ["1", "2", "0",
                                                                              "99"],
                       False, False, False])
    invalid = n(Op.PLAY, [p("invalid-key")])
    collect = n(Op.COLLECT, ["account", p("enter-account", barge_in=True), 6, 12, "#", 5000,
                             3000, r"\d+", 2, 2])
    lookup = n(Op.CALL_FUNCTION, ["account-lookup", [["account", ["var", "account"]]], 0,
                                  "result", 0])
    found = n(Op.BRANCH, [["==", ["var", "result.found"], ["const", True]]])
    balance = n(Op.PLAY, [[True, ["tts", [["zh", "{{ result.name }} 您的余额是 "
                                                  "{{ result.balance }} 元"],
                                          [None, "Balance {{ result.balance }}"]]]]])
    not_found = n(Op.PLAY, [p("account-not-found")])
    vip = n(Op.SET, ["priority", ["?", ["in", ["var", "caller.number"],
                                        ["const", ["+8613700000009"]]], ["const", 10],
                                  ["const", 0]]])
    queue = n(Op.QUEUE, ["billing", ["var", "priority"], 60_000, "familiar", p("hold-music"),
                         [], [], [], 0, "busy", [], ["const", None]])
    survey = n(Op.SURVEY, [p("survey-question", barge_in=True), 1, 5, "survey.score", 5000,
                           1, 1, p("survey-thanks")])
    bye = n(Op.PLAY, [p("bye")])
    hangup = n(Op.HANGUP, [])
    edges = [
        (screen, "listed", blocked), (screen, "clear", hours), (blocked, "next", hangup),
        (hours, "open", menu), (hours, "closed", closed), (hours, "holiday", holiday),
        (closed, "next", bye), (holiday, "next", bye), (menu, "1", vip), (menu, "2", collect),
        (menu, "0", vip), (menu, "99", bye), (menu, "nomatch", invalid), (menu, "exhausted", bye),
        (invalid, "next", menu), (collect, "ok", lookup), (collect, "exhausted", bye),
        (lookup, "ok", found), (lookup, "error", not_found), (found, "true", balance),
        (found, "false", not_found), (balance, "next", menu), (not_found, "next", menu),
        (vip, "next", queue), (queue, "done", survey), (queue, "timeout", bye),
        (survey, "ok", bye), (survey, "exhausted", bye), (bye, "next", hangup),
    ]
    for node, name, target in edges:
        b.set_exit(node, b.exit_number(node, name), target)
    data: bytes = b.build()
    return data


def build_loop() -> bytes:
    """SET and BRANCH forever: the bare cost of an interpreter step (ended by the step cap)."""
    b = FlowBuilder("loop", "sha256:bench", "0.1.0")
    flip = b.add_node(Op.SET, ["x", ["not", ["var", "x"]]])
    test = b.add_node(Op.BRANCH, [["==", ["var", "x"], ["const", True]]])
    b.set_exit(flip, 0, test)
    b.set_exit(test, 0, flip)
    b.set_exit(test, 1, flip)
    data: bytes = b.build()
    return data


SCRIPTS = [
    "2,1,2,3,4,5,6,7,#,1,4",  # balance read-back (interrupted by 1: queue), survey score 4
    "1,5",  # straight to the queue
    "9,-,1,-",  # a wrong key, then the queue, no survey answer
    "2,1,2,#,-,-,-,-,-,-",  # too short an account, then silence until exhausted
    "9,9,9",  # wrong keys until exhausted
]


async def run_calls(bundle: Bundle, calls: int, sink: RecordSink) -> int:
    """Run `calls` simulated calls, each with a fresh clock and ACD; return total steps."""
    start = datetime(2026, 11, 18, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    stub = StubFunctions({"account-lookup": {"found": True, "name": "李", "balance": 12.5}})
    scripts = [parse_keys(s) for s in SCRIPTS]
    steps = 0
    for i in range(calls):
        clock = FakeClock(start)
        runtime = Runtime(bundle, clock=clock, functions=stub, sink=sink)
        runtime.acd.set_state("bob", AgentState.AVAILABLE)
        channel = SimChannel(clock, scripts[i % len(scripts)])
        result = await runtime.run_call(channel, "+8613700000001", "+864001234567")
        steps += result.steps
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    bundle = bundle_from_parts(CONFIG, {"main": build_main()})
    asyncio.run(run_calls(bundle, 50, NullSink()))  # warm up (template cache, imports)
    for label, sink in (("no trace kept", NullSink()), ("trace kept in memory", MemorySink())):
        t0 = time.perf_counter()
        steps = asyncio.run(run_calls(bundle, args.calls, sink))
        elapsed = time.perf_counter() - t0
        print(f"{label:22} {args.calls} calls, {steps} steps in {elapsed:.3f} s: "
              f"{args.calls / elapsed:,.0f} calls/s, {steps / elapsed:,.0f} steps/s, "
              f"{elapsed / args.calls * 1e6:.0f} us/call")
    loop = bundle_from_parts({**CONFIG, "numbers": {}, "limits": {"max_steps": 200_000}},
                             {"loop": build_loop()})
    clock = FakeClock(datetime(2026, 11, 18, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    t0 = time.perf_counter()
    result = asyncio.run(Runtime(loop, clock=clock).run_call(
        SimChannel(clock), "+8613700000001", "", flow="loop"))
    elapsed = time.perf_counter() - t0
    print(f"{'bare step loop':22} {result.steps} SET/BRANCH steps in {elapsed:.3f} s: "
          f"{result.steps / elapsed:,.0f} steps/s")
    t0 = time.perf_counter()
    for _ in range(200):
        asyncio.run(run_calls(bundle, 1, NullSink()))
    per_loop = (time.perf_counter() - t0) / 200
    print(f"{'one event loop per call':22} {1 / per_loop:,.0f} calls/s "
          f"(asyncio.run per call costs {per_loop * 1e6:.0f} us)")


if __name__ == "__main__":
    main()
