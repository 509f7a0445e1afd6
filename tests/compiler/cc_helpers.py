"""Shared helpers for the compiler tests: the example model, case files and their
expectations, and a copy of the example repo with its known flow problems fixed."""

from __future__ import annotations

import re
import shutil
from functools import cache
from pathlib import Path

from ccc_dsl.compiler.driver import Analysis, analyse
from ccc_dsl.diagnostics import Diagnostic
from ccc_dsl.grammar import ast
from ccc_dsl.grammar.parser import parse_file, parse_text
from ccc_dsl.manifest.loader import load_repo
from ccc_dsl.manifest.model import Model

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CASES = Path(__file__).resolve().parent / "cases"
_EXPECT = re.compile(r"//\s*expect:\s*(\d+):(\d+)\s+([A-Z]\d{3})")


@cache
def example_model() -> Model:
    loaded = load_repo(EXAMPLES, None)
    assert loaded.model is not None and not loaded.diagnostics
    return loaded.model


def case_files(case: Path) -> list[Path]:
    return sorted(case.glob("*.ivr")) if case.is_dir() else [case]


def expected(case: Path) -> list[tuple[str, int, int, str]]:
    """(file, line, column, code) from the `// expect: L:C CODE` comments of a case."""
    out = []
    for file in case_files(case):
        for match in _EXPECT.finditer(file.read_text(encoding="utf-8")):
            out.append((str(file), int(match[1]), int(match[2]), match[3]))
    return sorted(out)


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
    shutil.copytree(EXAMPLES, dest, ignore=shutil.ignore_patterns(".ccc", "build"))
    return dest
