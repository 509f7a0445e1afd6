"""Issue 11 item 7: a call variable can't grow without bound. Every value the VM keeps (set,
collect, function results) is measured first; over the limits it is a fault at the DSL line,
in bounded time, and never a RecursionError. A function reply nested too deep is a failure of
the function (its error exit), not of the runtime."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from ccc_runtime.functions import FunctionFailure, FunctionSpec, HttpFunctions
from ccc_runtime.limits import MAX_VALUE_CHARS, MAX_VALUE_DEPTH, MAX_VALUE_NODES
from ccc_runtime.values import json_too_deep, value_problem
from click.testing import CliRunner

from ccc_dsl.cli import cli

sys.path.insert(0, str(Path(__file__).parent / "flowtest"))
from ft_helpers import write_repo

GROW = '''\
flow t "T" {
  start:
    set pressed = []
  m: menu prompt "hello" timeout 5s retries 3 {
      1 -> grow
      noinput -> hangup
      nomatch -> hangup
      exhausted -> hangup
    }
  grow:
    set EXPR
    goto m
}
'''


@pytest.mark.parametrize(("expr", "presses", "problem"), [
    ("pressed = [pressed, menu.key]", 1100, f"nested over {MAX_VALUE_DEPTH} deep"),
    ("x = [x, x]", 60, f"over {MAX_VALUE_NODES} items"),
])
def test_a_value_that_grows_per_key_press_is_a_located_fault(
        tmp_path: Path, expr: str, presses: int, problem: str) -> None:
    repo = write_repo(tmp_path / "r", GROW.replace("EXPR", expr))
    start = time.perf_counter()
    result = CliRunner().invoke(cli, [
        "simulate", "t", str(repo), "--caller", "+8613700000001", "--format", "json",
        "--keys", ",".join(["1"] * presses), "--at", "2026-11-18T10:00+08:00"])
    assert time.perf_counter() - start < 20
    assert result.exit_code == 0, result.output
    assert "RecursionError" not in result.output
    assert f"flows/t.ivr:11:5: can't set {expr.split()[0]}: the value" in result.output
    assert problem in result.output


def test_measuring_is_bounded_by_the_limits_not_the_value() -> None:
    """2^60 nodes sharing halves: the walk stops at the limit."""
    value: Any = []
    for _ in range(60):
        value = [value, value]
    start = time.perf_counter()
    assert value_problem(value) is not None
    wide: Any = [[0, 0]] * (MAX_VALUE_NODES * 100)
    assert value_problem(wide) == f"the value has over {MAX_VALUE_NODES} items"
    assert time.perf_counter() - start < 0.5
    assert value_problem(["a" * MAX_VALUE_CHARS, "b"]) is not None
    assert value_problem({"k" * MAX_VALUE_CHARS: 1}) is None
    assert value_problem({"k" * MAX_VALUE_CHARS: "v"}) is not None
    assert value_problem({"name": "Li", "orders": [1, 2, {"id": "x"}]}) is None


def test_json_depth_is_found_without_parsing() -> None:
    deep: Any = 1
    for _ in range(MAX_VALUE_DEPTH):
        deep = [deep]
    import json
    assert not json_too_deep(json.dumps(deep).encode())
    assert json_too_deep(json.dumps([deep]).encode())
    assert not json_too_deep(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"[[[[["}')
    start = time.perf_counter()
    assert json_too_deep(b"[" * 1_000_000)
    assert not json_too_deep(b'"\\"' * 300_000)
    assert time.perf_counter() - start < 1.0


class _Deep(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        reply = b"[" * 200_000 + b"]" * 200_000
        self.send_response(200)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture()
def deep_server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Deep)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def test_a_reply_nested_too_deep_is_a_function_failure(deep_server: str) -> None:
    functions = HttpFunctions({"f": FunctionSpec(deep_server, timeout_ms=2000)})
    with pytest.raises(FunctionFailure) as info:
        asyncio.run(functions.call("f", {}, 0))
    assert info.value.kind == "bad-json"
    assert f"nested deeper than {MAX_VALUE_DEPTH}" in str(info.value)


def test_a_stub_file_nested_too_deep_is_t706_not_a_crash(tmp_path: Path) -> None:
    """A stub stands in for a reply, so it gets a reply's bounds, in simulate and ccc test."""
    flow = 'flow t "T" {\n  s: call function "lookup" timeout 1s {\n' \
           '      ok -> hangup\n      error -> hangup\n    }\n}\n'
    test = ('tests:\n  - name: deep\n    flow: t\n    caller: "+8613700000001"\n'
            '    at: 2026-11-18T10:00+08:00\n    functions:\n      lookup: {file: deep.json}\n'
            '    expect: {outcome: hung up}\n')
    repo = write_repo(tmp_path / "r", flow, {"t_test.yaml": test})
    deep = repo / "tests" / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(cli, ["simulate", "t", str(repo), "--caller", "+8613700000001",
                                 "--stub", f"lookup={deep}", "--at", "2026-11-18T10:00+08:00"])
    assert result.exit_code == 1 and "T706" in result.output, result.output
    result = runner.invoke(cli, ["test", str(repo)])
    assert result.exit_code == 1 and "T706" in result.output, result.output
    assert "RecursionError" not in result.output


def test_a_hand_made_bundle_nested_too_deep_is_a_bundle_error(tmp_path: Path) -> None:
    from ccc_runtime.bundle import BundleError, load_bundle
    from ccc_runtime.digest import manifest_bytes

    files = {"bundle.json": b'{"flows": {}, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"}
    for rel, data in files.items():
        (tmp_path / rel).write_bytes(data)
    (tmp_path / "manifest.json").write_bytes(manifest_bytes(files))
    with pytest.raises(BundleError, match="nested too deep"):
        load_bundle(tmp_path)
    (tmp_path / "manifest.json").write_bytes(b"[" * 100_000)
    with pytest.raises(BundleError, match="nested too deep"):
        load_bundle(tmp_path)
