"""`ccc test` and `ccc simulate` through the CLI: exit codes, output, JUnit XML, JSON."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from ft_helpers import write_repo
from test_ft_runner import FLOW, HEAD, KEY1, KEY2_WRONG, SILENCE

from ccc_dsl.cli import cli


def run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


@pytest.fixture
def passing(tmp_path: Path) -> Path:
    return write_repo(tmp_path / "ok", FLOW, {"t.yaml": HEAD + KEY1 + SILENCE})


@pytest.fixture
def failing(tmp_path: Path) -> Path:
    return write_repo(tmp_path / "bad", FLOW, {"t.yaml": HEAD + KEY1 + KEY2_WRONG})


def test_passing_run_exits_0_with_a_summary_line_alone(passing: Path) -> None:
    code, out = run("test", str(passing))
    assert code == 0, out
    assert re.search(r"^\S+t\.yaml \.\.$", out, re.M)
    assert re.search(r"^2 passed, 0 failed in \d+\.\d\ds$", out, re.M)
    assert re.search(r"^t\s+4/5\s+80\.0%\s+3/4\s+75\.0%\s+flows/t\.ivr$", out, re.M)


def test_a_failure_exits_1_and_shows_expected_and_actual(failing: Path) -> None:
    code, out = run("test", str(failing))
    assert code == 1
    assert " FAILURES " in out
    assert "  outcome: expected 'transferred to queue help', got 'hung up'" in out
    assert re.search(r"^1 passed, 1 failed in \d+\.\d\ds$", out, re.M)


def test_min_coverage(passing: Path) -> None:
    assert run("test", str(passing), "--min-coverage", "75")[0] == 0
    code, out = run("test", str(passing), "--min-coverage", "90")
    assert code == 1
    assert "FAIL: flow t: edge coverage 75.0% is below --min-coverage 90%" in out
    assert run("test", str(passing), "--min-coverage", "101")[0] == 2
    assert run("test", str(passing), "--min-coverage", "nan")[0] == 2  # would check nothing


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run("test", str(tmp_path / "missing"))[0] == 2


def test_a_bad_test_file_is_a_located_diagnostic(tmp_path: Path) -> None:
    root = write_repo(tmp_path / "r", FLOW, {"t.yaml": HEAD + "  - name: x\n    kyes: '1'\n"
                                                       "    expect: {}\n"})
    code, out = run("test", str(root))
    assert code == 1
    assert "t.yaml:7:5: error[T701]: test `x`: unknown key `kyes`" in out
    assert "did you mean `keys`?" in out
    assert "Traceback" not in out


def test_a_pattern_that_matches_no_test_fails(failing: Path) -> None:
    code, out = run("test", str(failing), "-k", "no-such-test")
    assert code == 1  # pytest exits 5: a CI job must not pass having run nothing
    assert "error[T711]: no tests matched -k 'no-such-test'" in out


def test_json_output(failing: Path) -> None:
    code, out = run("test", str(failing), "--format", "json", "-k", "wrongly")
    assert code == 1
    doc = json.loads(out)
    assert (doc["ok"], doc["passed"], doc["failed"], doc["deselected"]) == (False, 0, 1, 1)
    assert doc["tests"][0]["failures"][0] == {
        "what": "outcome", "expected": "transferred to queue help", "actual": "hung up"}
    assert doc["coverage"][0]["edges"] == {"total": 4, "covered": 1, "percent": 25.0}


def test_junit_xml_parses_with_the_right_counts(failing: Path, tmp_path: Path) -> None:
    target = tmp_path / "reports" / "junit.xml"
    assert run("test", str(failing), "--junit-xml", str(target))[0] == 1
    root = ET.parse(target).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("2", "1", "0")
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["key 1 says bye",
                                              "key 2 wrongly expected to queue"]
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure is not None
    assert failure.get("message") == ("outcome: expected 'transferred to queue help', "
                                      "got 'hung up'")
    assert "caller presses 2" in (failure.text or "")


def test_junit_xml_counts_a_broken_file_as_an_error(tmp_path: Path) -> None:
    root = write_repo(tmp_path / "r", FLOW, {"a.yaml": HEAD + KEY1, "b.yaml": "tests: 3\n"})
    target = tmp_path / "junit.xml"
    assert run("test", str(root), "--junit-xml", str(target))[0] == 1
    doc = ET.parse(target).getroot()
    assert (doc.get("tests"), doc.get("failures"), doc.get("errors")) == ("2", "0", "1")
    (error,) = doc.iter("error")
    assert error.get("type") == "T703"


def test_simulate_prints_the_trace_with_dsl_locations(passing: Path) -> None:
    code, out = run("simulate", "t", str(passing), "--caller", "+8613700000001",
                    "--at", "2026-12-25T10:00+08:00", "--keys", "1")
    assert code == 0, out
    assert re.search(r"^\s+0\.0s\s+flows/t\.ivr:3:5\s+t@0\s+MENU\s+-> key 1", out, re.M)
    assert re.search(r"flows/t\.ivr:4:12\s+t@1\s+PLAY\s+-> next", out)
    assert "outcome: hung up" in out
    assert "caller presses 1" in out


def test_simulate_json_and_stubs(tmp_path: Path) -> None:
    flow = """\
    flow t "T" {
      start:
        call function "lookup" with { a: 1 } timeout 1s {
          ok -> say "Hi {{ result.name }}" then hangup
          error -> hangup
        }
    }
    """
    root = write_repo(tmp_path / "r", flow)
    stub = tmp_path / "reply.json"
    stub.write_text('{"name": "Ann"}', encoding="utf-8")
    code, out = run("simulate", "t", str(root), "--caller", "+8613700000001",
                    "--at", "2026-12-25T10:00+08:00", "--stub", f"lookup={stub}",
                    "--format", "json")
    assert code == 0, out
    doc = json.loads(out)
    assert doc["prompts"] == ['say "Hi Ann"']
    assert doc["trace"][0]["loc"] == "flows/t.ivr:3:5"
    assert doc["record"]["outcome"] == "hung up"
    stub.write_text('{"name": \n', encoding="utf-8")
    code, out = run("simulate", "t", str(root), "--caller", "+8613700000001",
                    "--stub", f"lookup={stub}")
    assert code == 1
    assert f"{stub}:2:1: error[T706]: the stub file is not JSON" in out


def test_simulate_interactive_asks_for_keys(passing: Path) -> None:
    code, out = run("simulate", "t", str(passing), "--caller", "+8613700000001",
                    "--at", "2026-12-25T10:00+08:00", "--interactive", stdin="\n1\n")
    assert code == 0, out
    assert "hello [en] - key within 3 s?" in out
    assert "-> nomatch" not in out
    assert re.search(r"MENU\s+-> noinput", out) and re.search(r"MENU\s+-> key 1", out)


@pytest.mark.parametrize(("args", "code"), [
    (["--keys", "1,x"], 2), (["--at", "2026-12-25T10:00"], 2), (["--agent", "ann=asleep"], 2),
    (["--agent", "zed=available"], 1), (["--at", "9999-12-31T23:59+00:00"], 2),
    (["--keys", "1@99999999999999999999s"], 2),
])
def test_simulate_bad_arguments(passing: Path, args: list[str], code: int) -> None:
    assert run("simulate", "t", str(passing), "--caller", "+1", *args)[0] == code


def test_simulate_unknown_flow(passing: Path) -> None:
    code, out = run("simulate", "tt", str(passing), "--caller", "+8613700000001")
    assert code == 1
    assert "error[T713]: no flow `tt`" in out and "did you mean `t`?" in out


def test_simulate_names_files_as_validate_does(passing: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative to the current folder for a relative PATH (it printed absolute paths)."""
    monkeypatch.chdir(passing / "flows")
    code, out = run("simulate", "t", "--caller", "+8613700000001", "--env", "nosuch")
    assert code == 1
    assert out.startswith("../ccc.yaml:") and "error[M204]" in out, out


