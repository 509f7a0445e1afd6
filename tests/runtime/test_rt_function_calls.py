"""Function calls (issue 10, L4) against a real HTTP server on 127.0.0.1 and through the VM:
plain-text replies, retries after a timeout or a 5xx only (and within the total budget), the
`timeout` exit and its fall-back to `error`, the manifest's timeout when a flow writes none;
and the bounds on call data from the network (ccc_runtime.calldata)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

import pytest
from ccc_runtime.bytecode import Op
from ccc_runtime.calldata import MAX_HEADER_VALUE, MAX_HEADERS, CallData, call_headers
from ccc_runtime.clock import FakeClock
from ccc_runtime.functions import (
    MAX_TEXT_REPLY_CHARS,
    RETRY_DELAYS_MS,
    FunctionFailure,
    FunctionSpec,
    HttpFunctions,
    InTurn,
    StubFunctions,
    retryable,
)
from rt_helpers import WORKDAY, Flow, const, http_server, make_bundle, run_call, var


class Handler(BaseHTTPRequestHandler):
    hits: ClassVar[dict[str, int]] = {}
    accepts: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        count = Handler.hits[self.path] = Handler.hits.get(self.path, 0) + 1
        Handler.accepts.append(self.headers.get("Accept", ""))
        status, body = 200, b'{"ok": true}'
        if self.path.startswith("/text"):
            body = "  Guten Tag, Li \u00e9\n".encode()
        elif self.path == "/long":
            body = b"x" * (MAX_TEXT_REPLY_CHARS + 1)
        elif self.path.startswith("/flaky") and count == 1:
            status = 503
        elif self.path.startswith("/missing"):
            status = 404
        elif self.path.startswith("/slow"):
            time.sleep(0.4)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass



@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with http_server(Handler) as url:
        yield url


def lookup_flow(retries: int = 0, timeout_ms: int = 0, timeout_exit: bool = True) -> bytes:
    """call function -> ok: set outcome = result | timeout: "timeout" | error: "error"."""
    f = Flow()
    call = f.node(Op.CALL_FUNCTION, "account-lookup", [["a", const(1)]], timeout_ms, "result",
                  retries)
    ok = f.node(Op.SET, "outcome", var("result"))
    late = f.node(Op.SET, "outcome", const("timeout"))
    err = f.node(Op.SET, "outcome", const("error"))
    end = f.node(Op.HANGUP)
    f.exit(call, "ok", ok)
    f.exit(call, "error", err)
    if timeout_exit:
        f.exit(call, "timeout", late)
    for node in (ok, late, err):
        f.exit(node, "next", end)
    return f.build()


def live(server: str, path: str, flow: bytes, reply: str = "json",
         timeout_ms: int = 1000) -> tuple[Any, list[Any]]:
    bundle = make_bundle({"main": flow}, functions={"account-lookup": {
        "url": server + path, "timeout_ms": timeout_ms, "reply": reply}})
    result, _, sink, _ = run_call(bundle, functions=HttpFunctions(bundle.functions))
    return result.variables["outcome"], [e.inputs for e in sink.events if e.op == "CALL_FUNCTION"]


def test_a_text_function_binds_the_body_as_a_string(server: str) -> None:
    Handler.accepts.clear()
    outcome, _ = live(server, "/text", lookup_flow(), reply="text")
    assert outcome == "Guten Tag, Li \u00e9"
    assert Handler.accepts == ["text/plain"]
    # a JSON function given the same body takes its error exit
    assert live(server, "/text-json", lookup_flow())[0] == "error"
    assert live(server, "/long", lookup_flow(), reply="text")[0] == "error"


def test_a_5xx_is_tried_again_and_a_4xx_is_not(server: str) -> None:
    outcome, inputs = live(server, "/flaky-1", lookup_flow(retries=1))
    assert outcome == {"ok": True} and Handler.hits["/flaky-1"] == 2
    assert inputs[0]["attempts"] == 2
    outcome, _ = live(server, "/flaky-2", lookup_flow(retries=0))
    assert outcome == "error" and Handler.hits["/flaky-2"] == 1
    outcome, inputs = live(server, "/missing", lookup_flow(retries=3))
    assert outcome == "error" and Handler.hits["/missing"] == 1
    assert inputs[0]["error"].startswith("http-status: HTTP 404")


def test_a_timeout_takes_the_timeout_exit_or_else_error(server: str) -> None:
    assert live(server, "/slow-1", lookup_flow(), timeout_ms=100)[0] == "timeout"
    assert live(server, "/slow-2", lookup_flow(timeout_exit=False), timeout_ms=100)[0] == "error"
    # the flow's own timeout wins over the function's
    assert live(server, "/slow-3", lookup_flow(timeout_ms=2000), timeout_ms=100)[0] == {
        "ok": True}


def test_retries_stay_within_the_total_budget() -> None:
    """Stubbed timeouts move the call's fake clock by the timeout: attempts of 25 s fit twice
    in 60 s, so `retries 3` makes two attempts; of 10 s, all four."""
    for timeout_ms, attempts in ((25_000, 2), (10_000, 4)):
        stubs: list[StubFunctions] = []

        def setup(runtime: Any, clock: FakeClock, stubs: list[StubFunctions] = stubs) -> None:
            stubs.append(StubFunctions({"account-lookup": FunctionFailure("timeout", "slow")},
                                       clock))
            runtime.functions = stubs[0]

        bundle = make_bundle({"main": lookup_flow(retries=3, timeout_ms=timeout_ms)})
        result, *_ = run_call(bundle, setup=setup)
        assert result.variables["outcome"] == "timeout"
        assert len(stubs[0].calls) == attempts, timeout_ms


def test_retries_wait_longer_each_time() -> None:
    """A 503 three times, then a reply: the attempts start 0, 250, 750 and 1,750 ms into the
    call: the server gets a breath."""
    started: list[float] = []

    def setup(runtime: Any, clock: FakeClock) -> None:
        failing = FunctionFailure("http-status", "HTTP 503", 503)

        class Timed(StubFunctions):
            async def call(self, name: str, args: Mapping[str, Any], timeout_ms: int) -> Any:
                started.append((clock.now() - WORKDAY).total_seconds() * 1000)
                return await super().call(name, args, timeout_ms)

        replies = InTurn((failing, failing, failing, {"ok": 1}))
        runtime.functions = Timed({"account-lookup": replies}, clock)

    result, *_ = run_call(make_bundle({"main": lookup_flow(retries=3)}), setup=setup)
    assert result.variables["outcome"] == {"ok": 1}
    assert started == [0, 250, 750, 1750] and list(RETRY_DELAYS_MS) == [250, 500, 1000]


def test_the_functions_own_timeout_applies_when_the_flow_writes_none() -> None:
    seen: list[int] = []

    class Recording(StubFunctions):
        async def call(self, name: str, args: Mapping[str, Any], timeout_ms: int) -> Any:
            seen.append(timeout_ms)
            return await super().call(name, args, timeout_ms)

    bundle = make_bundle({"main": lookup_flow()}, functions={"account-lookup": {
        "url": "http://127.0.0.1:9/x", "timeout_ms": 1500}})
    run_call(bundle, functions=Recording({"account-lookup": {"v": 1}}))
    assert seen == [1500]


def test_stub_outcomes_in_turn_and_which_failures_are_retried() -> None:
    stub = StubFunctions({"f": InTurn((FunctionFailure("timeout", "t"), {"v": 2}))})
    with pytest.raises(FunctionFailure):
        asyncio.run(stub.call("f", {}, 100))
    assert asyncio.run(stub.call("f", {}, 100)) == {"v": 2}
    assert asyncio.run(stub.call("f", {}, 100)) == {"v": 2}  # the last one repeats
    assert retryable(FunctionFailure("timeout", "t"))
    assert retryable(FunctionFailure("http-status", "HTTP 502", 502))
    assert not retryable(FunctionFailure("http-status", "HTTP 429", 429))
    assert not retryable(FunctionFailure("refused", "no"))
    assert not retryable(FunctionFailure("bad-json", "no"))


def test_a_text_function_spec_asks_for_text() -> None:
    functions = HttpFunctions({"f": FunctionSpec("http://127.0.0.1:9/x", reply="text")})
    request = functions._request(functions._specs["f"], {"a": 1})
    assert request.get_header("Accept") == "text/plain"


def test_call_headers_from_the_network_are_bounded() -> None:
    pairs = [("x-a", "1"), ("X-A", "2"), ("contact", "<sip:x@y>"), ("via", "SIP/2.0/UDP h"),
             ("diversion", "<sip:1@a>"), ("Diversion", "<sip:2@b>"),
             ("x-ctl", "a\x00b\r\nc"), ("x-long", "y" * 10_000), ("x-bad name", "z"),
             ("x-" + "n" * 100, "too long a name")]
    pairs += [(f"x-h{i}", str(i)) for i in range(100)]
    headers = call_headers(pairs)
    assert headers["x_a"] == "1, 2" and headers["diversion"] == "<sip:1@a>, <sip:2@b>"
    assert "contact" not in headers and "via" not in headers and "x_bad name" not in headers
    assert headers["x_ctl"] == "a b  c"
    assert len(headers["x_long"]) == MAX_HEADER_VALUE
    assert len(headers) == MAX_HEADERS
    values = CallData("4008205678", "192.0.2.1", tuple(pairs)).values("+864008205678")
    assert values["dialled"] == "4008205678" and values["source"] == "192.0.2.1"
    assert CallData().values("+864008205678")["dialled"] == "+864008205678"
