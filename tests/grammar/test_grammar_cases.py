"""Data-driven cases: every `cases/*.ivr` parses to the AST (span-free dump) and diagnostics in
its golden file `cases/*.expected` (tests/golden.py). `valid_*` cases must give no diagnostic;
`error_*` ones a syntax error (P1xx) and no module; `check_*` ones a module and P2xx checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from golden import assert_golden
from gr_helpers import CASES

from ccc_dsl.diagnostics import Diagnostic
from ccc_dsl.grammar.ast import dump
from ccc_dsl.grammar.parser import parse_text

CASE_FILES = sorted(CASES.glob("*.ivr"))


def _line(d: Diagnostic) -> str:
    where = "-"
    if d.span is not None:
        where = f"{d.span.line}:{d.span.column}-{d.span.end_line}:{d.span.end_column}"
    hint = f" (hint: {d.hint})" if d.hint else ""
    return f"{where} {d.severity} {d.code}: {d.message}{hint}"


def render_case(path: Path) -> str:
    result = parse_text(path.read_text(encoding="utf-8"), f"cases/{path.name}")
    out = ["# diagnostics", *(_line(d) for d in result.diagnostics), "# ast"]
    out.append(dump(result.module) if result.module is not None else "None")
    return "\n".join(out) + "\n"


def test_there_are_cases_of_each_kind() -> None:
    prefixes = {p.name.split("_")[0] for p in CASE_FILES}
    assert {"valid", "error", "check"} <= prefixes


@pytest.mark.parametrize("path", CASE_FILES, ids=[p.stem for p in CASE_FILES])
def test_case(path: Path) -> None:
    result = parse_text(path.read_text(encoding="utf-8"), f"cases/{path.name}")
    kind = path.name.split("_")[0]
    if kind == "valid":
        assert result.diagnostics == []
        assert result.module is not None
    elif kind == "error":
        assert result.module is None
        assert result.diagnostics and all(d.code.startswith("P1") for d in result.diagnostics)
    else:
        assert result.module is not None
        assert result.diagnostics and all(d.code.startswith("P2") for d in result.diagnostics)
    assert all(d.span is not None and d.span.file == f"cases/{path.name}"
               for d in result.diagnostics)
    assert_golden(path.with_suffix(".expected"), render_case(path))
