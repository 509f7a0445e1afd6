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
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from ccc_runtime.acd import AgentState
from ccc_runtime.bundle import Bundle
from ccc_runtime.channel import TransferStatus, Utterance
from ccc_runtime.clock import FakeClock
from ccc_runtime.functions import FunctionFailure, StubFunctions
from ccc_runtime.numbers import normalise
from ccc_runtime.simchannel import SimChannel
from ccc_runtime.vm import CallResult, Runtime

from ccc_dsl.diagnostics import Diagnostic, Span, error, has_errors, sorted_diagnostics
from ccc_dsl.flowtest.coverage import FlowCoverage, measure
from ccc_dsl.flowtest.model import (
    CallSetup,
    CaseSpec,
    SuiteFile,
    TransferName,
    load_test_file,
    merged,
)
from ccc_dsl.manifest.loader import ROOT_FILE
from ccc_dsl.manifest.yamlsafe import PathKey
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
    if path.is_file():
        files = [path]
    else:
        folder = path / "tests" if (path / ROOT_FILE).is_file() else path
        files = sorted({f for g in TEST_GLOBS for f in folder.rglob(g) if f.is_file()})
    if not files:
        where = path / "tests" if (path / ROOT_FILE).is_file() else path
        return root, [], [error("T711", f"no flow tests found in {where}",
                                Span.point(str(where), 1, 1),
                                "write test files as tests/*.yaml in the config repo")]
    return root, files, []


# ------------------------------------------------------------------------------ checks

def _where(index: int, spec: CaseSpec, name: str, key: str | int | None = None) -> PathKey:
    """Where a merged setting (or one `key` of a merged mapping) was written: in the test,
    else in the file's defaults."""
    own = getattr(spec, name) if name in spec.model_fields_set else None
    if name in spec.model_fields_set and not (
            isinstance(key, str) and isinstance(own, dict) and key not in own):
        return ("tests", index, name)
    return ("defaults", name)


def prepare(file: SuiteFile, bundle: Bundle) -> tuple[list[Case], list[Diagnostic]]:
    """The file's tests as runnable cases, and T71x diagnostics for names the bundle lacks."""
    assert file.model is not None
    cases: list[Case] = []
    problems: list[Diagnostic] = []
    seen: dict[str, int] = {}
    agents = {a.user for a in bundle.agents}
    for index, spec in enumerate(file.model.tests):
        before = len(problems)

        def span(name: str, *rest: str | int, key: bool = False,
                 index: int = index, spec: CaseSpec = spec) -> Span:
            return file.span((*_where(index, spec, name, rest[0] if rest else None), *rest),
                             key)

        if spec.name in seen:
            problems.append(error("T719", f"two tests named `{spec.name}` in this file",
                                  file.span(("tests", index, "name")),
                                  f"the first is test #{seen[spec.name] + 1}; rename one"))
        seen.setdefault(spec.name, index)
        setup = merged(file.model.defaults, spec)
        test_span = file.span(("tests", index), key=False)
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
        named = [(user, span("agents", user, key=True)) for user in setup.agents or {}]
        named += [(user, span("agent_answers", user, key=True))
                  for user in setup.agent_answers or {}]
        named += [(ev.agent, span("events", i, "agent"))
                  for i, ev in enumerate(setup.events or [])]
        if setup.history is not None and setup.history.agent is not None:
            named.append((setup.history.agent, span("history", "agent")))
        for user, where in named:
            if user not in agents:
                problems.append(error("T716", f"no agent `{user}` in the repo", where,
                                      did_you_mean(user, agents)))
        stubs: dict[str, Any] = {}
        for fname, stub in (setup.functions or {}).items():
            if fname not in bundle.functions:
                problems.append(error("T717", f"no function `{fname}` in the repo",
                                      span("functions", fname, key=True),
                                      did_you_mean(fname, set(bundle.functions))))
                continue
            if stub.error is not None:
                stubs[fname] = FunctionFailure(stub.error, f"stubbed failure: {stub.error}")
                continue
            value, problem = file.stub_value(
                stub, (*_where(index, spec, "functions", fname), fname))
            if problem is not None:
                problems.append(problem)
            stubs[fname] = value
        if setup.numbers:
            setup.numbers, wrong = _dialled(setup.numbers, bundle.config.region)
            problems += [error("T725", f"`{number}` under `numbers:` is not a phone number",
                               span("numbers", number, key=True), "key each outside number "
                               "the flow dials by the number, e.g. \"+8613800138000\"")
                         for number in wrong]
        if len(problems) > before or flow is None:
            continue
        if called is None:
            bound = sorted(n for n, f in bundle.config.numbers.items() if f == flow)
            called = bound[0] if bound else ""
        cases.append(Case(file, index, spec, setup, flow, called, stubs))
    return cases, problems


