"""Data-driven broken cases: each folder under cases/ is a small config repo, and its
expected.txt lists the exact diagnostics (`file:line:col: severity[code]: message`, paths
relative to the case) that `load_repo` must produce, sorted. A `# env: NAME` line selects an
environment. Regenerate with CCC_UPDATE_EXPECTED=1 and review the diff."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mf_helpers import CASES

from ccc_dsl.diagnostics import sorted_diagnostics
from ccc_dsl.manifest.loader import load_repo

CASE_DIRS = sorted(p for p in CASES.iterdir() if p.is_dir())


def _render(case: Path, env: str | None) -> list[str]:
    result = load_repo(case, env)
    lines = []
    for d in sorted_diagnostics(result.diagnostics):
        assert d.span is not None, f"unlocated diagnostic {d}"
        where = f"{os.path.relpath(d.span.file, case)}:{d.span.line}:{d.span.column}"
        lines.append(f"{where}: {d.severity}[{d.code}]: {d.message}")
    return lines


@pytest.mark.parametrize("case", CASE_DIRS, ids=[p.name for p in CASE_DIRS])
def test_case_diagnostics(case: Path) -> None:
    expected_file = case / "expected.txt"
    header = [ln for ln in expected_file.read_text(encoding="utf-8").splitlines()
              if ln.startswith("#")] if expected_file.exists() else []
    env = next((ln.split(":", 1)[1].strip() for ln in header if ln.startswith("# env:")), None)
    actual = _render(case, env)
    if os.environ.get("CCC_UPDATE_EXPECTED"):
        expected_file.write_text("\n".join([*header, *actual]) + "\n", encoding="utf-8")
    expected = [ln for ln in expected_file.read_text(encoding="utf-8").splitlines()
                if ln and not ln.startswith("#")]
    assert actual == expected
    assert actual, "a broken case must produce diagnostics"
