"""Function calls against a real HTTP server on 127.0.0.1: replies and every way to fail."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from ccc_runtime.bytecode import Op
from ccc_runtime.functions import FunctionFailure, FunctionSpec, HttpFunctions, SecretHeader
from rt_helpers import Flow, const, make_bundle, run_call, var


class Handler(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Handler.seen.append({"path": self.path, "body": json.loads(body),
                             "auth": self.headers.get("Authorization")})
        if self.path == "/slow":
            time.sleep(0.5)
        if self.path == "/error":
            self.send_response(500)
            self.end_headers()
            return
        reply = b"{not json" if self.path == "/garbage" else json.dumps(
            {"balance": 12.5, "name": "Li", "echo": json.loads(body)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def do_GET(self) -> None:
        Handler.seen.append({"path": self.path})
        reply = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """The timeout test hangs up on /slow before the reply: expected, not worth a log."""


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def call(url: str, timeout_ms: int = 2000, **spec: Any) -> Any:
    functions = HttpFunctions({"f": FunctionSpec(url, timeout_ms=timeout_ms, **spec)},
                              environ={"TOKEN": "s3cret"})
    return asyncio.run(functions.call("f", {"account": "42"}, 0))


def failure(url: str, **spec: Any) -> FunctionFailure:
    with pytest.raises(FunctionFailure) as info:
        call(url, **spec)
    return info.value


def test_json_in_json_out_with_secret_header(server: str) -> None:
    reply = call(server + "/ok", secret_headers=(SecretHeader("Authorization", "TOKEN",
                                                              "Bearer "),))
    assert reply == {"balance": 12.5, "name": "Li", "echo": {"account": "42"}}
    assert Handler.seen[-1]["auth"] == "Bearer s3cret"


def test_get_sends_arguments_as_query_parameters(server: str) -> None:
    functions = HttpFunctions({"f": FunctionSpec(server + "/get?v=1", method="GET")})
    reply = asyncio.run(functions.call("f", {"account": "4 2", "n": 3}, 0))
    assert reply == {"ok": True}
    assert Handler.seen[-1]["path"] == "/get?v=1&account=4+2&n=3"


def test_failures_have_kinds(server: str) -> None:
    assert failure(server + "/slow", timeout_ms=100).kind == "timeout"
    assert failure(server + "/error").kind == "http-status"
    assert "HTTP 500" in str(failure(server + "/error"))
    assert failure(server + "/garbage").kind == "bad-json"
    assert failure(f"http://127.0.0.1:{closed_port()}/x").kind == "refused"
    missing = failure(server + "/ok", secret_headers=(SecretHeader("X-Key", "NOPE"),))
    assert (missing.kind, missing.message) == ("config",
                                               "secret environment variable NOPE is not set")


def test_a_failing_function_takes_the_error_exit_in_a_flow(server: str) -> None:
    f = Flow()
    lookup = f.node(Op.CALL_FUNCTION, "account-lookup", [["account", var("caller.number")]], 0,
                    "result")
    ok = f.node(Op.SET, "outcome", ["var", "result.name"])
    err = f.node(Op.SET, "outcome", const("error"))
    end = f.node(Op.HANGUP)
    f.exit(lookup, "ok", ok)
    f.exit(lookup, "error", err)
    f.exit(ok, "next", end)
    f.exit(err, "next", end)
    flow = f.build()
    for path, expected in (("/ok", "Li"), ("/error", "error"), ("/garbage", "error")):
        bundle = make_bundle({"main": flow}, functions={"account-lookup": {
            "url": server + path, "timeout_ms": 1000}})
        functions = HttpFunctions(bundle.functions)
        result, _, sink, _ = run_call(bundle, functions=functions)
        assert result.variables["outcome"] == expected, path
        if expected == "error":
            assert sink.events[0].inputs["error"].split(":")[0] in ("http-status", "bad-json")
