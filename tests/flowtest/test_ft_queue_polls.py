"""A queue wait in a flow test skips the polls that can't route (`Runtime.next_event`): the
call must do exactly what it does polling every second, as a live call does. Random queue
scenarios (agent states, agent events at any millisecond, after-call work, timed and untimed
keys, offers, scripts, hang-ups, scenario calls) run both ways and are compared field by
field: outcome, prompts, variables, coverage, steps, the timeline, the call record and every
trace event."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from ccc_runtime.bundle import Bundle
from ccc_runtime.clock import Clock
from ccc_runtime.records import MemorySink
from ccc_runtime.vm import Runtime
from ft_helpers import write_repo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccc_dsl.flowtest import runner
from ccc_dsl.flowtest.model import load_test_file
from ccc_dsl.pipeline import build_bundle

FLOW = """\
flow t "T" {
  start:
    transfer queue "help"
        timeout 3m
        familiar
        music "hello"
        when_empty wait
        waiting {
          at 5s say "Please hold."
          every 30s from 12s say position
          every 20s from 45s check staffing
          after 40s offer voicemail key 1 prompt "bye"
        } {
      busy -> say "Nobody is there." then hangup
      timeout -> hangup
      voicemail -> hangup
      2 -> say "Two." then hangup
    }
}
"""

STATES = ["available", "busy", "after-call-work", "offline"]
AGENTS = ["ann", "ben"]
ms = st.integers(0, 200_000)
keys = st.lists(st.one_of(st.sampled_from(["1", "2", "9", "-"]),
                          st.builds(lambda k, t: f"{k}@{t}", st.sampled_from("129"), ms)),
                max_size=4)
call = st.fixed_dictionaries({
    "keys": keys,
    "agents": st.dictionaries(st.sampled_from(AGENTS), st.sampled_from(STATES)),
    "events": st.lists(st.fixed_dictionaries({"at": ms, "agent": st.sampled_from(AGENTS),
                                              "state": st.sampled_from(STATES)}), max_size=3),
}, optional={"hangup_at": ms, "agent_answers": st.dictionaries(st.sampled_from(AGENTS),
                                                               st.booleans()),
             "after": st.integers(0, 90_000)})
scenario = st.tuples(st.lists(call, min_size=1, max_size=3),
                     st.sampled_from([0, 1500, 12_345, 60_000, 95_000]))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    built = build_bundle(write_repo(tmp_path_factory.mktemp("repo"), FLOW), None)
    assert built.bundle is not None, built.diagnostics
    return built.bundle


def _case(bundle: Bundle, folder: Path, calls: list[dict[str, Any]]) -> runner.Case:
    test: dict[str, Any] = {"name": "q", "flow": "t", "caller": "+8613700000001",
                            "at": "2026-12-25T10:00:00.250+08:00"}
    if len(calls) == 1:
        test.update(calls[0], expect={})
        test.pop("after", None)
    else:
        test["calls"] = [{**c, "expect": {}} for c in calls]
    path = folder / "t.yaml"
    path.write_text(json.dumps({"tests": [test]}), encoding="utf-8")  # JSON is YAML
    suite = load_test_file(path)
    assert suite.diagnostics == [], suite.diagnostics
    cases, problems = runner.prepare(suite, bundle)
    assert problems == [] and len(cases) == 1, problems
    return cases[0]


def _run(case: runner.Case, bundle: Bundle, polling: bool, acw_ms: int,
         monkeypatch: pytest.MonkeyPatch) -> Any:
    """The case's result, its trace, with polls skipped or (as a live call) every second."""
    sink = MemorySink()

    def make(bundle: Bundle, *, clock: Clock, next_event: Any) -> Runtime:
        rt = Runtime(bundle, clock=clock, sink=sink, next_event=None if polling else next_event)
        rt.acd.after_call_work_ms = acw_ms
        return rt

    with monkeypatch.context() as patch:
        patch.setattr(runner, "Runtime", make)
        done = asyncio.run(runner.run_case(bundle, case))
    result = done.result
    record = {k: v for k, v in asdict(result.record).items() if k != "call_id"}
    events = [{k: v for k, v in asdict(e).items() if k != "call_id"} for e in sink.events]
    return ([m.describe() for m in done.mismatches], result.outcome,
            [u.describe() for u in result.prompts], result.variables, sorted(result.visited),
            sorted(result.edges), [str(f) for f in result.faults], result.steps, result.agent,
            result.queue, result.queue_wait_ms, result.survey_score, done.log, record, events)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario)
def test_skipping_polls_changes_nothing(bundle: Bundle, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch,
                                        drawn: tuple[list[dict[str, Any]], int]) -> None:
    calls, acw_ms = drawn
    case = _case(bundle, tmp_path, calls)
    polled = _run(case, bundle, True, acw_ms, monkeypatch)
    assert _run(case, bundle, False, acw_ms, monkeypatch) == polled


def test_a_long_wait_is_not_polled_every_second(bundle: Bundle, tmp_path: Path) -> None:
    """Nobody comes free for 2 minutes: 15 holds (one after each play, then one up to the next
    play), not the 112 of polling every second."""
    case = _case(bundle, tmp_path, [{"keys": [], "agents": {"ann": "busy"},
                                     "events": [{"at": 120_500, "agent": "ann",
                                                 "state": "available"}]}])
    holds: list[int] = []
    real_hold = runner.SimChannel.hold

    async def hold(self: runner.SimChannel, music: Any, duration_ms: int,
                   accepted: frozenset[str]) -> str | None:
        holds.append(duration_ms)
        return await real_hold(self, music, duration_ms, accepted)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner.SimChannel, "hold", hold)
        done = asyncio.run(runner.run_case(bundle, case))
    assert done.result.outcome.describe() == "transferred to queue help"
    assert 120_500 <= done.result.queue_wait_ms < 121_500  # the first poll after ann is free
    assert len(holds) <= 20, holds
