"""One interpreter per call: every opcode, faults, the step cap, sub-flows, coverage data."""

from __future__ import annotations

from typing import Any

import pytest
from ccc_runtime.acd import AgentState, MemoryCallHistory
from ccc_runtime.bytecode import Op
from ccc_runtime.channel import TransferStatus
from ccc_runtime.durations import speech_seconds, to_ms
from ccc_runtime.functions import FunctionFailure, StubFunctions
from ccc_runtime.simchannel import Press
from ccc_runtime.vm import flow_edges
from rt_helpers import (
    CALLER,
    WORKDAY,
    Flow,
    const,
    make_bundle,
    prompt,
    run_call,
    say,
    spoken,
    var,
)


def menu_flow(keys: list[str], interdigit: int = 0, noinput: bool = False,
              nomatch: bool = False) -> bytes:
    """MENU -> SET choice = key; noinput/nomatch optionally through a PLAY back to the menu."""
    f = Flow()
    menu = f.node(Op.MENU, prompt("main-greeting", barge_in=True), 5000, interdigit, 1, 2, keys)
    done = f.node(Op.SET, "choice", var("menu.key"))
    give_up = f.node(Op.SET, "choice", const("exhausted"))
    end = f.node(Op.HANGUP)
    for k in keys:
        f.exit(menu, k, done)
    f.exit(menu, "exhausted", give_up)
    f.exit(done, "next", end)
    f.exit(give_up, "next", end)
    if noinput:
        again = f.node(Op.PLAY, say("noinput"))
        f.exit(menu, "noinput", again)
        f.exit(again, "next", menu)
    if nomatch:
        again = f.node(Op.PLAY, say("nomatch"))
        f.exit(menu, "nomatch", again)
        f.exit(again, "next", menu)
    return f.build()


def choice(keys: str, flow: bytes) -> Any:
    result, *_ = run_call(make_bundle({"main": flow}), keys)
    return result.variables.get("choice"), spoken(result)


def test_menu_single_key() -> None:
    assert choice("2", menu_flow(["1", "2"]))[0] == "2"


def test_menu_multi_digit_keys_use_the_interdigit_timeout() -> None:
    flow = menu_flow(["1", "123"], interdigit=2000)
    assert choice("1,2,3", flow)[0] == "123"
    assert choice("1,-", flow)[0] == "1"  # silence after 1: the inter-digit timeout ends it
    assert choice("1,2,-,1", flow)[0] == "1"  # "12" is no key: nomatch, then 1


def test_menu_separate_noinput_and_nomatch_counters() -> None:
    flow = menu_flow(["1"], noinput=True, nomatch=True)
    # noinput limit 1, nomatch limit 2: one of each, then a good key, still fine.
    value, heard = choice("-,9,1", flow)
    assert value == "1"
    assert heard == ["main-greeting", "say:noinput", "main-greeting", "say:nomatch",
                     "main-greeting"]
    assert choice("-,-", flow)[0] == "exhausted"  # second noinput: exhausted
    assert choice("9,9,-,9", flow)[0] == "exhausted"  # third nomatch: exhausted


def test_menu_without_retry_exits_asks_again() -> None:
    value, heard = choice("-,1", menu_flow(["1"]))
    assert value == "1"
    assert heard == ["main-greeting", "main-greeting"]


def test_menu_prompt_is_skipped_when_the_caller_typed_ahead() -> None:
    f = Flow()
    intro = f.node(Op.PLAY, say("intro", barge_in=True))
    menu = f.node(Op.MENU, prompt("main-greeting", barge_in=True), 5000, 0, 1, 1, ["1"])
    end = f.node(Op.HANGUP)
    f.exit(intro, "next", menu)
    f.exit(menu, "1", end)
    f.exit(menu, "exhausted", end)
    result, *_ = run_call(make_bundle({"main": f.build()}), "1")
    assert spoken(result) == ["say:intro"]
    assert ("main", 1, 3) in result.edges  # the menu took key 1 (its exit 3)


