"""The code registry matches the source (every code emitted is registered, at the severity it is
emitted with) and the docs (every table row is registered, and every registered code has a row
in the page its docs anchor names)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ccc_dsl.codes import CODES, DOCS
from ccc_dsl.diagnostics import Diagnostic, error, warning
from ccc_dsl.views.diagnostics import render_github, render_sarif

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*(ROOT / "ccc_dsl").rglob("*.py"), *(ROOT / "runtime/ccc_runtime").rglob("*.py")])
CODE_LITERAL = re.compile(r"""["']([A-Z]\d{3})["']""")
EMITTED = re.compile(r"""\b(error|warning)\(\s*["']([A-Z]\d{3})["']""")
DOC_ROW = re.compile(r"^\| ([A-Z]\d{3}) \| (?:(error|warning|\(plan\)) \| )?", re.M)


def _source(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_every_code_in_the_source_is_registered() -> None:
    missing = {f"{code} ({path.relative_to(ROOT)})" for path in SOURCES
               for code in CODE_LITERAL.findall(_source(path)) if code not in CODES}
    assert not missing, ("register these in ccc_dsl/codes.py and add a row to the docs table "
                         "of their stage (codes.DOCS)")


def test_codes_are_emitted_at_their_registered_severity() -> None:
    wrong = [f"{code} as {kind} ({path.relative_to(ROOT)})" for path in SOURCES
             for kind, code in EMITTED.findall(_source(path))
             if code in CODES and str(CODES[code].severity) != kind]
    assert not wrong
    assert EMITTED.findall(_source(ROOT / "ccc_dsl/manifest/checks.py"))  # the pattern matches


def test_docs_tables_and_registry_agree() -> None:
    documented: dict[str, tuple[str, str | None]] = {}
    for page in sorted((ROOT / "docs").glob("*.md")):
        for code, severity in DOC_ROW.findall(page.read_text(encoding="utf-8")):
            documented[code] = (f"docs/{page.name}", severity or None)
    assert set(documented) == set(CODES)
    for code, (page, severity) in documented.items():
        entry = CODES[code]
        assert entry.docs.split("#")[0] == page, code
        if severity in ("error", "warning"):
            assert str(entry.severity) == severity, code


def _anchor(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_docs_anchor_exists() -> None:
    for target in set(DOCS.values()):
        page, anchor = target.split("#")
        headings = re.findall(r"^#+ (.+)$", (ROOT / page).read_text(encoding="utf-8"), re.M)
        assert anchor in {_anchor(h) for h in headings}, target


def test_no_code_branches_on_a_code_spelling() -> None:
    spelling = re.compile(r"""code\s*[<>]=?\s*["']|code\.startswith\(|code\[\d*:?\d*\]""")
    offenders = [str(path.relative_to(ROOT)) for path in SOURCES
                 if spelling.search(_source(path))]
    assert not offenders


def test_sarif_rules_carry_title_level_and_docs() -> None:
    log = json.loads(render_sarif([warning("A601", "unreachable"), error("P101", "bad"),
                                   error("Z999", "a code this version doesn't know")]))
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert rules["A601"]["shortDescription"]["text"] == CODES["A601"].title
    assert rules["A601"]["defaultConfiguration"]["level"] == "warning"
    assert rules["P101"]["properties"]["docs"] == "docs/dsl.md#diagnostics"
    assert rules["Z999"] == {"id": "Z999"}


CODE_TOKEN = re.compile(r"\b[A-Z]\d{3}\b")
PRINTED = re.compile(r"\b(error|warning|info)\[([A-Z]\d{3})\]")
ANNOTATION = re.compile(r"::(error|warning|notice) [^\n]*?title=([A-Z]\d{3})([^:\n]*)::")


def _pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_codes_in_readme_and_docs_exist_and_are_printed_as_the_tool_prints_them() -> None:
    """A code in the docs is one the tool has; where the docs show output (`error[D404]`, a
    GitHub annotation), its severity and title are what the tool prints for that code."""
    kinds = {"error": "error", "warning": "warning", "notice": "info"}
    for page in _pages():
        text = page.read_text(encoding="utf-8")
        name = page.relative_to(ROOT)
        unknown = sorted(set(CODE_TOKEN.findall(text)) - set(CODES))
        assert not unknown, f"{name} names codes the tool doesn't have: {unknown}"
        for severity, code in PRINTED.findall(text):
            assert str(CODES[code].severity) == severity, f"{name}: {severity}[{code}]"
        for kind, code, title in ANNOTATION.findall(text):
            assert str(CODES[code].severity) == kinds[kind], f"{name}: ::{kind} ... {code}"
            printed = render_github([Diagnostic(CODES[code].severity, code, "m")])
            expected = printed.split("title=", 1)[1].split("::", 1)[0]
            assert f"{code}{title}" == expected.replace("%3A", ":").replace("%2C", ","), (
                f"{name}: the annotation of {code} is titled as the tool doesn't print it")
