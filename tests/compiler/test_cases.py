"""Data-driven analysis cases: each file (or folder) under cases/ is a flow whose golden file
(`NAME.expected`, or `expected.txt` in a folder; tests/golden.py) lists exactly the diagnostics
it must produce, against the example call center's manifests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cc_helpers import CASES, EXAMPLES, ROOT, analyse_files, case_files, example_model, golden_file
from golden import assert_golden, diagnostic_lines

from ccc_dsl.compiler.driver import analyse
from ccc_dsl.grammar.parser import parse_file

ALL_CASES = sorted([*CASES.glob("*.ivr"), *(p for p in CASES.iterdir() if p.is_dir())])


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda p: p.stem)
def test_case_reports_exactly_its_expected_diagnostics(case: Path) -> None:
    _, diagnostics = analyse_files(case_files(case))
    lines = diagnostic_lines(diagnostics, CASES)
    assert_golden(golden_file(case), "".join(f"{line}\n" for line in lines))


def test_every_diagnostic_has_a_message_and_a_hint() -> None:
    for case in ALL_CASES:
        _, diagnostics = analyse_files(case_files(case))
        for d in diagnostics:
            assert d.message and d.hint, d


def test_there_is_a_case_for_every_analysis_code() -> None:
    codes = {code for case in ALL_CASES
             for code in re.findall(r"\[([A-Z]\d{3})\]", golden_file(case).read_text())}
    wanted = {f"A6{n:02d}" for n in range(1, 15)} - {"A612"}
    wanted |= {"R501", "R502", "R503", "R504", "R505", "R506", "R507", "R508", "R510", "R511",
               "R512", "R513", "R514"}
    assert wanted <= codes, sorted(wanted - codes)


def test_analysis_survives_every_grammar_case() -> None:
    """Flows the parser accepts with check errors (P2xx: duplicate labels, missing prompts...)
    still go through resolution and every analysis without an exception."""
    modules = [m for f in sorted((ROOT / "tests" / "grammar" / "cases").glob("*.ivr"))
               if (m := parse_file(f).module) is not None]
    assert modules
    result = analyse(modules, example_model(), EXAMPLES)
    assert all(d.span is not None for d in result.diagnostics)
