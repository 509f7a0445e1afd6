"""The interpreter: one per call, walking a flow's node graph over a Channel.

`Runtime` holds what calls share (the bundle, the ACD, functions, templates, the record sink,
the clock); `Runtime.run_call` runs one call to its end and returns a `CallResult`: the outcome,
the prompts played, the variables, and the nodes and exits the call took (for coverage).

The interpreter never trusts the flow: operands were verified by `decode`, and everything that
can still go wrong at call time (a template that fails, a comparison of a string with a number,
a sub-flow nested too deep) is a `Fault` located at the node's DSL line. A fault sends the call
to the flow's error handler, or ends it cleanly with outcome `error`. A step cap ends runaway
loops. Semantics of each opcode: docs/bytecode.md.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from .acd import Acd, MemoryCallHistory, MemoryStore, Route, Staffing, identifiable
from .bundle import Bundle
from .bytecode import OPERAND_INDEX, Const, FlowImage, Node, Op, SourceLoc
from .calldata import CallData
from .channel import (
    AgentLeg,
    CallerHangup,
    Channel,
    Recorded,
    RecordRequest,
    TransferStatus,
    Utterance,
)
from .clock import Clock, SystemClock
from .durations import speech_seconds, to_ms, wav_seconds
from .expressions import Fault, evaluate
from .expressions import show as _show
from .expressions import truthy as _truthy
from .functions import (
    MAX_FUNCTION_TOTAL_MS,
    RETRY_DELAYS_MS,
    FunctionFailure,
    FunctionInvoker,
    HttpFunctions,
    retryable,
)
from .hours import HoursStatus
from .numbers import dialable, normalise
from .outbound import OutboundGuard
from .patterns import DigitPattern, best_key, compile_pattern, key_may_grow
from .records import CallRecord, NullSink, RecordSink, TraceEvent
from .templates import TemplateFault
from .values import value_problem

QUEUE_TICK_MS = 1000
"""How often a waiting call checks the queue for a free agent."""
AGENT_RING_MS = 30_000
"""How long a queue rings the chosen agent before trying again."""
DEFAULT_VOICEMAIL_MS = 120_000
MAX_FAULTS = 3
"""Faults per call before the error handler itself is no longer trusted."""
READ_ONLY_ROOTS = frozenset({"caller", "called", "call", "time", "queue"})
_ONE_MS = timedelta(milliseconds=1)
"""Durations in ms by integer division: float seconds * 1000 would drop a ms now and then."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a call ended. `describe()` is the phrase flow tests compare against."""

    kind: str  # hangup, caller-hangup, queue, agent, mobile, number, voicemail, callback,
    # transfer-failed, error, step-limit
    detail: str = ""

    def describe(self) -> str:
        return {
            "hangup": "hung up",
            "caller-hangup": "caller hung up",
            "queue": f"transferred to queue {self.detail}",
            "agent": f"transferred to agent {self.detail}",
            "mobile": f"forwarded to mobile of {self.detail}",
            "number": f"transferred to number {self.detail}",
            "sip": f"transferred to {self.detail}",
            "voicemail": f"voicemail {self.detail}",
            "callback": f"callback {self.detail}",
            "transfer-failed": f"transfer failed: {self.detail}",
            "error": f"error: {self.detail}",
            "step-limit": "step limit reached",
        }.get(self.kind, self.kind)


@dataclass(frozen=True, slots=True)
class FaultRecord:
    flow: str
    node: int
    loc: SourceLoc
    message: str

    def __str__(self) -> str:
        return f"{self.loc}: {self.message} (flow {self.flow}, node @{self.node})"


@dataclass(slots=True)
class CallResult:
    call_id: str
    outcome: Outcome
    prompts: list[Utterance]
    variables: dict[str, Any]
    visited: set[tuple[str, int]]  # (flow, node)
    edges: set[tuple[str, int, int]]  # (flow, node, exit number)
    faults: list[FaultRecord]
    steps: int
    record: CallRecord
    agent: str | None = None
    queue: str | None = None
    queue_wait_ms: int = 0
    survey_score: int | None = None


def flow_edges(image: FlowImage) -> set[tuple[int, int]]:
    """Every connected exit (node, exit number) of a flow: the universe for edge coverage."""
    return {(n.index, i) for n in image.nodes for i, t in enumerate(n.exits) if t is not None}


