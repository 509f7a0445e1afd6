"""Flow tests that check what real flows do: scenarios of several calls sharing the ACD and the
call history, expectations on function calls (count, arguments, retries), stubs that answer in
turn, and call data (SIP headers, source address, dialled number) set by a test."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from ft_helpers import write_repo

from ccc_dsl.cli import cli
from ccc_dsl.flowtest.model import load_test_file
from ccc_dsl.flowtest.runner import run_tests

HEAD = """\
defaults:
  flow: t
  caller: "+8613700000001"
  at: 2026-12-25T10:00+08:00
tests:
"""

FAMILIAR = """\
flow t "T" {
  start:
    menu prompt "hello" timeout 3s retries 0 {
      1 -> transfer agent "ann" timeout 20s then hangup
      2 -> transfer queue "help" familiar timeout 1m { timeout -> hangup  busy -> hangup }
      3 -> transfer queue "help" timeout 1m { timeout -> hangup  busy -> hangup }
      exhausted -> hangup
    }
}
"""


def run(tmp_path: Path, flow: str, tests: str) -> list[tuple[bool, list[str]]]:
    report = run_tests(write_repo(tmp_path / "repo", flow, {"t.yaml": HEAD + tests}))
    assert report.diagnostics == []
    return [(r.passed, [m.describe() for m in r.mismatches]) for r in report.results]


def test_the_second_call_reaches_the_first_calls_agent(tmp_path: Path) -> None:
    """Ben is idle longer, so longest-idle routing picks him; `familiar` picks Ann, who took
    this caller's first call: the two calls share the ACD and the call history."""
    results = run(tmp_path, FAMILIAR, """\
  - name: familiar agent
    agents: {ann: available, ben: available}
    calls:
      - keys: "1"
        expect: {agent: ann, outcome: transferred to agent ann}
      - keys: "2"
        after: 5m
        expect: {agent: ann, queue: help}
  - name: without familiar, the longest idle agent
    agents: {ann: available, ben: available}
    calls:
      - keys: "1"
        expect: {agent: ann}
      - keys: "3"
        expect: {agent: ben}
  - name: another caller has no history with ann
    agents: {ann: available, ben: available}
    calls:
      - keys: "1"
        expect: {agent: ann}
      - keys: "2"
        caller: "+8613700000009"
        expect: {agent: ben}
""")
    assert results == [(True, []), (True, []), (True, [])]


def test_a_scenario_reports_which_call_failed_and_covers_every_call(tmp_path: Path) -> None:
    report = run_tests(write_repo(tmp_path / "repo", FAMILIAR, {"t.yaml": HEAD + """\
  - name: wrong second call
    agents: {ann: available, ben: available}
    calls:
      - keys: "1"
        expect: {agent: ann}
      - keys: "2"
        expect: {agent: ben}
"""}))
    (result,) = report.results
    assert [m.describe() for m in result.mismatches] == [
        "call 2: agent: expected 'ben', got 'ann'"]
    assert any(line.startswith("call 2 (+8613700000001, at 2026-12-25T10:0") for line in
               result.log)
    # the menu, then the agent (call 1) and the queue (call 2): coverage counts both calls
    visited = {node for _, node in result.result.visited}
    assert len(visited) == 3


def test_a_scenario_call_can_start_at_a_given_time(tmp_path: Path) -> None:
    flow = """\
    flow t "T" {
      start:
        hours "office" {
          open -> play "hello" then hangup
          closed -> play "bye" then hangup
          holiday -> hangup
        }
    }
    """
    assert run(tmp_path, flow, """\
  - name: open, then closed in the evening
    calls:
      - expect: {prompts: [hello]}
      - at: 2026-12-25T19:00+08:00
        expect: {prompts: [bye]}
""") == [(True, [])]


RETRY = """\
flow t "T" {
  start:
    call function "lookup" with { a: caller.number, n: 2 } retries 2 {
      ok -> say "Got {{ result }}" then hangup
      timeout -> play "bye" then hangup
      error -> hangup
    }
}
"""


def test_function_calls_are_counted_with_their_arguments(tmp_path: Path) -> None:
    results = run(tmp_path, RETRY, """\
  - name: a timeout, then the retry answers
    functions:
      lookup: [{error: timeout}, {reply: fine}]
    expect:
      prompts: ["Got fine"]
      functions: {lookup: {calls: 2, args: {a: "+8613700000001", n: 2}}}
  - name: every attempt times out
    functions: {lookup: {error: timeout}}
    expect:
      prompts: [bye]
      functions: {lookup: {calls: 3, args: [{n: 2}, {n: 2}, {n: 2}]}}
  - name: a 404 is not tried again
    functions: {lookup: {error: http-status, status: 404}}
    expect: {prompts: [], functions: {lookup: {calls: 1}}}
  - name: a 503 is
    functions: {lookup: [{error: http-status, status: 503}, {reply: ok}]}
    expect: {prompts: ["Got ok"], functions: {lookup: {calls: 2}}}
  - name: wrong count and arguments fail
    functions: {lookup: {reply: x}}
    expect: {functions: {lookup: {calls: 2, args: {n: "2"}}}}
""")
    assert results[:4] == [(True, [])] * 4
    assert results[4] == (False, [
        "function lookup calls: expected 2, got 1",
        "function lookup arguments (call 1): expected {'n': '2'}, got {'a': '+8613700000001', "
        "'n': 2}"])