def test_play_keyed_exit_and_timed_presses_during_non_barge_prompts() -> None:
    f = Flow()
    first = f.node(Op.PLAY, say("a", barge_in=True))
    keyed = f.node(Op.SET, "keyed", const(True))
    second = f.node(Op.PLAY, say("Please hold the line a moment"))  # 1.9 s of speech
    end = f.node(Op.HANGUP)
    f.exit(first, "next", second)
    f.exit(first, "keyed", keyed)
    f.exit(keyed, "next", second)
    f.exit(second, "next", end)
    result, channel, *_ = run_call(make_bundle({"main": f.build()}), "")
    assert "keyed" not in result.variables
    result, channel, *_ = run_call(make_bundle({"main": f.build()}), "5")
    assert result.variables["keyed"] is True
    # A timed press during a prompt without barge-in is lost.
    result, channel, *_ = run_call(make_bundle({"main": f.build()}), [Press("5", 1500)])
    assert "keyed" not in result.variables
    assert any("ignored" in line for line in channel.log)


def collect_flow(pattern: str | None = None) -> bytes:
    f = Flow()
    ask = f.node(Op.COLLECT, "account", prompt("main-greeting", barge_in=True), 3, 6, "#", 5000,
                 3000, pattern, 1, 1)
    ok = f.node(Op.SET, "status", const("ok"))
    bad = f.node(Op.SET, "status", const("exhausted"))
    end = f.node(Op.HANGUP)
    f.exit(ask, "ok", ok)
    f.exit(ask, "exhausted", bad)
    f.exit(ok, "next", end)
    f.exit(bad, "next", end)
    return f.build()


def test_collect_digits_with_terminator_limits_and_pattern() -> None:
    def run(keys: str, pattern: str | None = None) -> tuple[Any, Any]:
        result, *_ = run_call(make_bundle({"main": collect_flow(pattern)}), keys)
        return result.variables.get("status"), result.variables.get("account")

    assert run("1,2,3,4,#") == ("ok", "1234")
    assert run("1,2,3,4,5,6") == ("ok", "123456")  # max digits ends it without #
    assert run("1,2,3,-") == ("ok", "123")  # inter-digit timeout ends it
    assert run("1,2,#,-,-") == ("exhausted", "12")  # too short, then nothing
    assert run("1,2,3,#", pattern=r"9\d+") == ("exhausted", "123")
    assert run("9,2,3,#", pattern=r"9\d+") == ("ok", "923")
    assert run("1,#,4,5,6,#") == ("ok", "456")  # one nomatch is within the limit


def test_hours_open_closed_holiday() -> None:
    f = Flow()
    hours = f.node(Op.HOURS, "support-hours")
    nodes = {name: f.node(Op.SET, "h", const(name)) for name in ("open", "closed", "holiday")}
    end = f.node(Op.HANGUP)
    for name, node in nodes.items():
        f.exit(hours, name, node)
        f.exit(node, "next", end)
    bundle = make_bundle({"main": f.build()})
    from datetime import datetime

    from rt_helpers import SHANGHAI

    def at(year: int, month: int, day: int, hour: int, minute: int) -> Any:
        when = datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)
        return run_call(bundle, at=when)[0].variables["h"]

    assert at(2026, 11, 18, 10, 0) == "open"
    assert at(2026, 11, 18, 18, 0) == "closed"
    assert at(2026, 10, 2, 10, 0) == "holiday"
    assert at(2026, 10, 10, 10, 0) == "open"  # a Saturday made a working day


def test_hours_holiday_falls_back_to_closed_when_unconnected() -> None:
    f = Flow()
    hours = f.node(Op.HOURS, "support-hours")
    is_open = f.node(Op.SET, "h", const("open"))
    closed = f.node(Op.SET, "h", const("closed"))
    end = f.node(Op.HANGUP)
    f.exit(hours, "open", is_open)
    f.exit(hours, "closed", closed)
    f.exit(is_open, "next", end)
    f.exit(closed, "next", end)
    from datetime import datetime

    from rt_helpers import SHANGHAI
    result, *_ = run_call(make_bundle({"main": f.build()}),
                          at=datetime(2027, 1, 1, 10, tzinfo=SHANGHAI))
    assert result.variables["h"] == "closed"


def test_blacklist_exact_and_prefix() -> None:
    f = Flow()
    check = f.node(Op.BLACKLIST, "inbound-block", var("caller.number"))
    listed = f.node(Op.SET, "listed", const(True))
    end = f.node(Op.HANGUP)
    f.exit(check, "listed", listed)
    f.exit(check, "clear", end)
    f.exit(listed, "next", end)
    bundle = make_bundle({"main": f.build()})
    for caller, expected in (("+8613900000001", True), ("+8617012345678", True),
                             (CALLER, False)):
        result, *_ = run_call(bundle, caller=caller)
        assert result.variables.get("listed", False) is expected, caller


