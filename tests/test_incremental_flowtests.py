"""`ccc test -n` and `ccc test --changed`: parallel workers give the report a serial run gives
(same results, same order, same coverage), and --changed runs exactly the tests whose outcome
can differ from the last run's while the coverage still covers the whole suite."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from repos import copy_examples

from ccc_dsl import util
from ccc_dsl.cli import cli
from ccc_dsl.flowtest import parallel, select
from ccc_dsl.flowtest.runner import RunReport, execute_all, run_tests
from ccc_dsl.flowtest.select import recording


@pytest.fixture(autouse=True)
def _pinned_tool(pinned_tool: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """ccc's own code pinned (conftest), also where the test selection reads it."""
    monkeypatch.setattr(select, "tool_fingerprint", lambda: pinned_tool)


def _repo(tmp_path: Path, copies: int = 1) -> Path:
    """The example repo, its tests written `copies` times (55 tests a copy)."""
    repo = tmp_path / "repo"
    copy_examples(repo)
    for source in sorted((repo / "tests").glob("*.yaml")):
        text = source.read_text(encoding="utf-8")
        for i in range(1, copies):
            (repo / "tests" / f"{source.stem}_{i}.yaml").write_text(
                text.replace("  - name: ", f"  - name: copy{i} "), encoding="utf-8")
    return repo


def _seen(report: RunReport) -> list[Any]:
    """Everything of a report but the timings (and the variables: a voicemail's message id
    holds its call's random id)."""
    return [[(r.case.id, r.passed, r.mismatches, r.result.outcome.describe(), r.log,
              r.result.prompts, r.result.steps) for r in report.results],
            [c.as_json() for c in report.coverage], report.diagnostics, report.unchanged]


def _run(repo: Path, workers: int = 1, changed: bool = False) -> RunReport:
    return run_tests(repo, None, None,
                     recording(partial(parallel.run_parallel, workers=workers), changed))


def test_parallel_workers_give_the_serial_report(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _repo(tmp_path, copies=2)
    serial = run_tests(repo, None, None, execute_all)
    assert len(serial.results) >= 2 * parallel.MIN_SHARE
    pids: set[int] = set()
    real = parallel.run_cases

    async def tagged(bundle: Any, cases: Any) -> Any:
        results = await real(bundle, cases)
        for r in results:
            r.log.append(f"pid {os.getpid()}")
        return results

    monkeypatch.setattr(parallel, "run_cases", tagged)
    report = _run(repo, workers=2)
    for r in report.results:
        pids.add(int(r.log.pop().split()[1]))
    assert len(pids) == 2 and os.getpid() in pids  # this process and one forked worker
    assert _seen(report) == _seen(serial)


def test_a_worker_that_dies_leaves_the_serial_outcome(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _repo(tmp_path, copies=2)
    serial = run_tests(repo, None, None, execute_all)

    def dies(index: int, workers: int) -> Any:
        os._exit(1)

    monkeypatch.setattr(parallel, "_share", dies)
    assert _seen(_run(repo, workers=2)) == _seen(serial)


def test_few_tests_or_one_worker_run_here(tmp_path: Path) -> None:
    """Under MIN_SHARE cases a worker, forking costs more than it saves: no fork."""
    repo = _repo(tmp_path)
    cases_run_here = _run(repo, workers=64)
    assert _seen(cases_run_here) == _seen(run_tests(repo, None, None, execute_all))


def _ids(report: RunReport) -> set[str]:
    return {r.case.id.split("::")[1] for r in report.results}


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_changed_runs_only_what_can_differ_and_covers_the_whole_suite(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    first = _run(repo)
    passed = {r.case.id.split("::")[1] for r in first.results if r.passed}
    again = _run(repo, changed=True)
    assert _ids(again) == _ids(first) - passed  # only last time's failures
    assert again.unchanged == len(passed)
    assert [c.as_json() for c in again.coverage] == [c.as_json() for c in first.coverage]

    # a sub-flow edited: the tests whose calls ran through it, and nothing else
    through = {r.case.id.split("::")[1] for r in first.results
               if any(flow == "after_hours" for flow, _ in r.result.visited)}
    assert through and through != _ids(first)
    _edit(repo / "flows" / "after_hours.ivr", "timeout 5s", "timeout 6s")
    edited = _run(repo, changed=True)
    assert _ids(edited) == through | (_ids(first) - passed)
    assert [c.as_json() for c in edited.coverage] == [c.as_json() for c in first.coverage]

    # a test edited: that test (its file's other tests are as they were)
    settled = _run(repo, changed=True)
    assert _ids(settled) == _ids(first) - passed
    name = next(r.case.name for r in first.results if r.case.file.path.name == "survey.yaml")
    _edit(repo / "tests" / "survey.yaml", f"  - name: {name}", f"  - name: renamed {name}")
    assert _ids(_run(repo, changed=True)) == {f"renamed {name}"} | (_ids(first) - passed)

    # the configuration changed: every test again
    _edit(repo / "prompts.yaml", "Sorry, that key is not valid.", "Sorry, that key is wrong.")
    assert len(_run(repo, changed=True).results) == len(first.results)


def test_without_changed_every_test_runs_and_is_recorded(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    first = _run(repo)
    assert len(_run(repo).results) == len(first.results)  # a plain run skips nothing
    assert _run(repo, changed=True).unchanged == first.passed


def test_cli_options(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    runner = CliRunner()
    for bad in ("0", "65", "two", "-1"):
        result = runner.invoke(cli, ["test", str(repo), "-n", bad])
        assert result.exit_code == 2 and "auto or a number from 1 to 64" in result.output
    first = runner.invoke(cli, ["test", str(repo), "-n", "auto"])
    assert "passed" in first.output.splitlines()[-1]
    second = runner.invoke(cli, ["test", str(repo), "--changed", "--format", "json"])
    assert '"unchanged": ' in second.output
    text = runner.invoke(cli, ["test", str(repo), "--changed"])
    assert "unchanged (not run)" in text.output.splitlines()[-1]
    assert "TOTAL" in text.output  # the whole suite's coverage, though few tests ran


def test_auto_on_one_core_is_serial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _repo(tmp_path, copies=2)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0})
    assert util.cores() == 1

    forks: list[int] = []

    def fork() -> int:
        forks.append(1)  # (run_parallel then runs that share here)
        raise OSError("no fork")

    monkeypatch.setattr(os, "fork", fork)
    result = CliRunner().invoke(cli, ["test", str(repo), "-n", "auto"])
    assert "passed" in result.output.splitlines()[-1]
    assert forks == []
    CliRunner().invoke(cli, ["test", str(repo), "-n", "2"])
    assert len(forks) == 1  # the same run with -n 2 would fork
