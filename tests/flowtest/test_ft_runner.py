"""The runner on a small repo: passing and failing tests, the checks against the repo (T71x),
selection with -k, and coverage numbers that are known for this flow."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from ft_helpers import write_repo

from ccc_dsl.flowtest.coverage import returning_flows, universe
from ccc_dsl.flowtest.runner import discover, run_tests
from ccc_dsl.pipeline import build_bundle

FLOW = """\
flow t "T" {
  start:
    menu prompt "hello" timeout 3s retries 1 {
      1 -> play "bye" then hangup
      2 -> hangup
      exhausted -> hangup
    }
}
"""
# Its universe: MENU @0, PLAY @1, HANGUP @2 (after bye), @3 (key 2), @4 (exhausted): 5 nodes;
# exits exhausted, key 1, key 2 and PLAY next: 4 edges. The error handler is not counted.

HEAD = """\
defaults:
  flow: t
  caller: "+8613700000001"
  at: 2026-12-25T10:00+08:00
tests:
"""

KEY1 = """\
  - name: key 1 says bye
    keys: "1"
    expect: {outcome: hung up, prompts: [hello, "bye [en]"]}
"""
KEY2_WRONG = """\
  - name: key 2 wrongly expected to queue
    keys: "2"
    expect: {outcome: transferred to queue help, prompts: [hello, bye]}
"""
SILENCE = """\
  - name: silence twice
    keys: "-,-"
    expect: {outcome: hung up, prompts: [hello, hello]}
"""


def repo(tmp_path: Path, *tests: str, flow: str = FLOW) -> Path:
    return write_repo(tmp_path / "repo", flow, {"t.yaml": HEAD + "".join(tests)})


def test_passing_and_failing_tests_and_the_mismatches(tmp_path: Path) -> None:
    report = run_tests(repo(tmp_path, KEY1, KEY2_WRONG))
    assert report.diagnostics == []
    assert [r.passed for r in report.results] == [True, False]
    assert (report.passed, report.failed) == (1, 1)
    failed = report.results[1]
    assert [m.describe() for m in failed.mismatches] == [
        "outcome: expected 'transferred to queue help', got 'hung up'",
        "prompts: expected ['hello', 'bye'], got ['hello [en]']",
    ]
    assert failed.case.span.line == 9 and failed.case.id.endswith("t.yaml::key 2 wrongly "
                                                                   "expected to queue")
    assert not report.ok()


def test_coverage_numbers_on_a_small_flow(tmp_path: Path) -> None:
    report = run_tests(repo(tmp_path, KEY1, KEY2_WRONG))
    (cov,) = report.coverage
    assert (cov.nodes_hit, cov.nodes_total, cov.edges_hit, cov.edges_total) == (4, 5, 3, 4)
    assert cov.edge_percent == 75.0 and cov.node_percent == 80.0
    assert [u.describe() for u in cov.uncovered] == [
        "flows/t.ivr:3:5: @0 MENU exit `exhausted`",
        "flows/t.ivr:6:20: @4 HANGUP never run",
    ]
    assert [c.flow for c in report.below(80)] == ["t"]
    assert report.below(75) == []


def test_full_coverage_and_min_coverage(tmp_path: Path) -> None:
    report = run_tests(repo(tmp_path, KEY1, SILENCE))
    (cov,) = report.coverage
    assert (cov.nodes_hit, cov.edges_hit, cov.edges_total) == (4, 3, 4)
    assert [u.describe() for u in cov.uncovered] == [  # key 2 is never pressed
        "flows/t.ivr:3:5: @0 MENU exit `key 2`", "flows/t.ivr:5:12: @3 HANGUP never run"]
    report = run_tests(repo(tmp_path, KEY1, SILENCE, KEY2_WRONG.replace(
        "transferred to queue help", "hung up").replace("[hello, bye]", "[hello]")))
    assert report.ok(min_coverage=100)
    assert report.coverage[0].edge_percent == 100.0
    assert report.coverage[0].handler_runs == 0


def test_a_no_cover_pragma_leaves_a_branch_out(tmp_path: Path) -> None:
    flow = FLOW.replace("exhausted -> hangup", "exhausted -> hangup  // ccc: no cover")
    report = run_tests(repo(tmp_path, KEY1, flow=flow))
    (cov,) = report.coverage
    assert (cov.nodes_total, cov.edges_total, cov.excluded) == (4, 3, 1)
    assert (cov.nodes_hit, cov.edges_hit) == (3, 2)


def test_faults_fail_a_test_unless_expected_and_reach_the_error_handler(tmp_path: Path) -> None:
    flow = """\
    flow t "T" {
      start:
        call function "lookup" with { a: 1 } timeout 1s {
          ok -> say "Hi {{ result.name + 1 }}" then hangup
          error -> hangup
        }
    }
    """
    unexpected = """\
  - name: no name
    functions: {lookup: {reply: {}}}
    expect: {outcome: hung up}
