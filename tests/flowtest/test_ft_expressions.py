"""Flow tests drive and check expressions (issue 10): arithmetic on a counter and on collected
digits, functions, numbers given as text compared as numbers, `now` and date parts read from
the test's clock (`at:`, in the instance's zone), a missing field said as nothing, a division
by zero taking the error path; and the compiler's checks of them through `ccc validate`."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from ft_helpers import write_repo

from ccc_dsl.cli import cli
from ccc_dsl.flowtest.runner import run_tests

# The example of docs/dsl.md "Expressions", as written there.
FLOW = """\
flow t "Expressions" {
  start:
    set tries = 0
    set info.level = "gold"

  ask:
    collect account digits 4..8 terminator # prompt "hello" timeout 5s retries 3 {
      ok -> check
      exhausted -> hangup
    }

  check:
    set tries = tries + 1
    if hour(now) >= 18 or weekday(now) > 5 -> say "We are closed." then hangup
    if number(account) % 2 == 1 and tries < 2 -> say "Odd: once more." then ask
    set code = pad(account, 8, "0")
    set share = 100000 / number(account)
    if account > "999" -> say "Account {{ code }}, share {{ share }}.{{ info.note }}" then hangup
    say "Short account {{ code }}, {{ code | length }} digits."
    hangup
}
"""

TESTS = """\
defaults:
  flow: t
  caller: "+8613700000001"
  at: 2026-12-02T10:00+08:00
tests:
  - name: an even account
    keys: "1,2,3,4,#"
    expect:
      outcome: hung up
      prompts: [hello, "Account 00001234, share 81."]
      variables: {tries: 1, code: "00001234", share: 81}
  - name: an odd account asks once more
    keys: "1,2,3,5,#,2,0,0,0,#"
    expect:
      prompts: [hello, "Odd: once more.", hello, "Account 00002000, share 50."]
      variables: {tries: 2}
  - name: digits compare as numbers
    keys: "0,5,0,0,#"
    expect:
      prompts: [hello, "Short account 00000500, 8 digits."]
  - name: a division by zero takes the error path
    keys: "0,0,0,0,#"
    expect:
      faults: 1
      outcome: hung up
  - name: closed at 18:00 in the instance's zone
    at: 2026-12-02T10:00Z
    keys: "1,2,3,4,#"
    expect: {prompts: [hello, "We are closed."]}
  - name: closed on Saturday
    at: 2026-12-05T10:00+08:00
    keys: "1,2,3,4,#"
    expect: {prompts: [hello, "We are closed."]}
"""


def test_expressions_in_a_flow_are_driven_and_checked_by_flow_tests(tmp_path: Path) -> None:
    report = run_tests(write_repo(tmp_path / "repo", FLOW, {"t.yaml": TESTS}))
    assert report.diagnostics == []
    failures = {r.case.name: [m.describe() for m in r.mismatches]
                for r in report.results if not r.passed}
    assert failures == {}
    assert report.passed == 6


def test_a_wrong_expectation_of_an_expression_fails(tmp_path: Path) -> None:
    wrong = TESTS.replace('code: "00001234"', 'code: "1234"')
    report = run_tests(write_repo(tmp_path / "repo", FLOW, {"t.yaml": wrong}))
    assert report.failed == 1
    assert [m.describe() for m in report.results[0].mismatches] == [
        "variable code: expected '1234', got '00001234'"]


def test_the_docs_example_is_this_flow() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "dsl.md").read_text(encoding="utf-8")
    assert FLOW in docs


BAD = """\
flow t "Bad expressions" {
  start:
    set total = "abc" - 1
    set shout = uper(caller.number)
    set now = 5
    hangup
}
"""


def test_validate_reports_expression_checks_at_their_place(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", BAD.replace("    set now = 5\n", ""))
    result = CliRunner().invoke(cli, ["validate", str(repo), "--format", "github"])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("::")]
    assert any("line=4,col=17" in line and "P216" in line and "upper" in line
               for line in lines), lines
    # the parse error stops the file first; without it the type check runs
    repo2 = write_repo(tmp_path / "repo2", BAD.replace("    set shout = uper(caller.number)\n",
                                                       "").replace("    set now = 5\n", ""))
    result = CliRunner().invoke(cli, ["validate", str(repo2), "--format", "github"])
    assert result.exit_code == 1
    assert "line=3,col=17" in result.output and "A616" in result.output


def test_now_is_reserved_as_a_variable(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", BAD.replace("    set total = \"abc\" - 1\n", "")
                      .replace("    set shout = uper(caller.number)\n", ""))
    result = CliRunner().invoke(cli, ["validate", str(repo)])
    assert result.exit_code == 1
    assert "P105" in result.output and "`now` is a reserved word" in result.output


def test_graph_labels_show_functions(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", FLOW)
    result = CliRunner().invoke(cli, ["graph", "t", str(repo)])
    assert result.exit_code == 0, result.output
    assert "set code = pad(account, 8, #quot;0#quot;)" in result.output
    assert "if hour(now) #gt;= 18 or weekday(now) #gt; 5" in result.output


def _deep_repo(tmp_path: Path, expr: str) -> Path:
    return write_repo(tmp_path / "repo", f'flow t "Deep" {{\n  start:\n    set x = {expr}\n'
                      '    say "{{ x }}"\n    hangup\n}\n', {"t.yaml": (
                          "tests:\n  - name: deep\n    flow: t\n    caller: \"+8613700000001\"\n"
                          "    at: 2026-12-02T10:00+08:00\n    expect: {variables: {x: 40}}\n")})


def test_a_long_sum_compiles_and_runs(tmp_path: Path) -> None:
    """40 terms are one bytecode node: within every depth bound."""
    report = run_tests(_deep_repo(tmp_path, " + ".join(["1"] * 40)))
    assert report.diagnostics == [] and report.passed == 1


def test_an_expression_too_deep_for_the_bytecode_is_p109_not_a_crash(tmp_path: Path) -> None:
    deep = "x"
    for _ in range(31):
        deep = f"({deep} + 1) * 2"
    repo = _deep_repo(tmp_path, deep)
    result = CliRunner().invoke(cli, ["validate", str(repo)])
    assert result.exit_code == 1, result.output
    assert "P109" in result.output and "more than 30 deep" in result.output
    assert "internal error" not in result.output