def test_test_from_a_folder_without_tests_points_at_the_repo(passing: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    """`ccc test` in flows/ runs no test files there: the hint names the repo to run."""
    monkeypatch.chdir(passing / "flows")
    code, out = run("test")
    assert code == 1 and "error[T711]: no flow tests found in ." in out
    assert "or run `ccc test ..` for the repo's tests" in out


def test_a_bad_default_is_reported_once(tmp_path: Path) -> None:
    tests = HEAD.replace("flow: t", "flow: tt") + KEY1 + SILENCE
    root = write_repo(tmp_path / "r", FLOW, {"t.yaml": tests})
    target = tmp_path / "junit.xml"
    code, out = run("test", str(root), "--junit-xml", str(target))
    assert code == 1
    assert out.count("error[T713]") == 1
    assert ET.parse(target).getroot().get("errors") == "1"
    assert re.search(r"^0 passed, 0 failed, 1 error\(s\) in \d+\.\d\ds$", out, re.M)


def test_an_unwritable_junit_file_is_an_error_not_a_crash(passing: Path) -> None:
    code, out = run("test", str(passing), "--junit-xml", str(passing / "ccc.yaml" / "j.xml"))
    assert code == 1
    assert "j.xml" in out and "internal error" not in out


def test_simulate_with_a_fixed_time_prints_the_same_every_run(passing: Path) -> None:
    args = ("simulate", "t", str(passing), "--caller", "+8613700000001",
            "--at", "2026-12-25T10:00+08:00", "--keys", "1", "--format", "json")
    first, second = run(*args), run(*args)
    assert first[0] == 0 and first == second


def test_simulate_json_errors_are_json(passing: Path) -> None:
    code, out = run("simulate", "tt", str(passing), "--caller", "+8613700000001",
                    "--format", "json")
    assert code == 1
    assert [d["code"] for d in json.loads(out)["diagnostics"]] == ["T713"]


def test_junit_xml_stays_well_formed_with_control_characters(tmp_path: Path) -> None:
    name = '  - name: "odd \\x01 name"\n    keys: "2"\n    expect: {outcome: "\\x02"}\n'
    root = write_repo(tmp_path / "r", FLOW, {"t.yaml": HEAD + name})
    target = tmp_path / "junit.xml"
    assert run("test", str(root), "--junit-xml", str(target))[0] == 1
    (case,) = ET.parse(target).getroot().iter("testcase")
    assert case.get("name") == "odd \ufffd name"
