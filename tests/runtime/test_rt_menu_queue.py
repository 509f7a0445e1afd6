"""VM semantics of menu key patterns, retry counters (forever, reset on entry) and queues with
a capacity, `when_empty wait` and an in-queue script (issue 10, docs/dsl.md menu and queue)."""

from __future__ import annotations

from typing import Any

import pytest
from ccc_runtime.acd import AgentState
from ccc_runtime.bytecode import Op
from ccc_runtime.patterns import best_key, key_may_grow, parse_key
from rt_helpers import Flow, const, make_bundle, prompt, run_call, say, spoken, var


def pattern_menu(keys: list[str], interdigit: int = 2000) -> bytes:
    """MENU -> SET choice = [menu.key, menu.input] -> HANGUP."""
    f = Flow()
    menu = f.node(Op.MENU, prompt("main-greeting", barge_in=True), 5000, interdigit, 1, 1,
                  keys)
    done = f.node(Op.SET, "choice", ["list", var("menu.key"), var("menu.input")])
    end = f.node(Op.HANGUP)
    for key in keys:
        f.exit(menu, key, done)
    f.exit(menu, "exhausted", end)
    f.exit(done, "next", end)
    return f.build()


def chosen(flow: bytes, keys: str) -> Any:
    result, *_ = run_call(make_bundle({"main": flow}), keys)
    return result.variables.get("choice")


@pytest.mark.parametrize(("keys", "expected"), [
    ("1,2,3", ["1XX", "123"]),       # three presses of a pattern
    ("1", ["1", "1"]),                # `1` alone after the interdigit timeout
    ("1,1,1", ["111", "111"]),        # a literal key is more specific than 1XX
    ("4", ["[4-5]", "4"]),            # complete at once: no longer key starts with 4
    ("7", ["N", "7"]),
    ("*", ["*", "*"]),
])
def test_the_most_specific_matching_key_is_taken(keys: str, expected: list[str]) -> None:
    flow = pattern_menu(["1XX", "1", "111", "[4-5]", "N", "*"])
    assert chosen(flow, keys) == expected


def test_input_that_no_key_can_match_is_a_nomatch_at_once() -> None:
    # `0` matches nothing and starts nothing: nomatch without waiting for more digits;
    # the retry then takes `2`... which is N
    flow = pattern_menu(["1XX", "N"])
    assert chosen(flow, "0,2") == ["N", "2"]
    # two nomatches exhaust the menu (nomatch retries 1)
    assert chosen(flow, "0,0") is None


def test_a_pattern_waits_only_while_a_longer_key_could_still_match() -> None:
    assert key_may_grow(["1XX", "2"], "1") and key_may_grow(["1XX"], "12")
    assert not key_may_grow(["1XX", "2"], "2") and not key_may_grow(["1XX"], "123")
    assert not key_may_grow(["1XX"], "3")
    assert best_key(["X", "[1-3]", "2"], "2") == "2"
    assert best_key(["X", "[1-3]"], "2") == "[1-3]"
    assert best_key(["X"], "22") is None
    assert parse_key("[1237-9]") == (frozenset("123789"),)


def forever_menu(reset: bool, noinput_forever: bool = True) -> bytes:
    """A menu whose noinput goes to a second menu and back; nomatch 1 then exhausted."""
    f = Flow()
    menu = f.node(Op.MENU, prompt("main-greeting", barge_in=True), 5000, 0, 1, 1, ["1"],
                  noinput_forever, False, reset)
    detour = f.node(Op.MENU, prompt("sorry", barge_in=True), 5000, 0, 0, 0, ["9"])
    picked = f.node(Op.SET, "choice", const("1"))
    gave_up = f.node(Op.SET, "choice", const("exhausted"))
    end = f.node(Op.HANGUP)
    f.exit(menu, "1", picked)
    f.exit(menu, "exhausted", gave_up)
    f.exit(menu, "nomatch", detour)
    f.exit(detour, "9", menu)
    f.exit(detour, "exhausted", end)
    f.exit(picked, "next", end)
    f.exit(gave_up, "next", end)
    return f.build()


def test_noinput_forever_never_exhausts() -> None:
    result, *_ = run_call(make_bundle({"main": forever_menu(False)}), "-,-,-,-,-,-,1")
    assert result.variables["choice"] == "1"
    assert spoken(result).count("main-greeting") == 7


def test_the_counters_last_the_call_unless_reset_on_entry() -> None:
    # nomatch 1: a wrong key goes to the detour menu; coming back by `9` and failing again
    # exhausts the menu, as its counter was kept ...
    kept, *_ = run_call(make_bundle({"main": forever_menu(False)}), "5,9,5")
    assert kept.variables["choice"] == "exhausted"
    # ... unless the menu resets on entry: coming back from another menu is a new entry
    fresh, *_ = run_call(make_bundle({"main": forever_menu(True)}), "5,9,5,9,1")
    assert fresh.variables["choice"] == "1"


