"""Run flow tests: build the repo's runtime bundle (pipeline.cached_bundle), run every test's
call on the runtime's interpreter with a fake clock and a scripted caller, compare with what is
expected.

All calls run in ONE event loop (an `asyncio.run` per call would cost about a millisecond
each); each test gets a fresh `Runtime` (its own ACD state, call history and clock), so tests
never see each other.
"""

from __future__ import annotations

import asyncio
import fnmatch
import gc
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from ccc_runtime.acd import AgentState
from ccc_runtime.bundle import Bundle
from ccc_runtime.calldata import CallData
from ccc_runtime.channel import TransferStatus, Utterance
from ccc_runtime.clock import FakeClock
from ccc_runtime.functions import FunctionFailure, InTurn, StubFunctions
from ccc_runtime.numbers import normalise
from ccc_runtime.simchannel import SimChannel
from ccc_runtime.sipuri import SipTarget, parse_sip_target
from ccc_runtime.vm import CallResult, Runtime

from ccc_dsl.commands.common import repo_path
from ccc_dsl.diagnostics import Diagnostic, Span, error, has_errors, sorted_diagnostics
from ccc_dsl.flowtest import prebuild as helper_build
from ccc_dsl.flowtest.coverage import FlowCoverage, measure
from ccc_dsl.flowtest.model import (
    AgentEvent,
    CallSetup,
    CaseSpec,
    Expect,
    FunctionExpect,
    FunctionStub,
    History,
    SuiteFile,
    TransferName,
    load_test_file,
    merged,
)
from ccc_dsl.manifest import ROOT_FILE
from ccc_dsl.manifest.parsed import PathKey
from ccc_dsl.pipeline import cached_bundle, find_repo_root
from ccc_dsl.util import did_you_mean

TEST_GLOBS = ("*.yaml", "*.yml")


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One expectation that did not hold."""

    what: str
    expected: Any
    actual: Any

    def describe(self) -> str:
        return f"{self.what}: expected {_show(self.expected)}, got {_show(self.actual)}"


@dataclass(frozen=True, slots=True)
class CallPlan:
    """One call of a test, checked against the bundle: its merged setup and expectations.
    `agents`, `events` and `history` are what changes at its start: for the first call all of
    the setup's, for a scenario's later calls only what that call writes itself (the ACD and
    the call history go on from the call before). `at` is set when the call gives its own
    start time, else it starts `after_ms` after the call before ended."""

    label: str
    setup: CallSetup
    expect: Expect
    flow: str
    called: str
    stubs: dict[str, Any]
    agents: dict[str, str]
    events: list[AgentEvent]
    history: History | None
    at: datetime | None = None
    after_ms: int = 0


@dataclass(slots=True)
class Case:
    """One test, with its file's defaults merged in and its stubs read."""

    file: SuiteFile
    index: int
    spec: CaseSpec
    setup: CallSetup
    flow: str
    called: str
    stubs: dict[str, Any]
    plans: list[CallPlan] = field(default_factory=list)
    """Its calls in order: one, or a scenario's (the fields above are the first call's)."""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def id(self) -> str:
        return f"{self.file.display}::{self.spec.name}"

    @property
    def span(self) -> Span:
        return self.file.span(("tests", self.index, "name"))


@dataclass(slots=True)
class CaseResult:
    case: Case
    mismatches: list[Mismatch]
    result: CallResult
    log: list[str]
    seconds: float

    @property
    def passed(self) -> bool:
        return not self.mismatches


@dataclass(slots=True)
class RunReport:
    """Everything `ccc test` prints: results, coverage, and problems with the inputs."""

    results: list[CaseResult] = field(default_factory=list)
    coverage: list[FlowCoverage] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: list[SuiteFile] = field(default_factory=list)
    deselected: int = 0
    unchanged: int = 0
    """Tests not run again by `--changed` (nothing they ran through changed, and they passed)."""
    seconds: float = 0.0

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def failed(self) -> int:
        return len(self.results) - self.passed

    def below(self, min_coverage: float | None) -> list[FlowCoverage]:
        """Flows whose edge coverage is under `min_coverage` percent."""
        if min_coverage is None:
            return []
        return [c for c in self.coverage if c.edge_percent + 1e-9 < min_coverage]

    def ok(self, min_coverage: float | None = None) -> bool:
        return (not has_errors(self.diagnostics) and self.failed == 0
                and not self.below(min_coverage))


