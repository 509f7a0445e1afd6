"""Shared helpers for the runtime tests: a small call-center config and a way to run a call."""

from __future__ import annotations

import asyncio
import copy
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ccc_runtime.acd import AgentState
from ccc_runtime.bundle import Bundle, bundle_from_parts
from ccc_runtime.bytecode import SPECS, FlowBuilder, Op
from ccc_runtime.clock import FakeClock
from ccc_runtime.digest import MANIFEST_FILE, manifest_bytes
from ccc_runtime.functions import FunctionInvoker, StubFunctions
from ccc_runtime.records import MemorySink
from ccc_runtime.simchannel import Press, SimChannel, parse_keys
from ccc_runtime.vm import CallResult, Runtime

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A Wednesday, in working hours.
WORKDAY = datetime(2026, 11, 18, 10, 0, tzinfo=SHANGHAI)
CALLER = "+8613700000001"
CALLED = "+864001234567"

BASE_CONFIG: dict[str, Any] = {
    "format": 1,
    "timezone": "Asia/Shanghai",
    "default_language": "zh",
    "languages": ["zh", "en"],
    "numbers": {CALLED: "main"},
    "skill_groups": {"sales": {}, "support": {}, "vip": {}},
    "agents": {
        "alice": {"skills": {"vip": 10, "sales": 5}, "mobile": "+8613800138000",
                  "forward_when_offline": True},
        "bob": {"skills": {"sales": 5}},
        "carol": {"skills": {"sales": 7, "support": 5}},
        "dave": {"skills": {"support": 5}},
    },
    "schedules": {"support-hours": {
        "timezone": "Asia/Shanghai",
        "weekly": {"mon": ["09:00-18:00"], "tue": ["09:00-18:00"], "wed": ["09:00-18:00"],
                   "thu": ["09:00-18:00"], "fri": ["09:00-18:00"], "sat": ["10:00-16:00"]},
        "holidays": ["2026-10-01..2026-10-07", "2027-01-01"],
        "exceptions": {"2026-10-10": ["09:00-18:00"]},
    }},
    "functions": {"account-lookup": {"url": "http://127.0.0.1:9/lookup", "timeout_ms": 500}},
    "prompts": {
        "main-greeting": {"zh": {"tts": "欢迎致电"}, "en": {"tts": "Welcome"}},
        "bye": {"zh": {"file": "prompts/bye.zh.wav"}, "en": {"file": "prompts/bye.en.wav"}},
        "hold-music": {"zh": {"file": "prompts/hold.wav"}},
        "queue-position": {"zh": {"tts": "您前面还有 {{ queue.position }} 位"}},
        "callback-offer": {"zh": {"tts": "按 1 留言"}},
        "sorry": {"zh": {"tts": "系统故障"}},
    },
    "blacklists": {"inbound-block": ["+8613900000001", "+86170*"]},
    # the toll-fraud guard refuses every outbound leg without a policy (outbound.py)
    "outbound": {"calling_hours": "08:00-21:00"},
    "phone_numbers": {"+862161230000": {"type": "landline", "outbound_concurrency": 10}},
}


def prompt(*names: str, barge_in: bool = False) -> list[Any]:
    """A prompt operand of named prompts."""
    return [barge_in, *(["prompt", n] for n in names)]


def say(text: str, barge_in: bool = False) -> list[Any]:
    return [barge_in, ["tts", text]]


def var(path: str) -> list[Any]:
    return ["var", path]


def const(value: Any) -> list[Any]:
    return ["const", value]


APPENDED: dict[Op, tuple[Any, ...]] = {
    Op.MENU: (False, False, False),  # noinput_forever, nomatch_forever, reset_on_entry
    Op.QUEUE: (0, "busy", [], ["const", None]),  # capacity, when_empty, script, group_from
    Op.TRANSFER_NUMBER: (["const", None],),  # caller_id
}
"""Defaults of the operands appended to opcodes in format 2, for flows built by hand."""


class Flow:
    """A thin wrapper over FlowBuilder for hand-assembled test flows."""

    def __init__(self, name: str = "main") -> None:
        self.b = FlowBuilder(name, "sha256:test", "0.1.0")

    def node(self, op: Op, *operands: Any, line: int = 1) -> int:
        """Add a node; operands appended to an opcode this session (APPENDED) may be left
        out, and take their defaults."""
        given = list(operands)
        extra = APPENDED.get(op, ())
        missing = len(SPECS[op].operands) - len(given)
        if 0 < missing <= len(extra):
            given += copy.deepcopy(list(extra[len(extra) - missing:]))
        index: int = self.b.add_node(op, given, span=_Loc(f"{self.b.name}.ivr", line))
        return index

    def exit(self, node: int, name: str, target: int) -> None:
        self.b.set_exit(node, self.b.exit_number(node, name), target)

    def build(self, verify: bool = True) -> bytes:
        data: bytes = self.b.build(verify=verify)
        return data


class _Loc:
    def __init__(self, file: str, line: int) -> None:
        self.file, self.line, self.column = file, line, 3
        self.end_line, self.end_column = line, 10


def make_bundle(flows: Mapping[str, bytes], **overrides: Any) -> Bundle:
    config = copy.deepcopy(BASE_CONFIG)
    config.update(overrides)
    return bundle_from_parts(config, flows)


def run_call(bundle: Bundle, keys: str | Sequence[Press] = "", *, at: datetime = WORKDAY,
             agents: Mapping[str, AgentState] | None = None,
             functions: FunctionInvoker | None = None, caller: str = CALLER,
             flow: str = "main", setup: Callable[[Runtime, FakeClock], None] | None = None,
             **channel_options: Any) -> tuple[CallResult, SimChannel, MemorySink, Runtime]:
    """Run one simulated call; agents default to all offline."""
    clock = FakeClock(at)
    sink = MemorySink()
    runtime = Runtime(bundle, clock=clock, sink=sink,
                      functions=functions or StubFunctions({}))
    for user, state in (agents or {}).items():
        runtime.acd.set_state(user, state)
    if setup is not None:
        setup(runtime, clock)
    presses = parse_keys(keys) if isinstance(keys, str) else list(keys)
    channel = SimChannel(clock, presses, **channel_options)
    result = asyncio.run(runtime.run_call(channel, caller, CALLED, flow=flow))
    return result, channel, sink, runtime


def spoken(result: CallResult) -> list[str]:
    """What the caller heard: prompt names, or the TTS text of inline speech."""
    return [u.prompt if u.prompt is not None else f"say:{u.text}" for u in result.prompts]


def write_bundle_files(directory: Path, files: Mapping[str, bytes]) -> None:
    """Write a bundle folder by hand, with the manifest.json that loading checks."""
    for rel, data in files.items():
        (directory / rel).parent.mkdir(parents=True, exist_ok=True)
        (directory / rel).write_bytes(data)
    (directory / MANIFEST_FILE).write_bytes(manifest_bytes(files))


class QuietServer(ThreadingHTTPServer):
    """A function endpoint for tests: a request the client gave up on (a timeout test) gets
    its reply written to a closed socket, which is expected and not worth a log."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


@contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on a free loopback port in a thread; yields the base URL."""
    httpd = QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
