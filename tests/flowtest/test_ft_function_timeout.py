"""Regression (issue 10 bug): a function's `timeout_seconds` in the manifest was ignored: the
compiler wrote 3 s into every `call function` without a `timeout`, and `ccc fmt` then wrote
`timeout 3s` into the flow. Now the image says 0 (the function's own), the bundle carries the
manifest's value, the interpreter applies it, and fmt writes only what the user wrote."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from ccc_runtime.bytecode import Op
from ccc_runtime.clock import FakeClock
from ccc_runtime.functions import StubFunctions
from ccc_runtime.simchannel import SimChannel
from ccc_runtime.vm import Runtime
from ft_helpers import write_repo

from ccc_dsl.grammar.formatter import format_text
from ccc_dsl.pipeline import build_bundle

FLOW = """\
flow t "T" {
  start:
    call function "lookup" with { a: 1 } {
      ok -> hangup
      error -> hangup
    }
}
"""


class Recording(StubFunctions):
    """A stub that remembers the timeout each attempt was given."""

    def __init__(self, replies: Mapping[str, Any]) -> None:
        super().__init__(replies)
        self.timeouts: list[int] = []

    async def call(self, name: str, args: Mapping[str, Any], timeout_ms: int) -> Any:
        self.timeouts.append(timeout_ms)
        return await super().call(name, args, timeout_ms)


def test_the_manifest_timeout_is_used_when_the_flow_writes_none(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", FLOW)  # `lookup` has timeout_seconds: 1
    things = repo / "things.yaml"
    things.write_text(things.read_text().replace("timeout_seconds: 1", "timeout_seconds: 2.5"))
    built = build_bundle(repo, None)
    assert built.bundle is not None, built.diagnostics
    (call,) = [n for n in built.bundle.flows["t"].nodes if n.op is Op.CALL_FUNCTION]
    assert call.operand("timeout_ms") == 0 and call.operand("retries") == 0
    assert built.bundle.functions["lookup"].timeout_ms == 2500
    stub = Recording({"lookup": {"v": 1}})
    clock = FakeClock(datetime.fromisoformat("2026-12-25T10:00+08:00"))
    runtime = Runtime(built.bundle, clock=clock, functions=stub)
    asyncio.run(runtime.run_call(SimChannel(clock), "+8613700000001", "+862161230000",
                                 flow="t"))
    assert stub.timeouts == [2500]


def test_fmt_never_writes_a_timeout_the_user_did_not() -> None:
    assert format_text(FLOW, "t.ivr") == FLOW
    written = FLOW.replace('with { a: 1 } {', 'with { a: 1 } timeout 2s retries 1 {')
    assert format_text(written, "t.ivr") == written
