"""Call records: a JSON-lines trace of every interpreter step, and one record per finished call.

The trace answers "what did this call do, and where in the DSL": each event names the flow, the
node, its DSL location, the inputs it saw and the exit it took. The call record (CDR) is the one
line per call that billing and reporting read.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass(slots=True)
class TraceEvent:
    """One interpreter step (or a fault) of one call."""

    call_id: str
    seq: int
    t_ms: int  # since the call started, by the call's clock
    flow: str
    node: int
    op: str
    loc: str  # file:line:col in the DSL
    inputs: dict[str, Any]
    outcome: str  # the exit taken ("ok", "key 1", ...), "end", or "fault: ..."

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True, default=str)


@dataclass(slots=True)
class CallRecord:
    """One finished call."""

    call_id: str
    caller: str
    called: str
    flow: str
    started_at: str  # ISO 8601
    duration_ms: int
    outcome: str  # e.g. "hung up", "transferred to queue sales", "voicemail billing"
    path: list[str] = field(default_factory=list)  # "flow@node" for every step, in order
    agent: str | None = None
    queue: str | None = None
    queue_wait_ms: int = 0
    survey_score: int | None = None
    faults: list[str] = field(default_factory=list)
    outbound_refused: list[str] = field(default_factory=list)
    """Destinations refused at call time (`destination: reason`): the toll-fraud guard's
    refusals of numbers, SIP URIs and caller ids, and queues from data naming no group."""
    recordings: list[str] = field(default_factory=list)
    """WAV files the call's `record` statements stored (relative to the runtime dir)."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True, default=str)


class RecordSink(Protocol):
    def trace(self, event: TraceEvent) -> None: ...

    def call(self, record: CallRecord) -> None: ...


class NullSink:
    """Keeps nothing (benchmarks, or when only the in-memory call result matters)."""

    def trace(self, event: TraceEvent) -> None:
        pass

    def call(self, record: CallRecord) -> None:
        pass


class MemorySink:
    """Keeps everything in lists (tests, `ccc simulate`)."""

    def __init__(self) -> None:
        self.events: list[TraceEvent] = []
        self.records: list[CallRecord] = []

    def trace(self, event: TraceEvent) -> None:
        self.events.append(event)

    def call(self, record: CallRecord) -> None:
        self.records.append(record)


class JsonLinesSink:
    """Appends one JSON object per line to a trace file and a call-record file.

    Each line is written and flushed whole under a lock, so concurrent calls never interleave
    inside a line and a crash loses at most the line being written.
    """

    def __init__(self, trace_path: Path, calls_path: Path) -> None:
        trace_path.parent.mkdir(parents=True, exist_ok=True)
        calls_path.parent.mkdir(parents=True, exist_ok=True)
        self._trace = trace_path.open("a", encoding="utf-8")
        self._calls = calls_path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def trace(self, event: TraceEvent) -> None:
        with self._lock:
            self._trace.write(event.to_json() + "\n")
            self._trace.flush()

    def call(self, record: CallRecord) -> None:
        with self._lock:
            self._calls.write(record.to_json() + "\n")
            self._calls.flush()

    def close(self) -> None:
        with self._lock:
            self._trace.close()
            self._calls.close()
