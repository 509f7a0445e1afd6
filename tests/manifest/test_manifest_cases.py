"""Data-driven broken cases: each folder under cases/ is a small config repo, and its
expected.txt lists the exact diagnostics (`file:line:col: severity[code]: message`, paths
relative to the case) that `load_repo` must produce, sorted. A `# env: NAME` line selects an
environment. Golden files: tests/golden.py (CCC_UPDATE_GOLDEN=1 rewrites them)."""

from __future__ import annotations

from pathlib import Path

import pytest
from golden import assert_golden, diagnostic_lines
from mf_helpers import CASES

from ccc_dsl.manifest.loader import load_repo

CASE_DIRS = sorted(p for p in CASES.iterdir() if p.is_dir())


@pytest.mark.parametrize("case", CASE_DIRS, ids=[p.name for p in CASE_DIRS])
def test_case_diagnostics(case: Path) -> None:
    expected_file = case / "expected.txt"
    header = [ln for ln in expected_file.read_text(encoding="utf-8").splitlines()
              if ln.startswith("#")] if expected_file.exists() else []
    env = next((ln.split(":", 1)[1].strip() for ln in header if ln.startswith("# env:")), None)
    actual = diagnostic_lines(load_repo(case, env).diagnostics, case)
    assert_golden(expected_file, "\n".join([*header, *actual]) + "\n")
    assert actual, "a broken case must produce diagnostics"