class Runtime:
    """What all calls on one bundle share. Safe to use for many calls, one after another or
    concurrently in one event loop (per-call state lives in the interpreter)."""

    def __init__(self, bundle: Bundle, *, clock: Clock | None = None, acd: Acd | None = None,
                 functions: FunctionInvoker | None = None, sink: RecordSink | None = None,
                 max_steps: int | None = None,
                 next_event: Callable[[], datetime | None] | None = None) -> None:
        self.bundle = bundle
        self.clock = clock or SystemClock()
        self.next_event = next_event
        """Only for a closed simulation (flow tests, `ccc simulate`: one call at a time, agent
        states changed only by the calls and by callbacks on a FakeClock): when the next of
        those callbacks is due (`FakeClock.next_due`). A queue wait then skips the polls that
        could not route, as no agent can become free before then (or the end of someone's
        after-call work); the call does what it would do polling. None: poll every
        QUEUE_TICK_MS (live calls, where agents change state at any moment)."""
        self.acd = acd or Acd(bundle.agents, MemoryStore(), MemoryCallHistory(), self.clock,
                              bundle.config.after_call_work_ms,
                              {g: m.average_handle_seconds
                               for g, m in bundle.config.skill_groups.items()})
        self.functions = functions or HttpFunctions(bundle.functions)
        self.sink = sink or NullSink()
        self.templates = bundle.templates
        self.max_steps = max_steps or bundle.config.limits.max_steps
        self.max_depth = bundle.config.limits.max_depth
        self.region = bundle.config.region
        self._prefixes = {name: tuple(e[:-1] for e in entries if e.endswith("*"))
                          for name, entries in bundle.blacklists.items()}
        self._listed = {name: frozenset(normalise(e, self.region) or e for e in entries
                                        if not e.endswith("*"))
                        for name, entries in bundle.blacklists.items()}
        self.outbound = OutboundGuard(bundle.config, self.clock)
        """The toll-fraud guard: every transfer to a number and mobile forward asks it."""

    def pattern(self, source: str) -> DigitPattern:
        """The RE2 program of a collect pattern: linear in the caller's digits."""
        return compile_pattern(source)

    def listed(self, blacklist: str, number: str) -> bool:
        """Whether `number` is on the list, compared in E.164 (so `17012345678` and
        `+86 170 1234 5678` match an entry `+8617012345678`)."""
        number = normalise(number, self.region) or number
        if number in self._listed.get(blacklist, frozenset()):
            return True
        return any(number.startswith(p) for p in self._prefixes.get(blacklist, ()))

    async def run_call(self, channel: Channel, caller: str, called: str, *,
                       flow: str | None = None, call_id: str | None = None,
                       language: str | None = None, data: CallData | None = None) -> CallResult:
        """Run one call from the flow bound to `called` (or `flow`) to its end. Both numbers
        are normalised to E.164 with the bundle's region first (a withheld caller such as
        `anonymous` stays as it is); `data` fills `call.dialled` (default: `called` as given),
        `call.source` and `call.headers`."""
        dialled = called
        caller = normalise(caller, self.region) or caller
        called = normalise(called, self.region) or called
        name = flow or self.bundle.flow_for_number(called)
        if name is None or name not in self.bundle.flows:
            raise KeyError(f"no flow for called number {called!r}" if flow is None
                           else f"no flow named {flow!r} in the bundle")
        call = Interpreter(self, channel, call_id or uuid.uuid4().hex, caller, called,
                           language or self.bundle.config.default_language)
        call.vars["call"].update((data or CallData()).values(dialled))
        return await call.run(self.bundle.flows[name])


Handler = Callable[["Interpreter", Node], Awaitable[int | None]]