def test_a_reprompt_is_no_new_entry() -> None:
    f = Flow()
    menu = f.node(Op.MENU, prompt("main-greeting", barge_in=True), 5000, 0, 1, 1, ["1"],
                  False, False, True)
    again = f.node(Op.PLAY, say("again"))
    end = f.node(Op.HANGUP)
    f.exit(menu, "1", end)
    f.exit(menu, "nomatch", again)
    f.exit(again, "next", menu)
    gave_up = f.node(Op.SET, "choice", const("exhausted"))
    f.exit(menu, "exhausted", gave_up)
    f.exit(gave_up, "next", end)
    result, *_ = run_call(make_bundle({"main": f.build()}), "5,5")
    assert result.variables["choice"] == "exhausted"


def queue(capacity: int = 0, when_empty: str = "busy", script: list[Any] | None = None,
          timeout: int = 60_000, connect: tuple[str, ...] = ("full", "busy")) -> bytes:
    """QUEUE support -> SET q = the exit taken -> HANGUP."""
    f = Flow()
    node = f.node(Op.QUEUE, "support", const(0), timeout, "longest-idle", prompt("hold-music"),
                  [], [], [], capacity, when_empty, script or [])
    end = f.node(Op.HANGUP)
    for name in ("timeout", *connect):
        mark = f.node(Op.SET, "q", const(name))
        f.exit(node, name, mark)
        f.exit(mark, "next", end)
    return f.build()


def test_a_full_queue_takes_the_full_exit() -> None:
    def two_waiting(runtime: Any, clock: Any) -> None:
        runtime.acd.set_state("dave", AgentState.BUSY)
        runtime.acd.enqueue("other-1", "support", "+8613700000009", 0)
        runtime.acd.enqueue("other-2", "support", "+8613700000008", 0)

    bundle = make_bundle({"main": queue(capacity=2)})
    result, *_ = run_call(bundle, setup=two_waiting)
    assert result.variables["q"] == "full"
    roomy, *_ = run_call(make_bundle({"main": queue(capacity=3)}), setup=two_waiting)
    assert roomy.variables["q"] == "timeout"
    # without a `full` exit, a full queue is `busy`
    fallback, *_ = run_call(make_bundle({"main": queue(capacity=2, connect=("busy",))}),
                            setup=two_waiting)
    assert fallback.variables["q"] == "busy"


def test_when_empty_wait_queues_with_nobody_logged_in() -> None:
    def logs_in_later(runtime: Any, clock: Any) -> None:
        clock.call_later(20_000, lambda: runtime.acd.set_state("dave", AgentState.AVAILABLE))

    busy, *_ = run_call(make_bundle({"main": queue()}), setup=logs_in_later)
    assert busy.variables["q"] == "busy"
    waited, *_ = run_call(make_bundle({"main": queue(when_empty="wait")}),
                          setup=logs_in_later)
    assert waited.outcome.describe() == "transferred to queue support"
    assert 20_000 <= waited.queue_wait_ms < 22_000


def test_the_script_plays_at_its_seconds_with_queue_data() -> None:
    script = [[0, 0, say("Welcome, you are {{ queue.position }}.")],
              [10_000, 20_000, prompt("queue-position")],
              [45_000, 0, prompt("callback-offer")]]

    def busy(runtime: Any, clock: Any) -> None:
        runtime.acd.set_state("dave", AgentState.BUSY)

    result, *_ = run_call(make_bundle({"main": queue(script=script)}), setup=busy)
    assert result.variables["q"] == "timeout"
    heard = [p for p in spoken(result) if p != "hold-music"]
    # at 0s, then 10s, 30s, 50s (every 20s from 10s), and all-busy once at 45s
    assert heard == ["say:Welcome, you are 1.", "queue-position", "queue-position",
                     "callback-offer", "queue-position"]


def test_a_staffing_check_leaves_the_queue_when_nobody_is_logged_in() -> None:
    """`every 30s from 30s check staffing`: dave logs off at 40 s, so the check at 60 s takes
    the call out by `busy`; the same queue without the check waits until the timeout."""
    def logs_off(runtime: Any, clock: Any) -> None:
        runtime.acd.set_state("dave", AgentState.BUSY)
        clock.call_later(40_000, lambda: runtime.acd.set_state("dave", AgentState.OFFLINE))

    checked = queue(when_empty="wait", script=[[30_000, 30_000, "staffing"]], timeout=120_000)
    result, *_ = run_call(make_bundle({"main": checked}), setup=logs_off)
    assert result.variables["q"] == "busy"
    assert 60_000 <= result.queue_wait_ms < 61_000
    unchecked, *_ = run_call(make_bundle({"main": queue(when_empty="wait", timeout=120_000)}),
                             setup=logs_off)
    assert unchecked.variables["q"] == "timeout"