"""
    expected = unexpected.replace("no name", "no name, expected").replace(
        "{outcome: hung up}", "{outcome: hung up, faults: 1}")
    failing = """\
  - name: lookup fails
    functions: {lookup: {error: timeout}}
    expect: {outcome: hung up, prompts: []}
"""
    report = run_tests(repo(tmp_path, unexpected, expected, failing, flow=flow))
    assert [r.passed for r in report.results] == [False, True, True]
    (mismatch,) = report.results[0].mismatches
    assert mismatch.what == "faults" and "result.name" in str(mismatch.actual)
    cov = report.coverage[0]
    assert cov.handler_runs == 2
    # the say always faults, so the hang-up after it never runs
    assert (cov.edges_hit, cov.edges_total, cov.nodes_hit, cov.nodes_total) == (2, 3, 3, 4)


def test_agents_events_and_variables(tmp_path: Path) -> None:
    flow = """\
    flow t "T" {
      start:
        set tries = 2
        transfer queue "help" timeout 2m {
          busy -> hangup
          timeout -> hangup
          done -> hangup
        }
    }
    """
    later = """\
  - name: ben frees up after 40 s
    agents: {ann: busy, ben: busy}
    events: [{at: 40s, agent: ben, state: available}]
    expect: {outcome: transferred to queue help, agent: ben, variables: {tries: 2}}
  - name: a wrong variable value fails
    agents: {ann: available}
    expect: {variables: {tries: "2", nothing: 1}}
"""
    report = run_tests(repo(tmp_path, later, flow=flow))
    first, second = report.results
    assert first.passed, [m.describe() for m in first.mismatches]
    assert first.result.queue_wait_ms == 40_000
    assert [m.describe() for m in second.mismatches] == [
        "variable tries: expected '2', got 2", "variable nothing: expected 1, got <unset>"]


def test_names_the_repo_lacks_are_located(tmp_path: Path) -> None:
    bad = """\
  - name: one
    flow: tt
    expect: {}
  - name: two
    agents: {anne: available}
    functions: {lookp: {reply: 1}}
    expect: {}
  - name: two
    called: "+861012345678"
    flow: null
    expect: {}
"""
    report = run_tests(repo(tmp_path, bad))
    found = sorted((d.span.line, d.code, d.hint) for d in report.diagnostics if d.span)
    assert found == [
        (7, "T713", "did you mean `t`?"),
        (10, "T716", "did you mean `ann`?"),
        (11, "T717", "did you mean `lookup`?"),
        (13, "T719", "the first is test #2; rename one"),
        (14, "T715", "numbers are written in E.164, e.g. +864008201234"),
    ]
    assert report.results == [] and not report.ok()


def test_missing_caller_or_clock(tmp_path: Path) -> None:
    root = write_repo(tmp_path / "repo", FLOW, {"t.yaml": "tests:\n  - name: x\n"
                                                         "    flow: t\n    expect: {}\n"})
    report = run_tests(root)
    assert sorted(d.message for d in report.diagnostics) == [
        "test `x` has no `at`", "test `x` has no `caller`"]


def test_selection_with_k(tmp_path: Path) -> None:
    root = repo(tmp_path, KEY1, SILENCE, KEY2_WRONG)
    report = run_tests(root, pattern="silence")
    assert [r.case.name for r in report.results] == ["silence twice"]
    assert report.deselected == 2
    report = run_tests(root, pattern="key ?*")
    assert [r.case.name for r in report.results] == ["key 1 says bye",
                                                     "key 2 wrongly expected to queue"]


def test_discovery(tmp_path: Path) -> None:
    root = repo(tmp_path, KEY1)
    assert discover(root)[1] == [root / "tests" / "t.yaml"]
    assert discover(root / "tests" / "t.yaml")[0] == root.resolve()
    empty = tmp_path / "nowhere"
    empty.mkdir()
    assert [d.code for d in discover(empty)[2]] == ["T710"]
    (root / "tests" / "t.yaml").unlink()
    assert [d.code for d in discover(root)[2]] == ["T711"]


def test_a_repo_that_does_not_compile_reports_its_errors(tmp_path: Path) -> None:
    root = repo(tmp_path, KEY1, flow=FLOW.replace('"bye"', '"nope"'))
    built = build_bundle(root, None)
    bundle, problems = built.bundle, built.diagnostics
    assert bundle is None and problems and all(d.is_error for d in problems)
    report = run_tests(root)
    assert report.results == [] and not report.ok()


@pytest.mark.parametrize(("flows", "expected"), [
    ({"main": ["call sub", "hangup"], "sub": ["hangup"]}, {"main": False, "sub": False}),
    ({"main": ["call sub", "return"], "sub": ["return"]}, {"main": True, "sub": True}),
])
def test_returning_flows(tmp_path: Path, flows: dict[str, list[str]],
                         expected: dict[str, bool]) -> None:
    from ccc_runtime.bytecode import FlowBuilder, Op, decode

    images = {}
    for name, ops in flows.items():
        b = FlowBuilder(name, "0" * 64, "test")
        built: list[int] = []
        for op in ops:
            if op == "call sub":
                built.append(b.add_node(Op.CALL_FLOW, ["sub"]))
            else:
                built.append(b.add_node(Op.HANGUP if op == "hangup" else Op.RETURN, []))
        for a, c in itertools.pairwise(built):
            b.set_exit(a, 0, c)
        images[name] = decode(b.build())
    returns = returning_flows(images)
    assert returns == expected
    nodes, edges = universe(images["main"], returns)
    assert nodes == ({0} if not expected["sub"] else {0, 1})
    assert edges == (set() if not expected["sub"] else {(0, 0)})


def test_called_number_picks_the_flow_and_the_caller_can_hang_up(tmp_path: Path) -> None:
    tests = """\