# ------------------------------------------------------------------------------ discovery

def discover(path: Path) -> tuple[Path | None, list[Path], list[Diagnostic]]:
    """The config repo and the test files for PATH: a repo folder (its `tests/`), a folder of
    test files, or one test file. Display paths keep PATH's spelling."""
    root = find_repo_root(path)
    if root is None:
        return None, [], [error("T710", f"no {ROOT_FILE} in {path} or any folder above it",
                                Span.point(str(path), 1, 1),
                                "run `ccc test` on a config repo, or a test file inside one")]
    root = repo_path(path if path.is_dir() else path.parent)  # spelt as `ccc validate` does
    if path.is_file():
        files = [path]
    else:
        folder = path / "tests" if (path / ROOT_FILE).is_file() else path
        files = sorted({f for g in TEST_GLOBS for f in folder.rglob(g) if f.is_file()})
    if not files:
        at_root = (path / ROOT_FILE).is_file()
        where = path / "tests" if at_root else path
        hint = "write test files as tests/*.yaml in the config repo"
        if not at_root and path.is_dir():  # `ccc test` from flows/: point at the repo
            hint += f", or run `ccc test {root}` for the repo's tests"
        return root, [], [error("T711", f"no flow tests found in {where}",
                                Span.point(str(where), 1, 1), hint)]
    return root, files, []


# ------------------------------------------------------------------------------ checks

def _where(index: int, spec: CaseSpec, name: str, key: str | int | None = None,
           call: int | None = None) -> PathKey:
    """Where a merged setting (or one `key` of a merged mapping) was written: in the
    scenario's `call` (when given), else in the test, else in the file's defaults."""
    if call is not None and spec.calls is not None and _written(spec.calls[call], name, key):
        return ("tests", index, "calls", call, name)
    if _written(spec, name, key):
        return ("tests", index, name)
    return ("defaults", name)


def _written(model: CallSetup, name: str, key: str | int | None) -> bool:
    """Whether `model` itself writes setting `name` (and, for a mapping, its `key`)."""
    own = getattr(model, name) if name in model.model_fields_set else None
    return name in model.model_fields_set and not (
        isinstance(key, str) and isinstance(own, dict) and key not in own)


def prepare(file: SuiteFile, bundle: Bundle) -> tuple[list[Case], list[Diagnostic]]:
    """The file's tests as runnable cases, and T71x diagnostics for names the bundle lacks."""
    assert file.model is not None
    cases: list[Case] = []
    problems: list[Diagnostic] = []
    seen: dict[str, int] = {}
    for index, spec in enumerate(file.model.tests):
        if spec.name in seen:
            problems.append(error("T719", f"two tests named `{spec.name}` in this file",
                                  file.span(("tests", index, "name")),
                                  f"the first is test #{seen[spec.name] + 1}; rename one"))
        seen.setdefault(spec.name, index)
        setup = merged(file.model.defaults, spec)
        if spec.calls is None:
            assert spec.expect is not None
            steps: list[tuple[CallSetup, Expect, int | None]] = [(setup, spec.expect, None)]
        else:
            steps = [(merged(setup, c), c.expect, i) for i, c in enumerate(spec.calls)]
        before = len(problems)
        plans = [_plan(file, bundle, index, spec, *step, problems) for step in steps]
        _check_order(file, index, spec, steps[0][0], problems)
        if len(problems) > before or None in plans:
            continue
        ready = [p for p in plans if p is not None]
        first = ready[0]
        cases.append(Case(file, index, spec, first.setup, first.flow, first.called,
                          first.stubs, ready))
    return cases, problems


