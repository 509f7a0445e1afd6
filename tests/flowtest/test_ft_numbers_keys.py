"""`numbers:` in a flow test says how an outside number answers. A key that is no phone number
was accepted and matched no call, so the test checked nothing (issue 10): it is T725 now, and a
number written in national or spaced form matches the E.164 number the flow dials."""

from __future__ import annotations

from pathlib import Path

from ft_helpers import write_repo

from ccc_dsl.flowtest.runner import run_tests

FLOW = """\
flow t "T" {
  start:
    transfer number "+8613800138000" timeout 20s {
      busy -> play "bye" then hangup
      timeout -> pbx
    }

  pbx:
    transfer sip "sip:100@pbx.example.com" timeout 20s {
      busy -> play "hello" then hangup
      timeout -> hangup
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


def repo(tmp_path: Path, tests: str) -> Path:
    """The small repo, with an outbound policy and a number that let the flow dial at 10:00."""
    root = write_repo(tmp_path / "repo", FLOW, {"t.yaml": HEAD + tests})
    things = root / "things.yaml"
    things.write_text(things.read_text(encoding="utf-8").replace(
        "type: landline}", "type: landline, outbound_concurrency: 5}"), encoding="utf-8")
    with (root / "ccc.yaml").open("a", encoding="utf-8") as ccc:
        ccc.write("  outbound_policy: open\n")
    (root / "outbound.yaml").write_text(
        'outbound_policies:\n'
        '  open: {calling_hours: "08:00-21:00", sip_domains: [pbx.example.com]}\n',
        encoding="utf-8")
    return root


def test_a_key_that_is_no_number_is_t725_at_the_key(tmp_path: Path) -> None:
    report = run_tests(repo(tmp_path, """\
  - name: busy mobile
    numbers: {mobile: busy}
    expect: {outcome: hung up}
"""))
    assert [(d.code, d.span.line if d.span else 0) for d in report.diagnostics] == [
        ("T725", 7)]
    assert "`mobile`" in report.diagnostics[0].message
    assert report.results == []


def test_a_national_or_spaced_number_matches_the_dialled_one(tmp_path: Path) -> None:
    report = run_tests(repo(tmp_path, """\
  - name: busy in national form
    numbers: {"138 0013 8000": busy}
    expect: {outcome: hung up, prompts: ["bye [en]"]}
  - name: no answer in E.164
    numbers: {"+8613800138000": no-answer, "sip:100@pbx.example.com": no-answer}
    expect: {outcome: hung up, prompts: []}
"""))
    assert report.diagnostics == []
    assert [r.mismatches for r in report.results] == [[], []]


def test_a_sip_uri_key_matches_the_uri_transfer_sip_dials(tmp_path: Path) -> None:
    report = run_tests(repo(tmp_path, """\
  - name: the number does not answer, the PBX extension is busy
    numbers: {"+8613800138000": no-answer, "sip:100@PBX.example.com": busy}
    expect: {outcome: hung up, prompts: ["hello [en]"]}
"""))
    assert report.diagnostics == []
    assert [r.mismatches for r in report.results] == [[]]