def branch(expr: list[Any], **variables: Any) -> Any:
    f = Flow()
    first = f.node(Op.SET, "input", ["list"])
    for name, value in variables.items():
        step = f.node(Op.SET, f"input_{name}", const(value))
        f.exit(first, "next", step)
        first = step
    test = f.node(Op.BRANCH, expr)
    yes = f.node(Op.SET, "r", const(True))
    no = f.node(Op.SET, "r", const(False))
    end = f.node(Op.HANGUP)
    sorry = f.node(Op.SET, "r", const("fault"))
    f.exit(first, "next", test)
    f.exit(test, "true", yes)
    f.exit(test, "false", no)
    f.exit(yes, "next", end)
    f.exit(no, "next", end)
    f.exit(sorry, "next", end)
    f.b.set_error_node(sorry)
    result, *_ = run_call(make_bundle({"main": f.build()}))
    return result.variables["r"]


def test_expressions() -> None:
    assert branch(["==", var("input_a"), const(1)], a=1) is True
    assert branch(["==", var("input_a"), const(True)], a=1) is False  # true is not 1
    assert branch(["<", var("input_a"), const(2.5)], a=2) is True
    assert branch(["<", var("input_a"), const(2)], a="x") == "fault"
    assert branch(["in", var("caller.number"), ["list", const(CALLER), const("x")]]) is True
    assert branch(["not in", const(1), var("input")]) is True
    assert branch(["in", const("137"), var("caller.number")]) is True
    assert branch(["in", const(1), const(2)]) == "fault"
    assert branch(["and", const(1), ["or", const(0), const("x")]]) is True
    assert branch(["not", var("missing.path")]) is True
    assert branch(["?", const(False), const(0), ["neg", const(-1)]]) is True
    assert branch(["neg", const("x")]) == "fault"
    assert branch(["==", var("time.hour"), const(10)]) is True
    assert branch(["==", var("caller.previous_agent"), const(None)]) is True


def test_set_rejects_call_data_and_builds_nested_variables() -> None:
    f = Flow()
    nested = f.node(Op.SET, "a.b.c", const(1))
    bad = f.node(Op.SET, "caller.number", const("x"), line=2)
    end = f.node(Op.HANGUP)
    f.exit(nested, "next", bad)
    f.exit(bad, "next", end)
    result, *_ = run_call(make_bundle({"main": f.build()}))
    assert result.variables["a"] == {"b": {"c": 1}}
    assert result.outcome.describe() == "error: can't set caller.number: caller.* is call data"
    assert str(result.faults[0]).startswith("main.ivr:2:3: can't set")


def function_flow() -> bytes:
    f = Flow()
    call = f.node(Op.CALL_FUNCTION, "account-lookup", [["account", const("42")]], 0, "result",
                  0)
    ok = f.node(Op.PLAY, say("Balance {{ result.balance }}"))
    err = f.node(Op.SET, "failed", const(True))
    end = f.node(Op.HANGUP)
    f.exit(call, "ok", ok)
    f.exit(call, "error", err)
    f.exit(ok, "next", end)
    f.exit(err, "next", end)
    return f.build()


def test_call_function_ok_and_error() -> None:
    stub = StubFunctions({"account-lookup": {"balance": 12.5}})
    result, _, sink, _ = run_call(make_bundle({"main": function_flow()}), functions=stub)
    assert spoken(result) == ["say:Balance 12.5"]
    assert stub.calls == [("account-lookup", {"account": "42"})]
    assert sink.events[0].inputs == {"function": "account-lookup", "args": {"account": "42"}}
    failing = StubFunctions({"account-lookup": FunctionFailure("timeout", "no reply")})
    result, _, sink, _ = run_call(make_bundle({"main": function_flow()}), functions=failing)
    assert result.variables["failed"] is True
    assert sink.events[0].inputs["error"] == "timeout: no reply"
    assert sink.events[0].outcome == "error"


def test_template_error_takes_the_error_path_not_the_call() -> None:
    f = Flow()
    talk = f.node(Op.PLAY, say("Hi {{ result.name + 1 }}"), line=7)
    end = f.node(Op.HANGUP)
    sorry = f.node(Op.PLAY, prompt("sorry"))
    f.exit(talk, "next", end)
    f.exit(sorry, "next", end)
    f.b.set_error_node(sorry)
    result, _, sink, _ = run_call(make_bundle({"main": f.build()}))
    assert spoken(result) == ["sorry"]
    assert result.outcome.describe() == "hung up"
    assert "'result' is undefined" in result.faults[0].message
    assert result.faults[0].loc.line == 7
    assert sink.events[0].outcome.startswith("fault: template")