def test_a_function_never_called_fails_an_expectation_of_it(tmp_path: Path) -> None:
    flow = """\
    flow t "T" {
      start:
        play "hello" then hangup
      unused:
        call function "lookup" then hangup
    }
    """
    results = run(tmp_path, flow, """\
  - name: not called
    expect: {functions: {lookup: {}}}
  - name: not called, as expected
    expect: {functions: {lookup: {calls: 0}}}
""")
    assert results == [(False, ["function lookup calls: expected 'at least 1', got 0"]),
                       (True, [])]


HEADERS = """\
flow t "T" {
  start:
    set tier = call.headers.x_customer_tier
    set from_pbx = call.source
    set dialled = call.dialled
    if call.headers.x_customer_tier == "gold" -> play "hello" then hangup
    play "bye" then hangup
}
"""


def test_a_test_sets_sip_headers_source_and_dialled_number(tmp_path: Path) -> None:
    results = run(tmp_path, HEADERS, """\
  - name: gold
    headers: {X-Customer-Tier: gold, Diversion: "<sip:+8610@pbx>;reason=busy"}
    source: 192.0.2.7
    expect:
      prompts: [hello]
      variables: {tier: gold, from_pbx: 192.0.2.7, dialled: "+862161230000"}
  - name: no header
    expect: {prompts: [bye], variables: {tier: null, from_pbx: ""}}
""")
    assert results == [(True, []), (True, [])]


def test_headers_and_stubs_are_checked_when_loaded(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(HEAD + """\
  - name: bad
    headers: {Contact: "<sip:x@y>"}
    source: not-an-address
    functions: {lookup: {reply: 1, status: 503}}
    calls: []
    expect: {}
""", encoding="utf-8")
    messages = sorted(d.message for d in load_test_file(path).diagnostics)
    assert any("header `Contact` never reaches a flow" in m for m in messages), messages
    assert any("expected an IP address" in m for m in messages), messages
    assert any("`status` goes with `error: http-status`" in m for m in messages), messages
    assert any("`calls`" in m and "at least 1" in m for m in messages), messages


def test_ccc_simulate_takes_headers_and_a_source(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", HEADERS)
    base = ["simulate", "t", str(repo), "--caller", "+8613700000001", "--at",
            "2026-12-25T10:00+08:00", "--format", "json"]
    gold = CliRunner().invoke(cli, [*base, "--header", "X-Customer-Tier=gold", "--source",
                                    "192.0.2.7"])
    assert gold.exit_code == 0, gold.output
    data = json.loads(gold.output)
    assert data["variables"]["tier"] == "gold" and data["variables"]["from_pbx"] == "192.0.2.7"
    plain = CliRunner().invoke(cli, base)
    assert json.loads(plain.output)["variables"]["tier"] is None
    bad = CliRunner().invoke(cli, [*base, "--header", "Via=SIP/2.0/UDP x"])
    assert bad.exit_code == 2 and "never reaches a flow" in bad.output


def test_scenario_calls_run_forward_in_time(tmp_path: Path) -> None:
    flow = """\
    flow t "T" {
      start:
        play "hello" then hangup
    }
    """
    report = run_tests(write_repo(tmp_path / "repo", flow, {"t.yaml": HEAD + """\
  - name: back in time
    calls:
      - expect: {prompts: [hello]}
      - at: 2026-12-25T09:00+08:00
        expect: {prompts: [hello]}
"""}))
    (problem,) = report.diagnostics
    assert problem.code == "T720" and problem.span is not None and problem.span.line == 9
    assert "call 2 of `back in time` starts at 2026-12-25T09:00:00+08:00" in problem.message
    # a call placed where the call before is still running is a mismatch of the test
    report = run_tests(write_repo(tmp_path / "repo2", flow, {"t.yaml": HEAD + """\
  - name: overlapping
    calls:
      - expect: {prompts: [hello]}
      - at: 2026-12-25T10:00:00.010+08:00
        expect: {prompts: [hello]}
"""}))
    assert report.diagnostics == []
    (result,) = report.results
    assert [m.what for m in result.mismatches] == ["call 2: starts at"]


def test_hold_music_and_pauses_are_in_the_prompts_and_the_timeline(tmp_path: Path) -> None:
    flow = """\
    flow t "T" {
      start:
        play "hello" then pause 2s then play "bye"
        transfer queue "help" timeout 2m music "hello"
            announce position every 20s prompt say "You are number {{ queue.position }}." {
          timeout -> hangup
          busy -> hangup
        }
    }
    """
    report = run_tests(write_repo(tmp_path / "repo", flow, {"t.yaml": HEAD + """\
  - name: what the caller heard
    agents: {ann: busy}
    events: [{at: 50s, agent: ann, state: available}]
    expect:
      agent: ann
      prompts: [hello, pause 2s, bye, music hello, You are number 1., music hello,
                You are number 1., music hello]
  - name: the prompts alone
    agents: {ann: busy}
    events: [{at: 50s, agent: ann, state: available}]
    expect: {prompts: [hello, bye, You are number 1., You are number 1.]}
"""}))
    assert report.diagnostics == []
    assert [(r.passed, [m.describe() for m in r.mismatches]) for r in report.results] == [
        (True, []), (True, [])]
    log = report.results[0].log
    assert sum("on hold: hello [en]" in line for line in log) == 3
    assert any("pause 2000 ms" in line for line in log)