class Interpreter:
    """The state of one call: where it is, its variables, type-ahead digits and counters."""

    def __init__(self, runtime: Runtime, channel: Channel, call_id: str, caller: str,
                 called: str, language: str) -> None:
        self.rt = runtime
        self.channel = channel
        self.call_id = call_id
        self.caller = caller
        self.called = called
        self.started = runtime.clock.now()
        history = runtime.acd.history
        known = identifiable(caller)
        self.vars: dict[str, Any] = {
            "caller": {"number": caller,
                       "previous_agent": history.last_agent(caller) if known else None,
                       "language": history.last_language(caller) if known else None},
            "called": {"number": called},
            "call": {"language": language, "id": call_id},
        }
        self.typeahead: list[str] = []
        self.counters: dict[tuple[str, int], list[int]] = {}
        self.retrying: tuple[str, int] | None = None
        """The input whose noinput/nomatch was counted last, until another input finishes:
        coming back to it then is its own retry, not a new entry (a menu's reset_on_entry)."""
        self.prompts: list[Utterance] = []
        self.visited: set[tuple[str, int]] = set()
        self.edges: set[tuple[str, int, int]] = set()
        self.faults: list[FaultRecord] = []
        self.path: list[str] = []
        self.outcome: Outcome | None = None
        self.agent: str | None = None
        self.queue: str | None = None
        self.queue_wait_ms = 0
        self.queue_started: datetime | None = None
        """When the call joined its current queue (for the wait of a caller who hangs up)."""
        self.survey_score: int | None = None
        self.refused: list[str] = []
        """Destinations refused (by the toll-fraud guard, or a queue from data naming no
        skill group): `destination: reason`."""
        self.recordings: dict[str, Recorded] = {}
        """The recordings this call made, by the id in their value (`record msg` -> msg.id);
        only these can be played back, so data can't name another file."""
        self.callback_group: str | None = None
        """Set when the caller took a callback offer: the call then ends as a callback."""
        self.image: FlowImage
        self.stack: list[tuple[FlowImage, int]] = []
        """Callers of the running sub-flow: (flow, index of its CALL_FLOW node)."""
        self._inputs: dict[str, Any] = {}
        self._exit_taken = ""
        self._seq = 0

    # ------------------------------------------------------------------ main loop
    async def run(self, image: FlowImage) -> CallResult:
        self.image = image
        index: int | None = image.entry
        steps = 0
        try:
            while index is not None:
                if steps >= self.rt.max_steps:
                    self.outcome = Outcome("step-limit")
                    self._fault_record(self.image.nodes[index],
                                       f"step limit of {self.rt.max_steps} reached")
                    break
                steps += 1
                node = self.image.nodes[index]
                flow = self.image.name
                self.visited.add((flow, index))
                self.path.append(f"{flow}@{index}")
                self._inputs = {}
                self._exit_taken = "end"
                try:
                    index = await HANDLERS[node.op](self, node)
                except Fault as fault:
                    self._exit_taken = f"fault: {fault}"
                    index = self._on_fault(node, str(fault))
                except CallerHangup:
                    if self.outcome is None and self.callback_group is None:
                        # a call that reached a person (or took a callback) keeps that as its
                        # outcome when the caller hangs up afterwards
                        self.outcome = Outcome("caller-hangup")
                    self._exit_taken = "caller hung up"
                    index = None
                self._trace(flow, node)
        finally:
            self.rt.acd.leave(self.call_id)
        if self.outcome is None:
            self.outcome = (Outcome("callback", self.callback_group)
                            if self.callback_group is not None else Outcome("hangup"))
        if self.channel.caller_on_line:
            with contextlib.suppress(CallerHangup):
                await self.channel.hangup()
        return self._result(steps)

    def _on_fault(self, node: Node, message: str) -> int | None:
        """Go to the error handler of this flow or, failing that, of the nearest calling flow
        that has one; end the call if there is none (or faults keep coming)."""
        self._fault_record(node, message)
        if len(self.faults) <= MAX_FAULTS:
            while self.image.error_node is None and self.stack:
                self.image = self.stack.pop()[0]
            if self.image.error_node is not None:
                self.typeahead.clear()
                return self.image.error_node
        self.outcome = Outcome("error", message)
        return None

    def _fault_record(self, node: Node, message: str) -> None:
        self.faults.append(FaultRecord(self.image.name, node.index, node.loc, message))

    def _trace(self, flow: str, node: Node) -> None:
        self._seq += 1
        if type(self.rt.sink) is NullSink:  # keeps nothing: don't build the event (flow tests)
            return
        elapsed = self.rt.clock.now() - self.started
        self.rt.sink.trace(TraceEvent(
            self.call_id, self._seq, elapsed // _ONE_MS, flow, node.index,
            node.op.name, str(node.loc), self._inputs, self._exit_taken))

    def _result(self, steps: int) -> CallResult:
        assert self.outcome is not None
        duration = self.rt.clock.now() - self.started
        record = CallRecord(
            self.call_id, self.caller, self.called, self.path[0].split("@")[0] if self.path
            else "", self.started.isoformat(), duration // _ONE_MS,
            self.outcome.describe(), list(self.path), self.agent, self.queue,
            self.queue_wait_ms, self.survey_score, [str(f) for f in self.faults],
            list(self.refused), [r.file or f"(simulated) {r.name}"
                                 for r in self.recordings.values()])
        self.rt.sink.call(record)
        user_vars = {k: v for k, v in self.vars.items() if k not in READ_ONLY_ROOTS}
        return CallResult(self.call_id, self.outcome, self.prompts, user_vars, self.visited,
                          self.edges, self.faults, steps, record, self.agent, self.queue,
                          self.queue_wait_ms, self.survey_score)

    def take(self, node: Node, number: int) -> int | None:
        """Record that exit `number` was taken; return its target (None if unconnected)."""
        self.edges.add((self.image.name, node.index, number))
        self._exit_taken = node.exit_name(number)
        return node.exits[number]

    def take_exit(self, node: Node, name: str) -> int | None:
        """Take the exit called `name` in the opcode's SPECS (`ok`, `busy`...)."""
        return self.take(node, node.exit(name))

    def take_key(self, node: Node, key: str) -> int | None:
        """Take the exit of `key`, one of the node's KEYS operand."""
        return self.take(node, node.key_exit(key))

    def end(self, outcome: Outcome) -> None:
        self.outcome = outcome

    # ------------------------------------------------------------------ variables
    def lookup(self, path: str) -> Any:
        parts = path.split(".")
        if parts[0] == "time":
            value: Any = self._time()
        else:
            value = self.vars.get(parts[0])
        for part in parts[1:]:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value

    def assign(self, path: str, value: Any) -> None:
        parts = path.split(".")
        if parts[0] in READ_ONLY_ROOTS:
            raise Fault(f"can't set {path}: {parts[0]}.* is call data")
        # copy-on-write along the path: a value another variable (or a trace event) holds
        # is never changed in place, so `set a = b` then `set a.x = 1` leaves b alone
        top: dict[str, Any] = {}
        target = top
        for part in parts[:-1]:
            nxt = (self.vars if target is top else target).get(part)
            nxt = target[part] = dict(nxt) if isinstance(nxt, dict) else {}
            target = nxt
        target[parts[-1]] = value
        # measured before it is kept: no value outgrows the limits (ccc_runtime.limits)
        problem = value_problem(top[parts[0]])
        if problem is not None:
            raise Fault(f"can't set {path}: {problem}")
        self.vars[parts[0]] = top[parts[0]]

    def _time(self) -> dict[str, Any]:
        local = self.local_now()
        return {"hour": local.hour, "minute": local.minute, "weekday": local.isoweekday(),
                "date": local.date().isoformat()}

    def template_vars(self) -> dict[str, Any]:
        return {**self.vars, "time": self._time()}

    # ------------------------------------------------------------------ expressions
    def eval(self, expr: Const) -> Any:
        """The value of an expression operand (rules: ccc_runtime.expressions)."""
        return evaluate(expr, self)

    def local_now(self) -> datetime:
        """Now in the instance's time zone (the `Scope` of expressions)."""
        return self.rt.clock.now().astimezone(self.rt.bundle.timezone)

    # ------------------------------------------------------------------ prompts and input
    def utterances(self, prompt: Const) -> list[Utterance]:
        """The items of a prompt operand, resolved for the call language and rendered."""
        assert isinstance(prompt, list)
        language = str(self.vars["call"]["language"])
        config = self.rt.bundle.config
        out = []
        for item in prompt[1:]:
            assert isinstance(item, list)
            kind, value = item
            if kind == "recording":
                out.append(Utterance(None, language, recording=self._recording(str(value))))
            elif kind == "prompt":
                variants = config.prompts[str(value)]
                lang = language if language in variants else (
                    config.default_language if config.default_language in variants
                    else sorted(variants)[0])
                variant = variants[lang]
                text = None if variant.tts is None else self._render(variant.tts)
                out.append(Utterance(str(value), lang, text, variant.file,
                                     ms=self._length_ms(text, variant.file)))
            else:
                text = self._render(_pick_text(value, language, config.default_language))
                out.append(Utterance(None, language, text, ms=self._length_ms(text, None)))
        return out

    def _length_ms(self, text: str | None, file: str | None) -> int | None:
        """How long a prompt plays (ccc_runtime.durations): a file's WAV length, where the
        bundle's files are known, else a text's speaking time."""
        if file is not None:
            root = self.rt.bundle.root
            return None if root is None else to_ms(wav_seconds(root / file))
        return None if text is None else to_ms(speech_seconds(text))

    def _recording(self, path: str) -> Recorded:
        """The recording a variable holds, only if this call made it."""
        value = self.lookup(path)
        found = self.recordings.get(str(value.get("id"))) if isinstance(value, dict) else None
        if not isinstance(found, Recorded):
            raise Fault(f"`{path}` is not a recording of this call (set it with `record`)")
        return found

    def _render(self, template: str) -> str:
        if "{" not in template:
            return template
        try:
            return self.rt.templates.render(template, self.template_vars())
        except TemplateFault as exc:
            raise Fault(str(exc)) from None

    async def play(self, prompt: Const) -> str | None:
        """Play a prompt operand; return a barge-in key (also left in the type-ahead buffer).
        A barge-in prompt is skipped when the caller has already typed ahead."""
        assert isinstance(prompt, list)
        barge_in = bool(prompt[0])
        if barge_in and self.typeahead:
            return self.typeahead[0]
        items = self.utterances(prompt)
        if not self.channel.caller_on_line:
            raise CallerHangup  # never heard: not in `prompts`
        self.prompts.extend(items)
        key = await self.channel.play(items, barge_in)
        if key is not None:
            self.typeahead.append(key)
        return key

    async def read(self, timeout_ms: int) -> str | None:
        if self.typeahead:
            return self.typeahead.pop(0)
        return await self.channel.read_digit(timeout_ms)

    def retry(self, node: Node, which: str, limit: int, forever: bool = False) -> int | None:
        """Count a `noinput` or `nomatch`; take its exit, or `exhausted` once the limit is used
        up (never when `forever`). An unconnected noinput/nomatch exit asks again."""
        key = (self.image.name, node.index)
        counters = self.counters.setdefault(key, [0, 0])
        self.typeahead.clear()
        self.retrying = key
        counter = 0 if which == "noinput" else 1
        if counters[counter] >= limit and not forever:
            counters[0] = counters[1] = 0
            return self.take_exit(node, "exhausted")
        counters[counter] += 1
        target = self.take_exit(node, which)
        return node.index if target is None else target

    def reset_counters(self, node: Node) -> None:
        self.counters.pop((self.image.name, node.index), None)
        self.retrying = None