def _plan(file: SuiteFile, bundle: Bundle, index: int, spec: CaseSpec, setup: CallSetup,
          expect: Expect, call: int | None, problems: list[Diagnostic]) -> CallPlan | None:
    """One call's plan, or None with the problems found (T71x) added to `problems`."""
    before = len(problems)

    def span(name: str, *rest: str | int, key: bool = False) -> Span:
        return file.span((*_where(index, spec, name, rest[0] if rest else None, call),
                          *rest), key)

    label = "" if call is None else f"call {call + 1}"
    test_span = file.span(("tests", index) if call is None else ("tests", index, "calls", call),
                          key=False)
    for needed in ("caller", "at"):
        if getattr(setup, needed) is None:
            problems.append(error(
                "T718", f"test `{spec.name}` has no `{needed}`", test_span,
                f"set `{needed}:` in the test or in the file's `defaults`"))
    flow = setup.flow
    called = setup.called
    if flow is None and called is None:
        problems.append(error("T714", f"test `{spec.name}` says neither `flow` nor `called`",
                              test_span, "name the flow to call, or the number dialled"))
    elif flow is not None and flow not in bundle.flows:
        problems.append(error("T713", f"no flow `{flow}` in the repo", span("flow"),
                              did_you_mean(flow, set(bundle.flows))))
    elif flow is None and called is not None:
        flow = bundle.flow_for_number(called)
        if flow is None:
            problems.append(error(
                "T715", f"no flow is bound to the number {called}", span("called"),
                "numbers are written in E.164, e.g. +864008201234"))
    languages = bundle.config.languages
    if setup.language is not None and setup.language not in languages:
        problems.append(error("T703", f"no language `{setup.language}` in the repo",
                              span("language"),
                              did_you_mean(setup.language, set(languages))
                              or "languages: " + ", ".join(languages)))
    if setup.numbers:
        setup.numbers, wrong = _dialled(setup.numbers, bundle.config.region)
        problems += [error("T725", f"`{number}` under `numbers:` is not a phone number or "
                           "SIP URI", span("numbers", number, key=True), "key each outside "
                           "number or SIP URI the flow dials by it, e.g. \"+8613800138000\" or "
                           "\"sip:100@pbx.example.com\"")
                     for number in wrong]
    # a scenario's later calls change only what they write themselves
    own: CallSetup = setup if call is None or call == 0 or spec.calls is None \
        else spec.calls[call]
    agents = {a.user for a in bundle.agents}
    named = [(user, span("agents", user, key=True)) for user in own.agents or {}]
    named += [(user, span("agent_answers", user, key=True))
              for user in setup.agent_answers or {}]
    named += [(ev.agent, span("events", i, "agent")) for i, ev in enumerate(own.events or [])]
    if own.history is not None and own.history.agent is not None:
        named.append((own.history.agent, span("history", "agent")))
    for user, where in named:
        if user not in agents:
            problems.append(error("T716", f"no agent `{user}` in the repo", where,
                                  did_you_mean(user, agents)))
    groups = set(bundle.config.skill_groups)
    problems += [error("T703", f"no skill group `{group}` in the repo",
                       span("waiting", group, key=True), did_you_mean(group, groups))
                 for group in own.waiting or {} if group not in groups]
    stubs: dict[str, Any] = {}
    for fname, stub in (setup.functions or {}).items():
        if fname not in bundle.functions:
            problems.append(error("T717", f"no function `{fname}` in the repo",
                                  span("functions", fname, key=True),
                                  did_you_mean(fname, set(bundle.functions))))
            continue
        stub_at = (*_where(index, spec, "functions", fname, call), fname)
        outcomes = []
        for turn, one in enumerate(stub):
            value, problem = _stub_outcome(file, one,
                                           (*stub_at, turn) if len(stub) > 1 else stub_at)
            if problem is not None:
                problems.append(problem)
            outcomes.append(value)
        stubs[fname] = outcomes[0] if len(outcomes) == 1 else InTurn(tuple(outcomes))
    expect_at = ("tests", index, "expect") if call is None else (
        "tests", index, "calls", call, "expect")
    for fname in expect.functions or {}:
        if fname not in bundle.functions:
            problems.append(error("T717", f"no function `{fname}` in the repo",
                                  file.span((*expect_at, "functions", fname), True),
                                  did_you_mean(fname, set(bundle.functions))))
    if len(problems) > before or flow is None:
        return None
    if called is None:
        bound = sorted(n for n, f in bundle.config.numbers.items() if f == flow)
        called = bound[0] if bound else ""
    step = spec.calls[call] if spec.calls is not None and call is not None else None
    at = step.at if step is not None and call and "at" in step.model_fields_set else None
    after = step.after if step is not None and step.after is not None else DEFAULT_GAP_MS
    return CallPlan(label, setup, expect, flow, called, stubs, dict(own.agents or {}),
                    list(own.events or []), own.history, at, after)


def _check_order(file: SuiteFile, index: int, spec: CaseSpec, first: CallSetup,
                 problems: list[Diagnostic]) -> None:
    """T720: a scenario call's own `at` must come after the start and every earlier `at`."""
    latest = first.at
    for number, call in list(enumerate(spec.calls or []))[1:]:
        if "at" not in call.model_fields_set or call.at is None:
            continue
        if latest is not None and call.at <= latest:
            problems.append(error(
                "T720", f"call {number + 1} of `{spec.name}` starts at {call.at.isoformat()}, "
                f"not after {latest.isoformat()}", file.span(("tests", index, "calls", number,
                                                              "at")),
                "the calls run in order on one clock: give a later `at`, or `after: 20h`"))
        latest = call.at