def test_a_fault_in_a_sub_flow_without_a_handler_uses_the_callers_handler() -> None:
    sub = Flow("lookup")
    talk = sub.node(Op.PLAY, say("{{ nope + 1 }}"))
    sub.exit(talk, "next", sub.node(Op.RETURN))
    main = Flow()
    call = main.node(Op.CALL_FLOW, "lookup")
    end = main.node(Op.HANGUP)
    sorry = main.node(Op.PLAY, prompt("sorry"))
    main.exit(call, "next", end)
    main.exit(sorry, "next", end)
    main.b.set_error_node(sorry)
    result, *_ = run_call(make_bundle({"main": main.build(), "lookup": sub.build()}))
    assert spoken(result) == ["sorry"]
    assert result.faults[0].flow == "lookup"
    assert result.record.path == ["main@0", "lookup@0", "main@2", "main@1"]


def test_faults_in_the_error_handler_end_the_call() -> None:
    f = Flow()
    bad = f.node(Op.SET, "x", ["<", const(1), const("a")])
    f.exit(bad, "next", bad)
    f.b.set_error_node(bad)
    result, *_ = run_call(make_bundle({"main": f.build()}))
    assert result.outcome.kind == "error"
    assert len(result.faults) == 4


def test_step_cap_ends_a_runaway_loop_cleanly() -> None:
    f = Flow()
    a = f.node(Op.SET, "x", const(1))
    f.exit(a, "next", a)
    result, channel, sink, _ = run_call(make_bundle({"main": f.build()},
                                                    limits={"max_steps": 50}))
    assert result.outcome.describe() == "step limit reached"
    assert result.steps == 50
    assert channel.hung_up
    assert sink.records[0].outcome == "step limit reached"
    assert "step limit of 50" in sink.records[0].faults[0]


def test_sub_flow_call_and_return_and_depth_cap() -> None:
    sub = Flow("greet")
    hello = sub.node(Op.PLAY, say("sub"))
    ret = sub.node(Op.RETURN)
    sub.exit(hello, "next", ret)
    main = Flow()
    call = main.node(Op.CALL_FLOW, "greet")
    after = main.node(Op.PLAY, say("back"))
    end = main.node(Op.HANGUP)
    main.exit(call, "next", after)
    main.exit(after, "next", end)
    result, *_ = run_call(make_bundle({"main": main.build(), "greet": sub.build()}))
    assert spoken(result) == ["say:sub", "say:back"]
    assert result.record.path == ["main@0", "greet@0", "greet@1", "main@1", "main@2"]

    loop = Flow("loop")
    again = loop.node(Op.CALL_FLOW, "loop")
    done = loop.node(Op.RETURN)
    loop.exit(again, "next", done)
    result, *_ = run_call(make_bundle({"loop": loop.build()}, numbers={}), flow="loop")
    assert result.outcome.describe() == "error: sub-flows nested deeper than 8"


def test_set_language_changes_prompt_variants() -> None:
    f = Flow()
    lang = f.node(Op.SET_LANGUAGE, const("en"))
    greet = f.node(Op.PLAY, prompt("main-greeting", "hold-music"))
    bad = f.node(Op.SET_LANGUAGE, const("fr"))
    end = f.node(Op.HANGUP)
    f.exit(lang, "next", greet)
    f.exit(greet, "next", bad)
    f.exit(bad, "next", end)
    result, *_ = run_call(make_bundle({"main": f.build()}))
    assert [(u.prompt, u.language, u.text) for u in result.prompts] == [
        ("main-greeting", "en", "Welcome"), ("hold-music", "zh", None)]  # no en: default
    assert result.prompts[1].file == "prompts/hold.wav"
    assert result.outcome.kind == "error"



def test_the_chosen_language_is_remembered_for_the_next_call() -> None:
    f = Flow()
    known = f.node(Op.BRANCH, ["==", var("caller.language"), const("en")])
    yes = f.node(Op.SET, "returning", const(True))
    choose = f.node(Op.SET_LANGUAGE, const("en"))
    end = f.node(Op.HANGUP)
    f.exit(known, "true", yes)
    f.exit(known, "false", choose)
    f.exit(yes, "next", end)
    f.exit(choose, "next", end)
    bundle = make_bundle({"main": f.build()})
    first, _, _, runtime = run_call(bundle)
    assert "returning" not in first.variables
    history = runtime.acd.history
    second, *_ = run_call(bundle, setup=lambda rt, _clock: setattr(rt.acd, "history", history))
    assert second.variables["returning"] is True


