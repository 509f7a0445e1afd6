"""A608 asks for a queue's `busy` exit only where the queue can take it, and an unwritten `busy`
that can't be taken is left unconnected (so test coverage doesn't ask for it either): a `when_empty
wait` queue without capacity, `check staffing` or a group from data never leaves by `busy`."""

from __future__ import annotations

import pytest
from cc_helpers import analyse_text
from ccc_runtime.bytecode import Op

FLOW = """\
flow waits {
  start:
    transfer queue %s timeout 5m %s {
%s    }
    hangup
}
"""


def _queue(group: str, options: str, exits: str) -> tuple[list[str], set[str], str]:
    """A608's messages, and the queue node's connected exits."""
    text = FLOW % (group, options, "".join(f"      {e} -> hangup\n" for e in exits.split()))
    result, diagnostics = analyse_text(text, "waits.ivr")
    ir = result.program.flows["waits"]
    [queue] = [n for n, attrs in ir.nodes.items() if attrs.op is Op.QUEUE]
    messages = [d.message for d in diagnostics if d.code == "A608"]
    return [d.code for d in diagnostics], {e.exit for e in ir.edges[queue]}, " ".join(messages)


@pytest.mark.parametrize(("group", "options", "exits", "asks_busy"), [
    ('"sales"', "when_empty wait", "timeout", False),
    ('"sales"', "when_empty wait capacity 5", "timeout full", False),
    ('"sales"', "when_empty wait capacity 5", "timeout", True),  # a full queue takes busy
    ('"sales"', "when_empty wait waiting { every 1m check staffing }", "timeout", True),
    ('"sales"', "", "timeout", True),  # when_empty busy, the default
    ("call.data.team", "when_empty wait", "timeout", True),  # an unknown group: refused
    ("call.data.team", "when_empty wait", "timeout failed", False),
])
def test_busy_is_asked_for_only_where_the_queue_can_take_it(
        group: str, options: str, exits: str, asks_busy: bool) -> None:
    codes, connected, message = _queue(group, options, exits)
    assert ("A608" in codes) is asks_busy
    assert ("busy" in connected) is asks_busy  # unwritten: falls through only if possible
    if asks_busy:
        assert "has no `busy` exit: a caller who finds nobody logged in falls through" in message


def test_a_queue_without_a_timeout_exit_is_told_only_about_the_wait() -> None:
    codes, connected, message = _queue('"sales"', "when_empty wait", "done")
    assert [c for c in codes if c.startswith("A6")] == ["A608"]
    assert "has no `timeout` exit: a caller who waits too long falls through" in message
    assert "busy" not in connected and "timeout" in connected