DEFAULT_GAP_MS = 60_000
"""A scenario's next call starts this long after the one before ended (unless it says)."""


def _stub_outcome(file: SuiteFile, stub: FunctionStub, where: PathKey
                  ) -> tuple[Any, Diagnostic | None]:
    """A stub as the StubFunctions outcome: a FunctionFailure, or the reply (T706 for a
    `file` that can't be read)."""
    if stub.error is not None:
        status = stub.status if stub.status is not None else (
            500 if stub.error == "http-status" else None)
        shown = f"HTTP {status}" if status is not None else stub.error
        return FunctionFailure(stub.error, f"stubbed failure: {shown}", status), None
    return file.stub_value(stub, where)


def _dialled(numbers: dict[str, TransferName], region: str,
             ) -> tuple[dict[str, TransferName], list[str]]:
    """`numbers:` keyed as the runtime dials them (E.164, or a SIP URI as `transfer sip`
    dials it), and the keys that are neither: those would match no call and leave the test
    checking nothing (T725)."""
    out: dict[str, TransferName] = {}
    wrong: list[str] = []
    for number, status in numbers.items():
        target = parse_sip_target(number) if number[:4].lower() == "sip:" else None
        dialled = target.uri if isinstance(target, SipTarget) else normalise(number, region)
        if dialled is None:
            wrong.append(number)
        else:
            out[dialled] = status
    return out, wrong


# ------------------------------------------------------------------------------ running