def test_survey_scores_and_retries() -> None:
    f = Flow()
    ask = f.node(Op.SURVEY, say("rate 1-5", barge_in=True), 1, 5, "survey.score", 5000, 1, 1,
                 say("thanks"))
    end = f.node(Op.HANGUP)
    f.exit(ask, "ok", end)
    f.exit(ask, "exhausted", end)
    bundle = make_bundle({"main": f.build()})
    result, *_ = run_call(bundle, "9,4")
    assert result.survey_score == 4
    assert result.variables["survey"] == {"score": 4}
    assert result.record.survey_score == 4
    assert spoken(result) == ["say:rate 1-5", "say:rate 1-5", "say:thanks"]
    result, *_ = run_call(bundle, "-,-")
    assert result.survey_score is None


def queue_flow(**options: Any) -> bytes:
    f = Flow()
    queue = f.node(Op.QUEUE, options.get("group", "sales"), options.get("priority", const(0)),
                   options.get("timeout", 60_000), options.get("routing", "longest-idle"),
                   prompt("hold-music"), options.get("announcements", []),
                   options.get("offers", []), options.get("keys", []))
    timeout = f.node(Op.SET, "q", const("timeout"))
    end = f.node(Op.HANGUP)
    f.exit(queue, "timeout", timeout)
    f.exit(timeout, "next", end)
    for name in options.get("connect", []):
        node = f.node(Op.SET, "q", const(name))
        f.exit(queue, name, node)
        f.exit(node, "next", end)
    return f.build()


def test_queue_answered_by_longest_idle_agent() -> None:
    def bob_then_carol(runtime: Any, clock: Any) -> None:
        runtime.acd.set_state("bob", AgentState.AVAILABLE)
        clock.advance(1000)
        runtime.acd.set_state("carol", AgentState.AVAILABLE)

    result, _, sink, runtime = run_call(make_bundle({"main": queue_flow()}),
                                        setup=bob_then_carol)
    assert result.outcome.describe() == "transferred to queue sales"
    assert result.agent == "bob"
    assert sink.records[0].agent == "bob"
    assert runtime.acd.history.last_agent(CALLER) == "bob"
    assert runtime.acd.status("bob").state is AgentState.AFTER_CALL_WORK or (
        runtime.acd.status("bob").state is AgentState.AVAILABLE)


def test_queue_waits_then_an_agent_frees_up() -> None:
    def later(runtime: Any, clock: Any) -> None:
        runtime.acd.set_state("bob", AgentState.BUSY)
        clock.call_later(25_000, lambda: runtime.acd.set_state("bob", AgentState.AVAILABLE))

    result, *_ = run_call(make_bundle({"main": queue_flow(
        announcements=[["position", 10_000, prompt("queue-position")]])}), setup=later)
    assert result.agent == "bob"
    # free at 25 s; the queue looks every second (from the end of the last announcement)
    assert 25_000 <= result.queue_wait_ms < 26_000
    # hold music is in the list of what the caller heard, once per stretch of it
    assert [u.describe() for u in result.prompts] == [
        "music hold-music [zh]", "queue-position [zh]", "music hold-music [zh]",
        "queue-position [zh]", "music hold-music [zh]"]
    assert [u.text for u in result.prompts if u.kind == "prompt"] == ["您前面还有 1 位"] * 2


def test_queue_tries_again_when_the_agent_does_not_answer() -> None:
    result, channel, *_ = run_call(make_bundle({"main": queue_flow()}),
                                   agents={"bob": AgentState.AVAILABLE},
                                   agent_answers={"bob": False})
    assert result.variables["q"] == "timeout"
    assert sum("bob does not answer" in line for line in channel.log) == 2  # 30 s rings


def test_queue_timeout_busy_and_keys() -> None:
    busy = {"bob": AgentState.BUSY}
    result, *_ = run_call(make_bundle({"main": queue_flow(timeout=30_000)}), agents=busy)
    assert result.variables["q"] == "timeout"
    assert result.queue_wait_ms == 30_000
    result, *_ = run_call(make_bundle({"main": queue_flow(group="support", connect=["busy"])}))
    assert result.variables["q"] == "busy"  # nobody logged in, nobody forwards to a mobile
    result, *_ = run_call(make_bundle({"main": queue_flow(group="support")}))
    assert result.variables["q"] == "timeout"  # busy unconnected -> timeout
    result, *_ = run_call(make_bundle({"main": queue_flow(keys=["9"], connect=["9"])}),
                          [Press("9", 12_000)], agents=busy)
    assert result.variables["q"] == "9"
    assert result.queue_wait_ms == 12_000


