"""Random flows and random callers: every call ends cleanly, with a known outcome."""

from __future__ import annotations

from typing import Any

from ccc_runtime.acd import AgentState
from ccc_runtime.bytecode import SPECS, Op, exit_count
from ccc_runtime.functions import FunctionFailure, StubFunctions
from ccc_runtime.simchannel import Press
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rt_helpers import Flow, const, make_bundle, prompt, run_call, say, var

PALETTE: list[tuple[Op, list[Any]]] = [
    (Op.PLAY, [say("hi {{ caller.number }}", barge_in=True)]),
    (Op.PLAY, [prompt("bye", "main-greeting")]),
    (Op.PLAY, [say("{{ result.balance * 2 }}")]),
    (Op.MENU, [prompt("main-greeting", barge_in=True), 3000, 1000, 1, 1, ["1", "2", "12"]]),
    (Op.COLLECT, ["acct", prompt("main-greeting"), 1, 4, "#", 3000, 1000, r"\d+", 1, 1]),
    (Op.HOURS, ["support-hours"]),
    (Op.BLACKLIST, ["inbound-block", var("caller.number")]),
    (Op.SET, ["x", ["?", var("x"), const(1), const("a")]]),
    (Op.BRANCH, [["<", var("x"), const(2)]]),
    (Op.CALL_FUNCTION, ["account-lookup", [["acct", var("acct")]], 0, "result", 1]),
    (Op.STAFFING, ["sales"]),
    (Op.QUEUE, ["sales", var("x"), 20_000, "familiar", prompt("hold-music"),
                [["position", 5000, prompt("queue-position")]],
                [["voicemail", 8000, "1", None]], ["9"]]),
    (Op.QUEUE, ["sales", const(1), 20_000, "longest-idle", None, [], [], ["#"], 1, "wait",
                [[0, 0, say("Hold, {{ queue.position }}.")], [1000, 5000, prompt("bye")]]]),
    (Op.MENU, [prompt("main-greeting", barge_in=True), 3000, 1000, 0, 1,
               ["1XX", "[1-5]", "N", "*", "1"], True, False, True]),
    (Op.TRANSFER_AGENT, [const("bob"), 5000]),
    (Op.TRANSFER_NUMBER, [var("x"), 5000]),
    (Op.VOICEMAIL, ["sales", None, 5000]),
    (Op.SURVEY, [prompt("main-greeting", barge_in=True), 1, 5, "score", 3000, 1, 1, None]),
    (Op.SET_LANGUAGE, [["?", var("x"), const("en"), const("fr")]]),
    (Op.CALL_FLOW, ["main"]),
    (Op.RETURN, []),
    (Op.HANGUP, []),
]
KINDS = {"hangup", "caller-hangup", "queue", "agent", "mobile", "number", "voicemail",
         "callback", "transfer-failed", "error", "step-limit"}


@st.composite
def flows(draw: st.DrawFn) -> bytes:
    n = draw(st.integers(1, 8))
    f = Flow()
    picks = [draw(st.integers(0, len(PALETTE) - 1)) for _ in range(n)]
    nodes = [f.node(PALETTE[p][0], *PALETTE[p][1]) for p in picks]
    for node, p in zip(nodes, picks, strict=True):
        op = PALETTE[p][0]
        spec = SPECS[op]
        count = exit_count(op, PALETTE[p][1])
        for number in range(count):
            optional = number < len(spec.exits) and spec.exits[number] in spec.optional
            choices = st.one_of(st.none(), st.integers(0, n - 1)) if optional else (
                st.integers(0, n - 1))
            f.b.set_exit(node, number, draw(choices))
    f.b.set_error_node(draw(st.one_of(st.none(), st.integers(0, n - 1))))
    return f.build()


presses = st.lists(st.builds(Press, st.one_of(st.none(), st.sampled_from("0123456789*#")),
                             st.one_of(st.none(), st.integers(0, 60_000))), max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flows(), presses, st.sampled_from(list(AgentState)), st.booleans(),
       st.one_of(st.none(), st.integers(0, 90_000)))
def test_any_flow_with_any_caller_ends_cleanly(flow: bytes, script: list[Press],
                                               bob: AgentState, function_ok: bool,
                                               hangup_at: int | None) -> None:
    bundle = make_bundle({"main": flow}, limits={"max_steps": 200, "max_depth": 4})
    reply: Any = {"balance": 3} if function_ok else FunctionFailure("timeout", "slow")
    result, channel, sink, _ = run_call(
        bundle, script, agents={"bob": bob},
        functions=StubFunctions({"account-lookup": reply}), hangup_at_ms=hangup_at)
    assert result.outcome.kind in KINDS
    assert result.steps <= 200
    assert channel.hung_up == channel.caller_on_line  # never a hang-up to a caller who is gone
    assert result.outcome.kind != "caller-hangup" or not channel.hung_up
    if result.outcome.kind in ("error", "step-limit"):
        assert result.faults
    assert len(sink.records) == 1