tests:
  - name: hangs up during the menu
    called: "+862161230000"
    caller: "+8613700000001"
    at: 2026-12-25T10:00+08:00
    hangup_at: 2s
    expect: {outcome: caller hung up, prompts: [hello]}
"""
    root = write_repo(tmp_path / "repo", FLOW, {"t.yaml": tests})
    report = run_tests(root)
    assert report.diagnostics == []
    (result,) = report.results
    assert result.passed, [m.describe() for m in result.mismatches]
    assert result.case.flow == "t"
    assert result.result.record.duration_ms == 2000


def test_a_language_the_repo_lacks_is_located(tmp_path: Path) -> None:
    bad = """\
  - name: french
    language: fr
    keys: "1"
    expect: {outcome: hung up}
"""
    report = run_tests(repo(tmp_path, bad))
    assert [(d.span.line if d.span else 0, d.code) for d in report.diagnostics] == [
        (7, "T703")]
    assert "no language `fr`" in report.diagnostics[0].message
    assert report.results == [] and not report.ok()


def test_a_bad_name_in_merged_defaults_is_located_in_the_defaults(tmp_path: Path) -> None:
    tests = """\
defaults:
  flow: t
  caller: "+8613700000001"
  at: 2026-12-25T10:00+08:00
  agents: {anne: available}
  functions: {lookp: {reply: 1}}
tests:
  - name: own mappings too
    agents: {ann: available}
    functions: {lookup: {reply: 1}}
    expect: {}
  - name: other
    agents: {ben: available}
    expect: {}
"""
    report = run_tests(write_repo(tmp_path / "repo", FLOW, {"t.yaml": tests}))
    assert sorted((d.span.line, d.span.column, d.code) for d in report.diagnostics
                  if d.span) == [(5, 12, "T716"), (6, 15, "T717")]


def test_an_announcement_without_a_prompt_speaks_a_default(tmp_path: Path) -> None:
    from datetime import datetime

    from ccc_runtime.acd import AgentState

    from ccc_dsl.simulate import simulate

    repo = write_repo(tmp_path / "repo", """\
        flow t "T" {
          start:
            transfer queue "help" timeout 2m announce position every 30s {
              busy -> hangup
              timeout -> hangup
            }
        }
        """)
    sim = simulate(repo, "t", caller="+8613912345678", called=None,
                   at=datetime.fromisoformat("2026-12-21T10:00+08:00"), presses=[],
                   agents={"ann": AgentState.BUSY})
    assert sim.diagnostics == []
    assert sim.result is not None
    spoken = [u.text for u in sim.result.prompts]
    assert spoken[:2] == ["You are number 1 in the queue. Please hold."] * 2