def test_queue_offers() -> None:
    busy = {"bob": AgentState.BUSY}
    offers = [["voicemail", 20_000, "1", prompt("callback-offer")],
              ["callback", 20_000, "2", None]]
    bundle = make_bundle({"main": queue_flow(offers=offers)})
    result, *_ = run_call(bundle, "1", agents=busy)
    assert result.outcome.describe() == "voicemail sales"
    # offered at 20 s, after the offer's prompt (its speaking time)
    assert result.queue_wait_ms == 20_000 + to_ms(speech_seconds("按 1 留言"))
    result, _, _, runtime = run_call(bundle, "2", agents=busy)
    assert result.outcome.describe() == "callback sales"
    assert [c.number for c in runtime.acd.store.callbacks()] == [CALLER]
    # With the callback exit connected the flow goes on, and the callback is still requested.
    bundle = make_bundle({"main": queue_flow(offers=offers, connect=["callback"])})
    result, _, _, runtime = run_call(bundle, "2", agents=busy)
    assert result.variables["q"] == "callback"
    assert result.outcome.describe() == "callback sales"
    assert [c.number for c in runtime.acd.store.callbacks()] == [CALLER]
    # A key pressed before the offer is made means nothing.
    result, *_ = run_call(bundle, [Press("1", 5_000)], agents=busy)
    assert result.variables["q"] == "timeout"


def test_queue_priority_must_be_an_integer() -> None:
    result, *_ = run_call(make_bundle({"main": queue_flow(priority=const("high"))}))
    assert result.outcome.describe() == "error: queue priority must be an integer, got 'high'"


def test_queue_forwards_to_an_offline_agents_mobile() -> None:
    f = Flow()
    queue = f.node(Op.QUEUE, "vip", const(0), 60_000, "familiar", None, [], [], [])
    end = f.node(Op.HANGUP)
    f.exit(queue, "timeout", end)
    result, channel, *_ = run_call(make_bundle({"main": f.build()}))
    assert result.outcome.describe() == "forwarded to mobile of alice"
    assert any("call +8613800138000: answered" in line for line in channel.log)


def agent_flow(user: str) -> bytes:
    f = Flow()
    who = f.node(Op.SET, "who", const(user))
    agent = f.node(Op.TRANSFER_AGENT, var("who"), 20_000)
    f.exit(who, "next", agent)
    return f.build()


def test_transfer_agent() -> None:
    bundle = make_bundle({"main": agent_flow("bob")})
    result, *_ = run_call(bundle, agents={"bob": AgentState.AVAILABLE})
    assert result.outcome.describe() == "transferred to agent bob"
    assert result.agent == "bob"
    result, *_ = run_call(bundle, agents={"bob": AgentState.BUSY})
    assert result.outcome.describe() == "transfer failed: agent bob busy"
    result, *_ = run_call(bundle, agent_answers={"bob": False},
                          agents={"bob": AgentState.AVAILABLE})
    assert result.outcome.describe() == "transfer failed: agent bob no-answer"
    result, *_ = run_call(make_bundle({"main": agent_flow("alice")}))
    assert result.outcome.describe() == "forwarded to mobile of alice"
    result, *_ = run_call(make_bundle({"main": agent_flow("nobody")}))
    assert result.outcome.describe() == "transfer failed: agent nobody busy"


def test_transfer_number() -> None:
    n = Flow()
    call = n.node(Op.TRANSFER_NUMBER, const("+8613800138000"), 20_000)
    sorry = n.node(Op.HANGUP)
    n.exit(call, "busy", sorry)
    bundle = make_bundle({"main": n.build()})
    result, *_ = run_call(bundle)
    assert result.outcome.describe() == "transferred to number +8613800138000"
    result, *_ = run_call(bundle, numbers={"+8613800138000": TransferStatus.BUSY})
    assert result.outcome.describe() == "hung up"
    assert result.edges == {("main", 0, 1)}
    result, *_ = run_call(bundle, numbers={"+8613800138000": TransferStatus.NO_ANSWER})
    assert result.outcome.describe() == "transfer failed: +8613800138000 no-answer"
    bad = Flow()  # not a number anyone can dial: refused (no failed/busy exit: the call ends)
    bad.node(Op.TRANSFER_NUMBER, const("12345"), 20_000)
    result, *_ = run_call(make_bundle({"main": bad.build()}))
    assert result.outcome.describe() == "transfer failed: '12345' refused: not a phone number"
    assert result.record.outbound_refused == ["'12345': not a phone number"]


