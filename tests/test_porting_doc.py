"""docs/porting.md shows how to write other platforms' blocks here: every `ivr` block of it must
parse and compile without an error against the example call center, so the page can't promise
what the language doesn't do."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ccc_dsl.compiler.driver import analyse
from ccc_dsl.grammar.formatter import format_text
from ccc_dsl.grammar.parser import parse_text
from ccc_dsl.manifest.loader import load_repo

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "porting.md"
BLOCK = re.compile(r"^```ivr\n(.*?)^```$", re.MULTILINE | re.DOTALL)
SNIPPETS = BLOCK.findall(PAGE.read_text(encoding="utf-8"))


def as_flow(snippet: str, n: int) -> str:
    """A snippet as a whole flow: statements become the body of its one step."""
    body = "".join(f"    {line}\n" if line else "\n" for line in snippet.splitlines())
    return f'flow porting_{n} "docs/porting.md block {n}" {{\n  start:\n{body}}}\n'


def test_the_page_has_a_snippet_per_platform() -> None:
    assert len(SNIPPETS) >= 5
    for platform in ("Amazon Connect", "Twilio Studio", "Genesys Cloud Architect", "Asterisk",
                     "VoiceXML", "What does not exist here"):
        assert f"\n## {platform}" in PAGE.read_text(encoding="utf-8"), platform


@pytest.mark.parametrize("n", range(len(SNIPPETS)))
def test_every_snippet_compiles_against_the_examples(n: int) -> None:
    text = as_flow(SNIPPETS[n], n)
    parsed = parse_text(text, f"porting_{n}.ivr")
    assert parsed.module is not None and parsed.diagnostics == [], (text, parsed.diagnostics)
    loaded = load_repo(ROOT / "examples", None)
    assert loaded.model is not None
    found = analyse([parsed.module], loaded.model, ROOT / "examples").diagnostics
    errors = [d for d in found if d.is_error and d.span is not None
              and d.span.file == f"porting_{n}.ivr"]
    assert errors == [], (text, errors)
    assert format_text(text, "t.ivr") == format_text(format_text(text, "t.ivr"), "t.ivr")
