"""A caller who hangs up while talking to an agent (issue 10 bug): the call ended as "caller
hung up" instead of the transfer, and the prompt after the conversation, which nobody heard,
was in `prompts`. Now the transfer stays the outcome, nothing more is played or counted as
played, and no hang-up is sent to a caller who is gone."""

from __future__ import annotations

from ccc_runtime.acd import AgentState
from ccc_runtime.bytecode import Op
from rt_helpers import Flow, const, make_bundle, prompt, run_call, spoken


def _after(op: Op, *operands: object) -> bytes:
    """`op` whose `done` goes on to play "bye", then hangs up (`busy` and `timeout` hang
    up at once)."""
    f = Flow()
    first = f.node(op, *operands)
    bye = f.node(Op.PLAY, prompt("bye"))
    end = f.node(Op.HANGUP)
    f.exit(first, "done", bye)
    f.exit(first, "busy", end)
    f.exit(first, "timeout", end)
    f.exit(bye, "next", end)
    return f.build()


QUEUE = _after(Op.QUEUE, "sales", const(0), 60_000, "longest-idle", prompt("hold-music"), [],
               [], [])
AGENT = _after(Op.TRANSFER_AGENT, const("bob"), 20_000)
NUMBER = _after(Op.TRANSFER_NUMBER, const("+8613800138000"), 20_000)
BOB = {"bob": AgentState.AVAILABLE}


def test_hanging_up_on_a_queue_agent_keeps_the_transfer_as_the_outcome() -> None:
    result, channel, sink, _ = run_call(make_bundle({"main": QUEUE}), agents=BOB,
                                        hangup_at_ms=10_000)
    assert result.outcome.describe() == "transferred to queue sales"
    assert sink.records[0].outcome == "transferred to queue sales"
    assert (result.agent, result.queue) == ("bob", "sales")
    assert "bye" not in spoken(result)
    assert not channel.hung_up and not channel.caller_on_line
    assert result.record.duration_ms == 10_000


def test_the_same_call_without_the_hangup_hears_the_prompt_and_is_hung_up() -> None:
    result, channel, _, _ = run_call(make_bundle({"main": QUEUE}), agents=BOB)
    assert result.outcome.describe() == "transferred to queue sales"
    assert spoken(result)[-1] == "bye"
    assert channel.hung_up


def test_hanging_up_on_a_named_agent_or_an_outside_number_keeps_that_outcome() -> None:
    agent, channel, _, _ = run_call(make_bundle({"main": AGENT}), agents=BOB,
                                    hangup_at_ms=5_000)
    assert agent.outcome.describe() == "transferred to agent bob"
    assert "bye" not in spoken(agent) and not channel.hung_up
    number, channel, _, _ = run_call(make_bundle({"main": NUMBER}), hangup_at_ms=5_000)
    assert number.outcome.describe() == "transferred to number +8613800138000"
    assert "bye" not in spoken(number) and not channel.hung_up


def test_a_caller_who_leaves_before_anyone_answers_still_hung_up() -> None:
    result, channel, _, _ = run_call(make_bundle({"main": QUEUE}),
                                     agents={"bob": AgentState.BUSY}, hangup_at_ms=10_000)
    assert result.outcome.describe() == "caller hung up"
    assert result.agent is None and not channel.hung_up


def test_a_prompt_cut_off_by_the_hangup_was_heard_and_the_next_one_was_not() -> None:
    f = Flow()
    first = f.node(Op.PLAY, prompt("main-greeting"))
    second = f.node(Op.PLAY, prompt("bye"))
    f.exit(first, "next", second)
    f.exit(second, "next", f.node(Op.HANGUP))
    result, _, _, _ = run_call(make_bundle({"main": f.build()}), hangup_at_ms=500)
    assert result.outcome.describe() == "caller hung up"
    assert spoken(result) == ["main-greeting"]