# ---------------------------------------------------------------------- helpers


def _pick_text(value: Const, language: str, default: str) -> str:
    if isinstance(value, str):
        return value
    assert isinstance(value, list)
    texts = {p[0]: str(p[1]) for p in value if isinstance(p, list)}
    for lang in (language, None, default):
        if lang in texts:
            return texts[lang]
    return texts[sorted(k for k in texts if k is not None)[0]]


def _ops(node: Node) -> Sequence[Any]:
    return node.operands


def _int(node: Node, name: str) -> int:
    """An INT operand by its SPECS name (decode checked its type)."""
    value = node.operand(name)
    assert isinstance(value, int)
    return value


# ---------------------------------------------------------------------- opcode handlers


async def _play(vm: Interpreter, node: Node) -> int | None:
    key = await vm.play(node.operand("prompt"))
    vm._inputs = {"key": key}
    if key is not None and node.exits[node.exit("keyed")] is not None:
        return vm.take_exit(node, "keyed")
    return vm.take_exit(node, "next")


async def _menu(vm: Interpreter, node: Node) -> int | None:
    """Keys are literal or patterns (patterns.parse_key). After each digit the menu waits the
    interdigit timeout only while a longer key could still match; then the most specific key
    matching all the digits is taken (`menu.key` the key as written, `menu.input` the digits)."""
    (prompt, timeout, interdigit, ni_max, nm_max, keys, ni_forever, nm_forever,
     reset) = _ops(node)
    if reset and vm.retrying != (vm.image.name, node.index):
        vm.counters.pop((vm.image.name, node.index), None)
    vm.retrying = None
    if not vm.typeahead:
        await vm.play(prompt)
    digits = ""
    while True:
        digit = await vm.read(interdigit if digits else timeout)
        if digit is None:
            if not digits:
                vm._inputs = {"digits": ""}
                return vm.retry(node, "noinput", ni_max, ni_forever)
            break
        digits += digit
        if not key_may_grow(keys, digits):
            break
    vm._inputs = {"digits": digits}
    key = best_key(keys, digits)
    if key is None:
        return vm.retry(node, "nomatch", nm_max, nm_forever)
    vm.reset_counters(node)
    vm.vars["menu"] = {"key": key, "input": digits}
    return vm.take_key(node, key)


async def _collect(vm: Interpreter, node: Node) -> int | None:
    var, prompt, lo, hi, terminator, timeout, interdigit, pattern, ni_max, nm_max = _ops(node)
    if not vm.typeahead:
        await vm.play(prompt)
    digits = ""
    terminated = False
    while len(digits) < hi:
        digit = await vm.read((interdigit or timeout) if digits else timeout)
        if digit is None:
            break
        if digit == terminator:
            terminated = True
            break
        digits += digit
    vm._inputs = {"digits": digits, "terminated": terminated}
    if not digits and not terminated:
        return vm.retry(node, "noinput", ni_max)
    vm.assign(var, digits)
    if not lo <= len(digits) <= hi or (
            pattern is not None and vm.rt.pattern(pattern).fullmatch(digits) is None):
        return vm.retry(node, "nomatch", nm_max)
    vm.reset_counters(node)
    return vm.take_exit(node, "ok")


