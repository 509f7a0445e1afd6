"""Function calls against a real HTTP server on 127.0.0.1: replies and every way to fail."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

import pytest
from ccc_runtime.bytecode import Op
from ccc_runtime.functions import FunctionFailure, FunctionSpec, HttpFunctions, SecretHeader
from rt_helpers import Flow, QuietServer, const, http_server, make_bundle, run_call, var


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



@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with http_server(Handler) as url:
        yield url


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
                    "result", 0)
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


@pytest.mark.parametrize("reply", [b"HELLO\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n"
                                   b"\r\n{\"a\":"])
def test_a_server_that_does_not_speak_http_is_a_failure(reply: bytes) -> None:
    """A bad status line or a reply cut short is a bad reply: the error exit, not a crash."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def answer() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(reply)

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        port = listener.getsockname()[1]
        assert failure(f"http://127.0.0.1:{port}/x").kind in ("network", "bad-json")
        thread.join(2)


@pytest.mark.parametrize("secret", ["s3cret\n", "s3c\r\nX-Evil: 1"])
def test_a_secret_with_a_line_break_fails_without_showing_it(secret: str) -> None:
    """A secret file read with its trailing newline must take the error exit, and the failure
    (which is traced) must not contain the secret."""
    functions = HttpFunctions({"f": FunctionSpec(
        f"http://127.0.0.1:{closed_port()}/x",
        secret_headers=(SecretHeader("Authorization", "TOKEN", "Bearer "),))},
        environ={"TOKEN": secret})
    with pytest.raises(FunctionFailure) as info:
        asyncio.run(functions.call("f", {}, 0))
    assert info.value.kind == "config" and "TOKEN" in str(info.value)
    assert "s3c" not in str(info.value)


def test_a_bad_plain_header_value_is_a_failure() -> None:
    functions = HttpFunctions({"f": FunctionSpec(f"http://127.0.0.1:{closed_port()}/x",
                                                 headers={"X-Source": "ivr\n"})})
    with pytest.raises(FunctionFailure) as info:
        asyncio.run(functions.call("f", {}, 0))
    assert info.value.kind == "config"


def test_redirects_are_not_followed_so_secrets_stay_with_the_configured_host() -> None:
    """A 302 to another host must not carry the Authorization header there: the call fails
    with the reply's status instead (a function's URL is configured, not discovered)."""
    other_seen: list[str | None] = []

    class Other(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            other_seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        do_POST = do_GET

        def log_message(self, format: str, *args: Any) -> None:
            pass

    other = QuietServer(("127.0.0.1", 0), Other)

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{other.server_address[1]}/x")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    first = QuietServer(("127.0.0.1", 0), Redirect)
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05},
                                daemon=True) for s in (other, first)]
    for t in threads:
        t.start()
    try:
        failed = failure(f"http://127.0.0.1:{first.server_address[1]}/f",
                         secret_headers=(SecretHeader("Authorization", "TOKEN", "Bearer "),))
    finally:
        for s in (other, first):
            s.shutdown()
            s.server_close()
    assert failed.kind == "http-status" and "HTTP 302" in str(failed)
    assert other_seen == []