async def run_case(bundle: Bundle, case: Case) -> CaseResult:
    """Place the test's call (or its scenario's calls, in order, on one runtime: one ACD,
    one call history, one clock) and compare what happened with what it expects. The result
    is the last call's, with the nodes and exits of every call (for coverage)."""
    first = case.plans[0].setup
    assert first.at is not None
    started = time.perf_counter()
    clock = FakeClock(first.at)
    runtime = Runtime(bundle, clock=clock, next_event=clock.next_due)  # a closed world
    mismatches: list[Mismatch] = []
    log: list[str] = []
    results: list[CallResult] = []
    for number, plan in enumerate(case.plans):
        if number and plan.at is not None and plan.at < clock.now():
            mismatches.append(Mismatch(f"{plan.label}: starts at", plan.at.isoformat(),
                                       f"the call before ended at {clock.now().isoformat()}"))
        elif number:
            clock.advance(plan.after_ms if plan.at is None
                          else (plan.at - clock.now()) // timedelta(milliseconds=1))
        result, calls, channel = await _place(runtime, clock, plan)
        found = compare(plan.expect, result, calls)
        if plan.label:
            found = [Mismatch(f"{plan.label}: {m.what}", m.expected, m.actual) for m in found]
            log.append(f"{plan.label} ({plan.setup.caller}, at {clock.now().isoformat()}):")
        mismatches += found
        log += channel.log
        results.append(result)
    last = results[-1]
    if len(results) > 1:
        last = replace(last, visited=set().union(*(r.visited for r in results)),
                       edges=set().union(*(r.edges for r in results)),
                       faults=[f for r in results for f in r.faults])
    return CaseResult(case, mismatches, last, log, time.perf_counter() - started)


async def _place(runtime: Runtime, clock: FakeClock, plan: CallPlan
                 ) -> tuple[CallResult, list[tuple[str, dict[str, Any]]], SimChannel]:
    """One call of a test on `runtime`, with its stubs, agent states and scripted caller."""
    setup = plan.setup
    assert setup.caller is not None
    stubs = StubFunctions(plan.stubs, clock)
    runtime.functions = stubs
    for user, state in plan.agents.items():
        runtime.acd.set_state(user, AgentState(state))
    for group, count in (setup.waiting or {}).items():  # the same ids each call: no more
        for i in range(count):
            runtime.acd.enqueue(f"waiting-{group}-{i + 1}", group, "anonymous", 0)
    if plan.history is not None:
        if plan.history.agent is not None:
            runtime.acd.history.remember(setup.caller, plan.history.agent)
        if plan.history.language is not None:
            runtime.acd.history.remember_language(setup.caller, plan.history.language)
    for event in plan.events:
        clock.call_later(event.at, partial(runtime.acd.set_state, event.agent,
                                           AgentState(event.state)))
    channel = SimChannel(clock, setup.keys or [], agent_answers=setup.agent_answers,
                         numbers={n: TransferStatus(s) for n, s in (setup.numbers or {}).items()},
                         hangup_at_ms=setup.hangup_at)
    data = CallData.of(plan.called, setup.source or "", setup.headers)
    result = await runtime.run_call(channel, setup.caller, plan.called, flow=plan.flow,
                                    language=setup.language, data=data)
    return result, stubs.calls, channel


def _matches(expected: str, played: Utterance) -> bool:
    if played.kind == "music":  # `hold-music`, `music hold-music` or `music hold-music [zh]`
        return expected in (played.prompt, played.describe(), f"music {played.prompt}")
    return expected in (played.prompt, played.describe(), played.text)


def _heard(expected: list[str], played: list[Utterance]) -> list[Utterance]:
    """What an expected prompt list is compared with: hold music and pauses count only when
    the list names one (`music ...`, `pause ...`), so a list of prompts alone still holds."""
    if any(e.startswith(("music ", "pause ")) for e in expected):
        return played
    return [u for u in played if u.kind == "prompt"]


def _lookup(variables: dict[str, Any], dotted: str) -> Any:
    value: Any = variables
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return _UNSET
        value = value[part]
    return value


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


_UNSET = _Unset()


def compare(want: Expect, result: CallResult,
            calls: Sequence[tuple[str, dict[str, Any]]] = ()) -> list[Mismatch]:
    """Every expectation in `want` that `result` (and the function `calls` it made, every
    attempt) does not meet (empty: the test passed). Faults fail a test unless it expects them
    (`faults: N`)."""
    out: list[Mismatch] = []
    played = [u.describe() for u in result.prompts]
    if want.outcome is not None and result.outcome.describe() != want.outcome:
        out.append(Mismatch("outcome", want.outcome, result.outcome.describe()))
    if want.prompts is not None:
        heard = _heard(want.prompts, result.prompts)
        if not (len(want.prompts) == len(heard)
                and all(_matches(e, u) for e, u in zip(want.prompts, heard, strict=True))):
            out.append(Mismatch("prompts", want.prompts, played))
    if want.prompts_include is not None:
        it = iter(_heard(want.prompts_include, result.prompts))
        if not all(any(_matches(e, u) for u in it) for e in want.prompts_include):
            out.append(Mismatch("prompts_include (in this order)", want.prompts_include,
                                played))
    for name, value in (want.variables or {}).items():
        actual = _lookup(result.variables, name)
        if (actual is _UNSET or actual != value
                or (type(actual) is bool) != (type(value) is bool)):
            out.append(Mismatch(f"variable {name}", value, actual))
    if want.agent is not None and result.agent != want.agent:
        out.append(Mismatch("agent", want.agent, result.agent))
    if want.queue is not None and result.queue != want.queue:
        out.append(Mismatch("queue", want.queue, result.queue))
    if want.survey_score is not None and result.survey_score != want.survey_score:
        out.append(Mismatch("survey_score", want.survey_score, result.survey_score))
    for fname, expected in (want.functions or {}).items():
        out += _function_mismatches(fname, expected, [a for n, a in calls if n == fname])
    faults = [str(f) for f in result.faults]
    if want.faults is not None and len(faults) != want.faults:
        out.append(Mismatch("faults", want.faults, f"{len(faults)}: {faults}"))
    elif want.faults is None and faults:
        out.append(Mismatch("faults", "none", faults))
    return out


def _function_mismatches(name: str, want: FunctionExpect,
                         made: list[dict[str, Any]]) -> list[Mismatch]:
    """How the calls of one function differ from what is expected: their number, and each
    one's arguments (those listed must be there, with these values; others may be too)."""
    out: list[Mismatch] = []
    if want.calls is not None and len(made) != want.calls:
        out.append(Mismatch(f"function {name} calls", want.calls, len(made)))
    elif want.calls is None and want.args is None and not made:
        out.append(Mismatch(f"function {name} calls", "at least 1", 0))
    if isinstance(want.args, dict):
        if not made:
            out.append(Mismatch(f"function {name} arguments", want.args, "no call"))
        for number, args in enumerate(made, 1):
            if not _includes(args, want.args):
                out.append(Mismatch(f"function {name} arguments (call {number})", want.args,
                                    args))
    elif isinstance(want.args, list):
        if len(made) != len(want.args):
            out.append(Mismatch(f"function {name} arguments per call", want.args, made))
        else:
            for number, (args, expected) in enumerate(zip(made, want.args, strict=True), 1):
                if not _includes(args, expected):
                    out.append(Mismatch(f"function {name} arguments (call {number})",
                                        expected, args))
    return out


def _includes(actual: dict[str, Any], expected: dict[str, Any]) -> bool:
    return all(k in actual and _same(actual[k], v) for k, v in expected.items())


def _same(actual: Any, expected: Any) -> bool:
    """Equal, and `true` never equals `1` (as in `variables`)."""
    return actual == expected and (type(actual) is bool) == (type(expected) is bool)


def select(cases: Iterable[Case], pattern: str | None) -> tuple[list[Case], int]:
    """Cases whose name or id matches `pattern` (a substring, or a glob with * ? [)."""
    chosen, dropped = [], 0
    for case in cases:
        if pattern is None or _selected(case, pattern):
            chosen.append(case)
        else:
            dropped += 1
    return chosen, dropped


def _selected(case: Case, pattern: str) -> bool:
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(case.name, pattern) or fnmatch.fnmatchcase(case.id, pattern)
    return pattern.lower() in case.id.lower()


async def run_cases(bundle: Bundle, cases: Sequence[Case]) -> list[CaseResult]:
    """Run the cases one after another in the current event loop."""
    return [await run_case(bundle, case) for case in cases]


Execute = Callable[[RunReport, Bundle, list[Case], Path, str | None], None]
"""How the chosen cases run: sets the report's results and coverage (`execute_all`, or
`ccc test -n`/`--changed`: flowtest/parallel.py and select.py)."""


def execute_all(report: RunReport, bundle: Bundle, cases: list[Case], root: Path,
                env: str | None) -> None:
    """Run every case here, one after another, and measure their coverage."""
    report.results = asyncio.run(run_cases(bundle, cases))
    report.coverage = measure(bundle.flows, (r.result for r in report.results), root)


def run_tests(path: Path, env: str | None = None, pattern: str | None = None,
              execute: Execute = execute_all, prebuild: bool = False) -> RunReport:
    """`ccc test PATH`: discover, load, compile, run, measure coverage. `prebuild`: build the
    repo on a second core while the test files are read (flowtest/prebuild.py; `-n N`).

    The objects that exist before the run (modules, classes, the phone number metadata) are
    hidden from the cyclic collector meanwhile (`gc.freeze`): each full collection would
    traverse them again (about a tenth of a cold run's CPU), and a forked worker would copy
    every page it touches. What the run itself makes is collected as usual."""
    started = time.perf_counter()
    report = RunReport()
    gc.freeze()
    try:
        _run(report, path, env, pattern, execute, prebuild)
    finally:
        gc.unfreeze()
    # a problem in a file's defaults is found once per test: keep one
    report.diagnostics = sorted_diagnostics(report.diagnostics)
    report.seconds = time.perf_counter() - started
    return report


def _run(report: RunReport, path: Path, env: str | None, pattern: str | None,
         execute: Execute, prebuild: bool) -> None:
    root, paths, problems = discover(path)
    report.diagnostics += problems
    if root is None or not paths:
        return
    helper = helper_build.start(root, env) if prebuild else None
    try:
        report.files = [load_test_file(p, str(p)) for p in paths]
    finally:
        if helper is not None:
            helper_build.join(helper)
    for file in report.files:
        report.diagnostics += file.diagnostics
    built = cached_bundle(root, env)
    report.diagnostics += built.diagnostics
    bundle = built.bundle
    if bundle is None:
        return
    cases: list[Case] = []
    for file in report.files:
        if file.model is not None:
            found, problems = prepare(file, bundle)
            cases += found
            report.diagnostics += problems
    chosen, report.deselected = select(cases, pattern)
    if pattern is not None and cases and not chosen:
        # pytest exits 5 here; a CI job must not pass on a -k that ran nothing
        where = str(path)
        report.diagnostics.append(error(
            "T711", f"no tests matched -k {pattern!r:.80} ({len(cases)} deselected)",
            Span.point(where, 1, 1),
            "-k keeps tests whose file::name contains PATTERN, or matches it with * ? ["))
    execute(report, bundle, chosen, root, env)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value)