def test_staffing() -> None:
    f = Flow()
    check = f.node(Op.STAFFING, "sales")
    nodes = {n: f.node(Op.SET, "s", const(n)) for n in ("free", "busy", "none")}
    end = f.node(Op.HANGUP)
    for name, node in nodes.items():
        f.exit(check, name, node)
        f.exit(node, "next", end)
    bundle = make_bundle({"main": f.build()})
    assert run_call(bundle)[0].variables["s"] == "none"
    assert run_call(bundle, agents={"bob": AgentState.BUSY})[0].variables["s"] == "busy"
    assert run_call(bundle, agents={"bob": AgentState.AFTER_CALL_WORK, "carol":
                                    AgentState.AVAILABLE})[0].variables["s"] == "free"


def test_voicemail_and_caller_hangup() -> None:
    f = Flow()
    f.node(Op.VOICEMAIL, "sales", prompt("bye"), 60_000)
    bundle = make_bundle({"main": f.build()})
    result, channel, sink, _ = run_call(bundle)
    assert result.outcome.describe() == "voicemail sales"
    assert sink.records[0].duration_ms == 11_000  # 1 s prompt + 10 s message
    result, channel, sink, _ = run_call(bundle, hangup_at_ms=500)
    assert result.outcome.describe() == "caller hung up"
    assert not channel.hung_up
    assert (sink.events[-1].op, sink.events[-1].outcome) == ("VOICEMAIL", "caller hung up")


def test_trace_and_coverage_data() -> None:
    flow = menu_flow(["1", "2"])
    result, _, sink, _ = run_call(make_bundle({"main": flow}), "2")
    assert result.visited == {("main", 0), ("main", 1), ("main", 3)}
    assert result.edges == {("main", 0, 4), ("main", 1, 0)}
    assert [e.outcome for e in sink.events] == ["key 2", "next", "end"]
    assert sink.events[0].loc == "main.ivr:1:3"
    assert sink.events[0].inputs == {"digits": "2"}
    from ccc_runtime.bytecode import decode
    assert flow_edges(decode(flow)) == {(0, 2), (0, 3), (0, 4), (1, 0), (2, 0)}
    record = sink.records[0]
    assert (record.caller, record.flow, record.outcome) == (CALLER, "main", "hung up")
    assert record.started_at == WORKDAY.isoformat()


def test_the_simulated_clock_keeps_every_millisecond() -> None:
    """A press at 1001 ms lands at 1001 ms, not 1000 (float seconds used to truncate)."""
    import asyncio
    from datetime import UTC, datetime, timedelta

    from ccc_runtime.channel import CallerHangup
    from ccc_runtime.clock import FakeClock
    from ccc_runtime.simchannel import Press, SimChannel

    start = datetime(2026, 12, 25, 2, 0, tzinfo=UTC)
    clock = FakeClock(start)
    channel = SimChannel(clock, [Press("1", 1001)], hangup_at_ms=3003)
    assert asyncio.run(channel.read_digit(5000)) == "1"
    assert clock.now() - start == timedelta(milliseconds=1001)
    with pytest.raises(CallerHangup):
        asyncio.run(channel.read_digit(5000))
    assert clock.now() - start == timedelta(milliseconds=3003)


def test_set_copies_values_so_variables_never_alias() -> None:
    """`set saved = result` then `set saved.balance = 0` must leave `result` alone."""
    f = Flow()
    first = f.node(Op.SET, "result.balance", const(88))
    copy = f.node(Op.SET, "saved", var("result"))
    listed = f.node(Op.SET, "both", ["list", var("result")])
    change = f.node(Op.SET, "saved.balance", const(0))
    again = f.node(Op.SET, "result.balance", const(1))
    end = f.node(Op.HANGUP)
    for a, b in ((first, copy), (copy, listed), (listed, change), (change, again),
                 (again, end)):
        f.exit(a, "next", b)
    result, _, sink, _ = run_call(make_bundle({"main": f.build()}))
    assert result.variables["result"] == {"balance": 1}
    assert result.variables["saved"] == {"balance": 0}
    assert result.variables["both"] == [{"balance": 88}]
    assert sink.events[1].inputs["value"] == {"balance": 88}


