"""The one golden-file mechanism of the test suite: a case's expected output lives in a text
file next to it; a test renders what the tool does and compares. Run with CCC_UPDATE_GOLDEN=1
to (re)write every golden file the run touches, then review the diff before committing."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ccc_dsl.diagnostics import Diagnostic, sorted_diagnostics

UPDATE_FLAG = "CCC_UPDATE_GOLDEN"


def assert_golden(path: Path, actual: str) -> None:
    """`actual` must equal the golden file at `path` (written first under CCC_UPDATE_GOLDEN)."""
    if os.environ.get(UPDATE_FLAG):
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"no golden file {path}; run with {UPDATE_FLAG}=1 to write it"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{path} differs; run with {UPDATE_FLAG}=1 and review the diff"


def diagnostic_lines(diagnostics: Iterable[Diagnostic], base: Path) -> list[str]:
    """`file:line:col: severity[code]: message`, sorted, files relative to `base` (in messages
    too, so a golden file doesn't depend on where the checkout is)."""
    lines = []
    prefix = str(base.resolve()) + os.sep
    for d in sorted_diagnostics(diagnostics):
        assert d.span is not None, f"unlocated diagnostic {d}"
        where = f"{os.path.relpath(d.span.file, base)}:{d.span.line}:{d.span.column}"
        lines.append(f"{where}: {d.severity}[{d.code}]: {d.message.replace(prefix, '')}")
    return lines