async def _survey(vm: Interpreter, node: Node) -> int | None:
    prompt, lo, hi, var, timeout, ni_max, nm_max, thanks = _ops(node)
    if not vm.typeahead:
        await vm.play(prompt)
    digit = await vm.read(timeout)
    vm._inputs = {"key": digit}
    if digit is None:
        return vm.retry(node, "noinput", ni_max)
    if not (digit.isdigit() and lo <= int(digit) <= hi):
        return vm.retry(node, "nomatch", nm_max)
    vm.reset_counters(node)
    vm.assign(var, int(digit))
    vm.survey_score = int(digit)
    if thanks is not None:
        await vm.play(thanks)
    return vm.take_exit(node, "ok")


async def _hours(vm: Interpreter, node: Node) -> int | None:
    status = vm.rt.bundle.schedules[str(node.operand("schedule"))].status(vm.rt.clock.now())
    vm._inputs = {"status": status.value}
    if status is HoursStatus.HOLIDAY and node.exits[node.exit("holiday")] is None:
        status = HoursStatus.CLOSED
    return vm.take_exit(node, status.value)  # the exits are named as the statuses


async def _blacklist(vm: Interpreter, node: Node) -> int | None:
    subject = vm.eval(node.operand("subject"))
    if not isinstance(subject, str):
        subject = "" if subject is None else str(subject)
    listed = vm.rt.listed(str(node.operand("list")), subject)
    vm._inputs = {"subject": subject}
    return vm.take_exit(node, "listed" if listed else "clear")


async def _set(vm: Interpreter, node: Node) -> int | None:
    value = vm.eval(node.operand("value"))
    vm.assign(str(node.operand("var")), value)
    vm._inputs = {"value": value}
    return vm.take_exit(node, "next")


async def _branch(vm: Interpreter, node: Node) -> int | None:
    value = vm.eval(node.operand("cond"))
    vm._inputs = {"value": value}
    return vm.take_exit(node, "true" if _truthy(value) else "false")


async def _call_function(vm: Interpreter, node: Node) -> int | None:
    """Call a function, trying again up to `retries` times after a timeout or a 5xx (after a
    pause of RETRY_DELAYS_MS), while the next attempt can end within MAX_FUNCTION_TOTAL_MS of
    the first; a timeout takes the `timeout` exit (`error` when it is not connected), any other
    failure `error`."""
    name, args_op, timeout, result_var, retries = _ops(node)
    args = {str(pair[0]): vm.eval(pair[1]) for pair in args_op}
    spec = vm.rt.bundle.functions.get(name)
    timeout = timeout or (spec.timeout_ms if spec is not None else 0)
    vm._inputs = {"function": name, "args": args}
    start = vm.rt.clock.now()
    attempt = 0
    while True:
        attempt += 1
        try:
            reply = await vm.rt.functions.call(name, args, timeout)
            break
        except FunctionFailure as failure:
            spent = _ms_since(vm, start)
            wait = RETRY_DELAYS_MS[min(attempt, len(RETRY_DELAYS_MS)) - 1]
            if attempt <= retries and retryable(failure) and (
                    spent + wait + timeout <= MAX_FUNCTION_TOTAL_MS):
                await vm.channel.pause(wait, False)  # silence, as between two attempts
                continue
            vm._inputs["error"] = str(failure)
            vm._inputs["attempts"] = attempt
            if failure.kind == "timeout" and node.exits[node.exit("timeout")] is not None:
                return vm.take_exit(node, "timeout")
            return vm.take_exit(node, "error")
    if attempt > 1:
        vm._inputs["attempts"] = attempt
    vm.assign(result_var, reply)
    return vm.take_exit(node, "ok")


async def _staffing(vm: Interpreter, node: Node) -> int | None:
    status = vm.rt.acd.staffing(str(node.operand("group")))
    vm._inputs = {"staffing": status.value}
    return vm.take_exit(node, status.value)  # the exits are named as the statuses


async def _connect(vm: Interpreter, route: Route, timeout_ms: int) -> TransferStatus:
    """Ring a routed agent (or their mobile) and settle the ACD afterwards."""
    agent = route.agent
    try:
        if route.to_mobile:
            assert agent.mobile is not None
            status = await _dial(vm, agent.mobile, timeout_ms)
        else:
            status = await vm.channel.connect_agent(AgentLeg(agent.user, agent.address),
                                                    timeout_ms)
    except CallerHangup:  # the caller left before the agent answered: free the agent
        vm.rt.acd.finish(route, vm.caller, answered=False)
        raise
    answered = status is TransferStatus.ANSWERED
    vm.rt.acd.finish(route, vm.caller, answered)
    if answered:
        vm.agent = agent.user
    return status


async def _queue(vm: Interpreter, node: Node) -> int | None:
    """Queue for a skill group. A fault while waiting (an announcement's template) takes the
    call out of the queue before the error handler runs, so it blocks no one; a caller who
    hangs up while waiting still has the wait recorded (abandoned calls count)."""
    vm.queue_started = None
    try:
        return await _queue_wait(vm, node)
    except Fault:
        vm.rt.acd.leave(vm.call_id)
        raise
    except CallerHangup:
        if vm.queue_started is not None:
            vm.queue_wait_ms = _ms_since(vm, vm.queue_started)
        raise


