"""Flow tests drive and check menu key patterns, a menu that repeats until the caller acts, and
a queue with a capacity (`waiting:` fills it before the call), `when_empty wait` and an
in-queue script (issue 10, L3)."""

from __future__ import annotations

from pathlib import Path

from ft_helpers import write_repo

from ccc_dsl.flowtest.runner import run_tests

FLOW = """\
flow t "T" {
  start:
    menu prompt "hello" timeout 3s interdigit 2s retries forever {
      1XX -> set extension = menu.input then line
      [2-3] -> set picked = menu.key then hangup
      nomatch -> play "bye" then reprompt
    }

  line:
    transfer queue "help"
        timeout 2m
        capacity 2
        when_empty wait
        waiting {
          at 0s say "Extension {{ extension }}, please hold."
          every 30s say position
          after 40s offer voicemail key 1
        } {
      full -> say "All lines are full." then hangup
      busy -> hangup
      timeout -> hangup
      voicemail -> hangup
    }
}
"""

HEAD = """\
defaults:
  flow: t
  caller: "+8613700000001"
  at: 2026-12-25T10:00+08:00
tests:
"""


def run(tmp_path: Path, tests: str) -> list[list[str]]:
    report = run_tests(write_repo(tmp_path / "repo", FLOW, {"t.yaml": HEAD + tests}))
    assert report.diagnostics == [], report.diagnostics
    return [[m.describe() for m in r.mismatches] for r in report.results]


def test_pattern_keys_and_a_forever_menu_are_checked(tmp_path: Path) -> None:
    assert run(tmp_path, """\
  - name: a wrong key, silence, then a pattern
    keys: "9,-,-,-,2"
    expect:
      outcome: hung up
      prompts: ["hello [en]", "bye [en]", "hello [en]", "hello [en]", "hello [en]",
                "hello [en]"]
      variables: {picked: "[2-3]", menu.input: "2"}
  - name: three digits reach the queue, whose script plays while nobody is logged in
    keys: "1,0,4"
    events:
      - {at: 70s, agent: ann, state: available}
    expect:
      outcome: transferred to queue help
      prompts: ["hello [en]", "Extension 104, please hold.",
                "You are number 1 in the queue. Please hold.",
                "You are number 1 in the queue. Please hold."]
      variables: {extension: "104"}
""") == [[], []]


def test_a_full_queue_and_a_test_that_expects_otherwise(tmp_path: Path) -> None:
    assert run(tmp_path, """\
  - name: two callers already wait, so the queue is full
    keys: "1,0,0"
    waiting: {help: 2}
    expect:
      outcome: hung up
      prompts: ["hello [en]", "All lines are full."]
  - name: one caller waiting leaves room, and the wait times out
    keys: "1,0,0"
    waiting: {help: 1}
    expect:
      outcome: hung up
      prompts_include: ["Extension 100, please hold."]
  - name: a test that expects the full queue to let the caller in fails
    keys: "1,0,0"
    waiting: {help: 2}
    expect:
      prompts_include: ["Extension 100, please hold."]
""") == [[], [], [
        "prompts_include (in this order): expected ['Extension 100, please hold.'], got "
        "['hello [en]', 'say \"All lines are full.\"']"]]


def test_waiting_names_a_skill_group(tmp_path: Path) -> None:
    report = run_tests(write_repo(tmp_path / "repo", FLOW, {"t.yaml": HEAD + """\
  - name: a misspelt group
    waiting: {hepl: 2}
    expect: {outcome: hung up}
"""}))
    assert [(d.code, d.message) for d in report.diagnostics] == [
        ("T703", "no skill group `hepl` in the repo")]
    assert "help" in (report.diagnostics[0].hint or "")
