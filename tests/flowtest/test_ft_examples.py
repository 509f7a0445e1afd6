"""The example repo's own flow tests (examples/tests/) pass with 100% edge coverage of every
flow (run on a copy, so nothing a run writes lands in examples/)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ft_helpers import EXAMPLES, examples_copy

from ccc_dsl.flowtest.runner import run_tests

FLOWS = ["account_lookup", "after_hours", "attendant", "connect_queue", "main", "screening",
         "studio_ivr", "survey", "vip_routing"]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return examples_copy(tmp_path_factory.mktemp("examples") / "examples")


@pytest.mark.parametrize("env", [None, "production"])
def test_example_tests_pass_with_full_edge_coverage(repo: Path, env: str | None) -> None:
    report = run_tests(repo, env)
    assert report.diagnostics == []
    failed = {r.case.id: [m.describe() for m in r.mismatches]
              for r in report.results if not r.passed}
    assert failed == {}
    assert [c.flow for c in report.coverage] == FLOWS
    assert {c.flow: c.edge_percent for c in report.coverage} == dict.fromkeys(FLOWS, 100.0)
    assert {c.flow: c.node_percent for c in report.coverage} == dict.fromkeys(FLOWS, 100.0)
    assert report.ok(min_coverage=100)
    assert {p.name for p in (EXAMPLES / "tests").glob("*.yaml")} == {f"{f}.yaml" for f in FLOWS}


def test_every_example_flow_has_its_own_test_file(repo: Path) -> None:
    report = run_tests(repo)
    flows_by_file: dict[str, set[str]] = {}
    for r in report.results:
        flows_by_file.setdefault(Path(r.case.file.display).stem, set())
        flows_by_file[Path(r.case.file.display).stem].add(r.case.flow)
    assert flows_by_file == {f: {f} for f in FLOWS}