async def _queue_wait(vm: Interpreter, node: Node) -> int | None:
    group, prio_expr, timeout, routing, hold, announcements, offers, keys = _ops(node)[:8]
    group_from = node.operand("group_from")
    if group_from != ["const", None]:  # a group from data: it must be one of the bundle's
        named = vm.eval(group_from)
        vm._inputs = {"group": named}
        if not isinstance(named, str) or named not in vm.rt.bundle.config.skill_groups:
            return _refused(vm, node, f"queue {_show(named)}", "not a skill group")
        group = named
    ops, at = _ops(node), OPERAND_INDEX[Op.QUEUE]
    capacity, when_empty, script = ops[at["capacity"]], ops[at["when_empty"]], ops[at["script"]]
    acd = vm.rt.acd
    priority = vm.eval(prio_expr)
    if priority is None:
        priority = 0
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise Fault(f"queue priority must be an integer, got {_show(priority)}")
    vm.queue = group
    vm._inputs = {"group": group, "priority": priority}
    if acd.staffing(group) is Staffing.NONE:
        mobile = acd.mobile_fallback(group)
        if mobile is not None:
            status = await _connect(vm, Route(mobile, to_mobile=True), AGENT_RING_MS)
            vm._inputs["mobile"] = mobile.user
            if status is TransferStatus.ANSWERED:
                vm.end(Outcome("mobile", mobile.user))
                return vm.take_exit(node, "done")
        if when_empty != "wait":
            return _queue_refused(vm, node, "busy")
    if capacity and acd.waiting(group) >= capacity:
        vm._inputs["waiting"] = acd.waiting(group)
        return _queue_refused(vm, node, "full")
    entry = acd.enqueue(vm.call_id, group, vm.caller, priority)
    start = vm.queue_started = vm.rt.clock.now()
    next_announce = [int(a[1]) for a in announcements]
    next_play: list[int | None] = [int(p[0]) for p in script]
    offered: list[bool] = [False] * len(offers)
    hold_items = vm.utterances(hold) if hold is not None else []
    music = [replace(u, kind="music") for u in hold_items]
    music_until = -1  # the length of the prompt list when music was last listed in it
    while True:
        route = acd.try_route(entry, familiar=routing == "familiar")
        if route is not None:
            vm.queue_wait_ms = _ms_since(vm, start)
            vm._inputs["agent"] = route.agent.user
            status = await _connect(vm, route, AGENT_RING_MS)
            if status is TransferStatus.ANSWERED:
                vm.end(Outcome("queue", group))
                return vm.take_exit(node, "done")
            acd.requeue(entry)
        elapsed = _ms_since(vm, start)
        if elapsed >= timeout:
            acd.leave(vm.call_id)
            vm.queue_wait_ms = elapsed
            return vm.take_exit(node, "timeout")
        if route is not None:  # the agent didn't answer: try the next one at once
            continue
        key: str | None = None
        for i, (_, every, prompt) in enumerate(announcements):
            if every and prompt is not None and elapsed >= next_announce[i] and key is None:
                next_announce[i] += every
                _queue_vars(vm, group)
                key = await vm.play(prompt)
        for i, (_, every, action) in enumerate(script):
            due = next_play[i]
            if due is not None and elapsed >= due and key is None:
                next_play[i] = _next_due(due, int(every), elapsed)
                if action == "staffing":  # `check staffing`: give up on an empty group
                    if acd.staffing(group) is Staffing.NONE:
                        acd.leave(vm.call_id)
                        vm.queue_wait_ms = elapsed
                        vm._inputs["check"] = "nobody logged in"
                        return _queue_refused(vm, node, "busy")
                    continue
                _queue_vars(vm, group)
                key = await vm.play(action)
        for j, (_, after, _, prompt) in enumerate(offers):
            if not offered[j] and elapsed >= after and key is None:
                offered[j] = True
                if prompt is not None:
                    key = await vm.play(prompt)
        if key is None:
            waits = [timeout - elapsed, _poll_ms(vm, group, start, elapsed, timeout)]
            waits += [t - elapsed for t, a in zip(next_announce, announcements, strict=True)
                      if a[1] and a[2] is not None]
            waits += [int(o[1]) - elapsed for o, done in zip(offers, offered, strict=True)
                      if not done]
            waits += [t - elapsed for t in next_play if t is not None]
            accepted = frozenset(keys) | {str(o[2]) for o, done in zip(offers, offered,
                                                                      strict=True) if done}
            if music and len(vm.prompts) != music_until:  # listed once per stretch of it
                vm.prompts.extend(music)
                music_until = len(vm.prompts)
            key = await vm.channel.hold(hold_items, max(1, min(waits)), accepted)
        vm.typeahead.clear()
        if key is None:
            continue
        if key in keys:
            acd.leave(vm.call_id)
            vm.queue_wait_ms = _ms_since(vm, start)
            vm._inputs["key"] = key
            return vm.take_key(node, key)
        for j, (kind, _, offer_key, _) in enumerate(offers):
            if offered[j] and key == offer_key:
                acd.leave(vm.call_id)
                vm.queue_wait_ms = _ms_since(vm, start)
                vm._inputs["key"] = key
                return await _take_offer(vm, node, str(kind), group)