@pytest.mark.parametrize("answers", [True, False])
def test_a_caller_hanging_up_on_an_agent_leg_frees_the_agent(answers: bool) -> None:
    """Hanging up while talking (or while the agent's phone rings) must not leave the agent
    busy forever; a conversation that happened is remembered for familiar routing."""
    result, _, _, runtime = run_call(make_bundle({"main": queue_flow()}),
                                     agents={"bob": AgentState.AVAILABLE},
                                     agent_answers={"bob": answers}, hangup_at_ms=10_000)
    assert runtime.acd.status("bob").state is not AgentState.BUSY
    assert result.agent == ("bob" if answers else None)
    assert runtime.acd.history.last_agent(CALLER) == ("bob" if answers else None)
    assert result.record.duration_ms == 10_000


def test_a_caller_who_abandons_the_queue_has_the_wait_recorded() -> None:
    result, *_ = run_call(make_bundle({"main": queue_flow()}), agents={"bob": AgentState.BUSY},
                          hangup_at_ms=40_000)
    assert result.outcome.describe() == "caller hung up"
    assert (result.queue, result.queue_wait_ms) == ("sales", 40_000)
    assert result.record.queue_wait_ms == 40_000


def test_a_fault_while_queued_takes_the_call_out_of_the_queue() -> None:
    """A failing announcement sends the call to the error handler; it must not stay queued
    there, ahead of other callers, while the handler plays and records."""
    f = Flow()
    queue = f.node(Op.QUEUE, "sales", const(0), 60_000, "longest-idle", prompt("hold-music"),
                   [["position", 5000, say("{{ nope + 1 }}")]], [], [])
    sorry = f.node(Op.VOICEMAIL, "sales", None, 30_000)
    end = f.node(Op.HANGUP)
    f.exit(queue, "timeout", end)
    f.exit(sorry, "next", end)
    f.b.set_error_node(sorry)
    seen: list[int] = []

    def watch(runtime: Any, clock: Any) -> None:
        runtime.acd.set_state("bob", AgentState.BUSY)
        clock.call_later(8000, lambda: seen.append(len(runtime.acd.ordered("sales"))))

    result, *_ = run_call(make_bundle({"main": f.build()}), setup=watch)
    assert result.outcome.describe() == "voicemail sales" and len(result.faults) == 1
    assert seen == [0]


@pytest.mark.parametrize("caller", ["anonymous", ""])
def test_callers_without_a_number_share_no_history(caller: str) -> None:
    """Every withheld number is "anonymous": one such caller's agent and language must not
    route or greet the next one."""
    history = MemoryCallHistory()

    def shared(runtime: Any, clock: Any) -> None:
        runtime.acd.history = history

    lang = Flow()
    lang.exit(lang.node(Op.SET_LANGUAGE, const("en")), "next", lang.node(Op.HANGUP))
    run_call(make_bundle({"main": lang.build()}), caller=caller, setup=shared)
    run_call(make_bundle({"main": queue_flow()}), caller=caller, setup=shared,
             agents={"bob": AgentState.AVAILABLE})
    assert (history.last_language(caller), history.last_agent(caller)) == (None, None)
    history.remember(caller, "bob")  # carol wins on skill unless familiar routing is fooled
    result, *_ = run_call(make_bundle({"main": queue_flow(routing="familiar")}), caller=caller,
                          setup=shared, agents={"bob": AgentState.AVAILABLE,
                                                "carol": AgentState.AVAILABLE})
    assert result.agent == "carol"


def test_the_exit_after_a_sub_flow_counts_only_when_the_sub_flow_returns() -> None:
    """For coverage: a call that ends inside the sub-flow never took `call flow ... then X`."""
    sub = Flow("ask")
    menu = sub.node(Op.MENU, prompt("main-greeting"), 3000, 1000, 0, 0, ["1", "2"])
    ret = sub.node(Op.RETURN)
    bye = sub.node(Op.HANGUP)
    sub.exit(menu, "1", ret)
    sub.exit(menu, "2", bye)
    sub.exit(menu, "exhausted", bye)
    main = Flow()
    call = main.node(Op.CALL_FLOW, "ask")
    end = main.node(Op.HANGUP)
    main.exit(call, "next", end)
    bundle = make_bundle({"main": main.build(), "ask": sub.build()})
    returned, _, sink, _ = run_call(bundle, "1")
    assert ("main", call, 0) in returned.edges and ("main", end) in returned.visited
    assert sink.events[0].outcome == "next"
    stayed, *_ = run_call(bundle, "2")
    assert ("main", call, 0) not in stayed.edges