def _dialled(numbers: dict[str, TransferName], region: str,
             ) -> tuple[dict[str, TransferName], list[str]]:
    """`numbers:` keyed as the runtime dials them (E.164), and the keys that are no phone
    number: those would match no call and leave the test checking nothing (T725)."""
    out: dict[str, TransferName] = {}
    wrong: list[str] = []
    for number, status in numbers.items():
        dialled = normalise(number, region)
        if dialled is None:
            wrong.append(number)
        else:
            out[dialled] = status
    return out, wrong


# ------------------------------------------------------------------------------ running

async def run_case(bundle: Bundle, case: Case) -> CaseResult:
    """Place the test's call and compare what happened with what it expects."""
    setup = case.setup
    assert setup.at is not None and setup.caller is not None
    started = time.perf_counter()
    clock = FakeClock(setup.at)
    runtime = Runtime(bundle, clock=clock, functions=StubFunctions(case.stubs))
    for user, state in (setup.agents or {}).items():
        runtime.acd.set_state(user, AgentState(state))
    if setup.history is not None:
        if setup.history.agent is not None:
            runtime.acd.history.remember(setup.caller, setup.history.agent)
        if setup.history.language is not None:
            runtime.acd.history.remember_language(setup.caller, setup.history.language)
    for event in setup.events or []:
        clock.call_later(event.at, partial(runtime.acd.set_state, event.agent,
                                           AgentState(event.state)))
    channel = SimChannel(clock, setup.keys or [], agent_answers=setup.agent_answers,
                         numbers={n: TransferStatus(s) for n, s in (setup.numbers or {}).items()},
                         hangup_at_ms=setup.hangup_at)
    result = await runtime.run_call(channel, setup.caller, case.called, flow=case.flow,
                                    language=setup.language)
    return CaseResult(case, compare(case.spec, result), result, channel.log,
                      time.perf_counter() - started)


def _matches(expected: str, played: Utterance) -> bool:
    return expected in (played.prompt, played.describe(), played.text)


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


def compare(spec: CaseSpec, result: CallResult) -> list[Mismatch]:
    """Every expectation of `spec` that `result` does not meet (empty: the test passed).
    Faults fail a test unless it expects them (`faults: N`)."""
    want = spec.expect
    out: list[Mismatch] = []
    played = [u.describe() for u in result.prompts]
    if want.outcome is not None and result.outcome.describe() != want.outcome:
        out.append(Mismatch("outcome", want.outcome, result.outcome.describe()))
    if want.prompts is not None and not (
            len(want.prompts) == len(result.prompts)
            and all(_matches(e, u) for e, u in zip(want.prompts, result.prompts, strict=True))):
        out.append(Mismatch("prompts", want.prompts, played))
    if want.prompts_include is not None:
        it = iter(result.prompts)
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
    faults = [str(f) for f in result.faults]
    if want.faults is not None and len(faults) != want.faults:
        out.append(Mismatch("faults", want.faults, f"{len(faults)}: {faults}"))
    elif want.faults is None and faults:
        out.append(Mismatch("faults", "none", faults))
    return out


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


def run_tests(path: Path, env: str | None = None, pattern: str | None = None) -> RunReport:
    """`ccc test PATH`: discover, load, compile, run, measure coverage."""
    started = time.perf_counter()
    report = RunReport()
    _run(report, path, env, pattern)
    # a problem in a file's defaults is found once per test: keep one
    report.diagnostics = sorted_diagnostics(report.diagnostics)
    report.seconds = time.perf_counter() - started
    return report


def _run(report: RunReport, path: Path, env: str | None, pattern: str | None) -> None:
    root, paths, problems = discover(path)
    report.diagnostics += problems
    if root is None or not paths:
        return
    report.files = [load_test_file(p, str(p)) for p in paths]
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
    report.results = asyncio.run(run_cases(bundle, chosen))
    report.coverage = measure(bundle.flows, (r.result for r in report.results), root)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value)