def _poll_ms(vm: Interpreter, group: str, start: datetime, elapsed: int, timeout: int) -> int:
    """How long a waiting call holds before it next asks for an agent: QUEUE_TICK_MS or, in a
    closed simulation (`Runtime.next_event`), the whole run of polls that would find nobody,
    up to the first poll at or after the next change (the other waits cap it as they cap
    each poll). Only when nothing was played since the last poll: `elapsed` is then now."""
    if vm.rt.next_event is None or _ms_since(vm, start) != elapsed:
        return QUEUE_TICK_MS
    changes = [t for t in (vm.rt.next_event(), vm.rt.acd.next_release(group)) if t is not None]
    if not changes:  # nobody will become free: hold until the timeout (or an earlier wait)
        return max(QUEUE_TICK_MS, timeout - elapsed)
    polls = -(-(min(changes) - vm.rt.clock.now()) // timedelta(milliseconds=QUEUE_TICK_MS))
    return max(1, polls) * QUEUE_TICK_MS


def _queue_refused(vm: Interpreter, node: Node, why: str) -> int | None:
    """The queue can't take the call (`busy`: nobody logged in; `full`: at capacity): the
    exit of that name, else `busy`, else `timeout`."""
    for name in (why, "busy"):
        if node.exits[node.exit(name)] is not None:
            return vm.take_exit(node, name)
    return vm.take_exit(node, "timeout")


def _queue_vars(vm: Interpreter, group: str) -> None:
    """`queue.*` for the templates of an in-queue play: the caller's place and the wait."""
    position = vm.rt.acd.position(vm.call_id, group)
    vm.vars["queue"] = {"group": group, "position": position,
                        "wait_seconds": vm.rt.acd.expected_wait_s(group, position)}


def _next_due(due: int, every: int, elapsed: int) -> int | None:
    """When a script play is due next: None after a one-time play (`every` 0), else the
    first of its periods after `elapsed` (periods missed while the caller heard something
    else are skipped, not played in a row)."""
    if not every:
        return None
    missed = (elapsed - due) // every + 1
    return due + missed * every


async def _take_offer(vm: Interpreter, node: Node, kind: str, group: str) -> int | None:
    """A callback is requested as soon as the caller takes the offer, whether or not the flow
    goes on (to say goodbye, say); a voicemail offer with a connected exit leaves the recording
    to the flow."""
    if kind == "callback":
        vm.rt.acd.request_callback(vm.call_id, group, vm.caller)
        vm.callback_group = group
    target = vm.take_exit(node, kind)  # the `voicemail` or `callback` exit
    if target is not None:
        return target
    if kind == "voicemail":
        await vm.channel.record_voicemail(group, DEFAULT_VOICEMAIL_MS)
        vm.end(Outcome("voicemail", group))
    else:
        vm.end(Outcome("callback", group))
    return None


def _ms_since(vm: Interpreter, start: datetime) -> int:
    return (vm.rt.clock.now() - start) // _ONE_MS


async def _transfer_agent(vm: Interpreter, node: Node) -> int | None:
    user = vm.eval(node.operand("agent"))
    if not isinstance(user, str):
        raise Fault(f"transfer to agent needs a userName, got {_show(user)}")
    vm._inputs = {"agent": user}
    route = vm.rt.acd.route_to_agent(user)
    status = TransferStatus.BUSY if route is None else await _connect(
        vm, route, _int(node, "timeout_ms"))
    vm._inputs["status"] = status.value
    if status is TransferStatus.ANSWERED:
        assert route is not None
        vm.end(Outcome("mobile" if route.to_mobile else "agent", user))
    target = vm.take_exit(node, _TRANSFER_EXITS[status])
    if target is None and status is not TransferStatus.ANSWERED:
        vm.end(Outcome("transfer-failed", f"agent {user} {status.value}"))
    return target


_TRANSFER_EXITS = {TransferStatus.ANSWERED: "done", TransferStatus.BUSY: "busy",
                   TransferStatus.NO_ANSWER: "timeout"}
"""The exit a transfer takes for how the other side answered."""


async def _dial(vm: Interpreter, number: str, timeout_ms: int) -> TransferStatus:
    """An outbound leg, only with the toll-fraud guard's grant (outbound.py); a refusal is
    recorded and taken as busy."""
    grant = vm.rt.outbound.authorize(vm.call_id, number)
    if isinstance(grant, str):
        vm.refused.append(f"{number}: {grant}")
        vm._inputs["refused"] = grant
        return TransferStatus.BUSY
    try:
        return await vm.channel.transfer_number(grant.number, timeout_ms)
    finally:
        grant.release()


def _refused(vm: Interpreter, node: Node, what: str, reason: str) -> int | None:
    """A destination refused at call time: recorded in the trace and the call record, then the
    `failed` exit, else `busy`; with neither the call ends as a failed transfer."""
    vm.refused.append(f"{what}: {reason}")
    vm._inputs["refused"] = reason
    for name in ("failed", "busy"):
        if node.exits[node.exit(name)] is not None:
            return vm.take_exit(node, name)
    vm.end(Outcome("transfer-failed", f"{what} refused: {reason}"))
    return None


def _caller_id(vm: Interpreter, node: Node) -> tuple[bool, str | None]:
    """The caller id a transfer asks to show (None: the policy's choice), and whether it is
    text at all (a number or a list is refused)."""
    value = vm.eval(node.operand("caller_id"))
    if value is None or isinstance(value, str):
        return True, value
    return False, None


def _bridged(vm: Interpreter, node: Node, status: TransferStatus,
                   outcome: Outcome) -> int | None:
    """After an outbound leg: the exit for how it went, the outcome when it was answered."""
    vm._inputs["status"] = status.value
    if status is TransferStatus.ANSWERED:
        vm.end(outcome)
    target = vm.take_exit(node, _TRANSFER_EXITS[status])
    if target is None and status is not TransferStatus.ANSWERED:
        vm.end(Outcome("transfer-failed", f"{outcome.detail} {status.value}"))
    return target


async def _transfer_number(vm: Interpreter, node: Node) -> int | None:
    """A number (from data too) is normalised to E.164 with the instance's region; the guard
    decides; a refusal takes `failed`."""
    raw = vm.eval(node.operand("number"))
    vm._inputs = {"number": raw}
    number = dialable(raw, vm.rt.region) if isinstance(raw, str) else None
    if number is None:
        return _refused(vm, node, _show(raw), "not a phone number")
    text, caller_id = _caller_id(vm, node)
    if not text:
        return _refused(vm, node, number, "the caller id is not a phone number")
    grant = vm.rt.outbound.authorize(vm.call_id, number, caller_id)
    if isinstance(grant, str):
        return _refused(vm, node, number, grant)
    vm._inputs["caller_id"] = grant.caller_id
    try:
        status = await vm.channel.transfer_number(grant.number, _int(node, "timeout_ms"))
    finally:
        grant.release()
    return _bridged(vm, node, status, Outcome("number", grant.number))


async def _transfer_sip(vm: Interpreter, node: Node) -> int | None:
    """A SIP URI, only to a host the outbound policy lists (and, when its user part is a
    phone number, only one the number rules allow)."""
    raw = vm.eval(node.operand("uri"))
    vm._inputs = {"uri": raw}
    if not isinstance(raw, str):
        return _refused(vm, node, _show(raw), "not a SIP URI")
    text, caller_id = _caller_id(vm, node)
    if not text:
        return _refused(vm, node, raw[:80], "the caller id is not a phone number")
    grant = vm.rt.outbound.authorize_sip(vm.call_id, raw, caller_id)
    if isinstance(grant, str):
        return _refused(vm, node, raw[:80], grant)
    vm._inputs["caller_id"] = grant.caller_id
    try:
        status = await vm.channel.transfer_sip(grant.uri, grant.caller_id,
                                               _int(node, "timeout_ms"))
    finally:
        grant.release()
    return _bridged(vm, node, status, Outcome("sip", grant.uri))


async def _voicemail(vm: Interpreter, node: Node) -> int | None:
    """Record a message; then the `done` exit when written, else the call ends."""
    box, prompt, max_ms = _ops(node)
    if prompt is not None:
        await vm.play(prompt)
    vm.typeahead.clear()
    length = await vm.channel.record_voicemail(box, max_ms)
    vm._inputs = {"box": box, "length_ms": length}
    vm.end(Outcome("voicemail", box))
    if node.exits[node.exit("done")] is not None:
        return vm.take_exit(node, "done")
    return vm.take_exit(node, "next")


async def _record(vm: Interpreter, node: Node) -> int | None:
    """Record the caller into a variable: `{id, length_ms, file, ended_by, box}`, where
    `file` is the WAV's place in the runtime directory (a reference to pass to a function,
    never the audio itself). The flow goes on, even after the caller hung up mid-recording
    (the next statement that needs the caller meets the hang-up)."""
    var, max_ms, silence_ms, beep, terminator, box = _ops(node)
    vm.typeahead.clear()
    got = await vm.channel.record(RecordRequest(var, max_ms, silence_ms, beep, terminator,
                                                box))
    ident = f"{vm.call_id}/{var}"
    vm.recordings[ident] = got
    vm.assign(var, {"id": ident, "length_ms": got.length_ms, "file": got.file,
                    "ended_by": got.ended_by, "box": box})
    vm._inputs = {"length_ms": got.length_ms, "ended_by": got.ended_by, "file": got.file}
    return vm.take_exit(node, "next")


async def _pause(vm: Interpreter, node: Node) -> int | None:
    """Silence; a barge-in key ends it and stays in the type-ahead for the next input."""
    duration, barge_in = _int(node, "duration_ms"), bool(node.operand("barge_in"))
    if barge_in and vm.typeahead:
        key: str | None = vm.typeahead[0]
    else:
        vm.prompts.append(Utterance(None, str(vm.vars["call"]["language"]), ms=duration,
                                    kind="pause"))
        key = await vm.channel.pause(duration, barge_in)
        if key is not None:
            vm.typeahead.append(key)
    vm._inputs = {"duration_ms": duration, "key": key}
    return vm.take_exit(node, "next")


async def _set_language(vm: Interpreter, node: Node) -> int | None:
    language = vm.eval(node.operand("language"))
    if language not in vm.rt.bundle.config.languages:
        raise Fault(f"unknown language {_show(language)}; the bundle has "
                    f"{', '.join(vm.rt.bundle.config.languages)}")
    vm.vars["call"] = {**vm.vars["call"], "language": language}
    if identifiable(vm.caller):
        vm.rt.acd.history.remember_language(vm.caller, language)
    vm._inputs = {"language": language}
    return vm.take_exit(node, "next")


async def _call_flow(vm: Interpreter, node: Node) -> int | None:
    if len(vm.stack) >= vm.rt.max_depth:
        raise Fault(f"sub-flows nested deeper than {vm.rt.max_depth}")
    # the exit after the call is taken (for coverage) only when the sub-flow returns
    vm.stack.append((vm.image, node.index))
    vm._exit_taken = node.exit_name(node.exit("next"))
    vm.image = vm.rt.bundle.flows[str(node.operand("flow"))]
    vm._inputs = {"flow": vm.image.name}
    return vm.image.entry


async def _return(vm: Interpreter, node: Node) -> int | None:
    if not vm.stack:
        return None
    vm.image, call = vm.stack.pop()
    target = vm.take_exit(vm.image.nodes[call], "next")
    vm._exit_taken = f"return to {vm.image.name}"
    return target


async def _hangup(vm: Interpreter, node: Node) -> int | None:
    return None


HANDLERS: Mapping[Op, Handler] = {
    Op.PLAY: _play, Op.MENU: _menu, Op.COLLECT: _collect, Op.HOURS: _hours,
    Op.BLACKLIST: _blacklist, Op.SET: _set, Op.BRANCH: _branch,
    Op.CALL_FUNCTION: _call_function, Op.STAFFING: _staffing, Op.QUEUE: _queue,
    Op.TRANSFER_AGENT: _transfer_agent, Op.TRANSFER_NUMBER: _transfer_number,
    Op.VOICEMAIL: _voicemail, Op.SURVEY: _survey, Op.SET_LANGUAGE: _set_language,
    Op.CALL_FLOW: _call_flow, Op.RETURN: _return, Op.HANGUP: _hangup,
    Op.TRANSFER_SIP: _transfer_sip, Op.RECORD: _record, Op.PAUSE: _pause,
}
