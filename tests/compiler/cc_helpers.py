"""Shared helpers for the compiler tests: the example model, case files and their golden
files, and a copy of the example repo with its known flow problems fixed."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from repos import copy_examples

from ccc_dsl.compiler.driver import analyse
from ccc_dsl.compiler.results import Analysis
from ccc_dsl.diagnostics import Diagnostic
from ccc_dsl.grammar import ast
from ccc_dsl.grammar.parser import parse_file, parse_text
from ccc_dsl.manifest.loader import load_repo
from ccc_dsl.manifest.model import Model

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CASES = Path(__file__).resolve().parent / "cases"


@cache
def example_model() -> Model:
    loaded = load_repo(EXAMPLES, None)
    assert loaded.model is not None and not loaded.diagnostics
    return loaded.model


def case_files(case: Path) -> list[Path]:
    return sorted(case.glob("*.ivr")) if case.is_dir() else [case]


def golden_file(case: Path) -> Path:
    """Where a case's expected diagnostics are: `NAME.expected`, or `expected.txt` in a folder
    case (tests/golden.py)."""
    return case / "expected.txt" if case.is_dir() else case.with_suffix(".expected")


def parse_modules(files: list[Path]) -> list[ast.Module]:
    modules = []
    for file in files:
        parsed = parse_file(file)
        assert parsed.module is not None, parsed.diagnostics
        assert not parsed.diagnostics, parsed.diagnostics
        modules.append(parsed.module)
    return modules


def analyse_files(files: list[Path]) -> tuple[Analysis, list[Diagnostic]]:
    """Analyse flows against the example manifests; diagnostics about the example manifests
    themselves (bindings to flows the case doesn't define) are left out."""
    result = analyse(parse_modules(files), example_model(), EXAMPLES)
    names = {str(f) for f in files}
    return result, [d for d in result.diagnostics if d.span is not None
                    and d.span.file in names]


def analyse_text(text: str, file: str = "t.ivr") -> tuple[Analysis, list[Diagnostic]]:
    parsed = parse_text(text, file)
    assert parsed.module is not None and not parsed.diagnostics, parsed.diagnostics
    result = analyse([parsed.module], example_model(), EXAMPLES)
    return result, [d for d in result.diagnostics if d.span is not None and d.span.file == file]


def examples_copy(dest: Path) -> Path:
    """A copy of examples/ that a test may compile into or edit."""
    copy_examples(dest)
    return dest
