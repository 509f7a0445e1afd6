"""Diagnostics render the same facts in every format: location, code, message, hint."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from ccc_dsl.diagnostics import Span, error, sorted_diagnostics, warning
from ccc_dsl.views.diagnostics import render_github, render_json, render_sarif, render_text
from ccc_dsl.views.terminal import use_color


def test_sorted_by_file_line_column_and_deduplicated() -> None:
    a = error("M201", "late", Span.point("b.yaml", 3, 1))
    b = error("M201", "early", Span.point("a.yaml", 9, 4))
    c = warning("D401", "first", Span.point("a.yaml", 2, 7))
    assert sorted_diagnostics([a, b, c, a]) == [c, b, a]


def test_text_shows_source_line_caret_and_hint(tmp_path: Path) -> None:
    source = tmp_path / "callcenter.yaml"
    source.write_text("numbers:\n  - number: 4001234567\n    outbound: true\n", encoding="utf-8")
    d = error("D401", "a 400 number cannot call out", Span(str(source), 3, 5, 3, 13),
              hint="bind a landline to the skill group instead")
    text = render_text([d])
    lines = text.splitlines()
    assert lines[0] == f"{source}:3:5: error[D401]: a 400 number cannot call out"
    assert lines[1].endswith("|     outbound: true")
    assert lines[2].endswith("|     ^^^^^^^^")
    assert lines[3] == "  = hint: bind a landline to the skill group instead"
    assert lines[-1] == "1 error(s), 0 warning(s)"


def test_a_span_over_several_lines_is_underlined_to_the_end_of_its_first(
        tmp_path: Path) -> None:
    source = tmp_path / "f.ivr"
    source.write_text('  transfer queue "q" {\n    timeout -> hangup\n  }\n', encoding="utf-8")
    text = render_text([error("A608", "no busy exit", Span(str(source), 1, 3, 3, 4))])
    assert '    1 |   transfer queue "q" {\n      |   ' + "^" * 20 + "\n" in text


def test_github_annotations_escape_properties_and_message() -> None:
    d = error("P101", "expected `->`\nafter key", Span("flows/a,b.ivr", 4, 9, 4, 10), hint="add ->")
    assert render_github([d]) == (
        "::error file=flows/a%2Cb.ivr,line=4,col=9,endLine=4,"
        "title=P101 unexpected input%2C with what was expected in words%3A…::"
        "expected `->`%0Aafter key (hint: add ->)"
    )


def test_json_and_sarif_carry_locations() -> None:
    d = warning("D402", "number bound to no flow", Span("x.yaml", 2, 3, 2, 9))
    payload = json.loads(render_json([d]))
    assert payload["valid"] is True
    assert payload["warning_count"] == 1
    assert payload["diagnostics"][0]["span"] == {
        "file": "x.yaml", "line": 2, "column": 3, "end_line": 2, "end_column": 9}
    sarif = json.loads(render_sarif([d]))
    result = sarif["runs"][0]["results"][0]
    assert result["ruleId"] == "D402"
    assert result["level"] == "warning"
    region = result["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (2, 3)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_follows_the_terminal_and_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    assert use_color(_Tty()) is True
    assert use_color(io.StringIO()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_color(_Tty()) is False
    d = error("P102", "missing `->`")
    assert "\x1b[" not in render_text([d], color=use_color(_Tty()))
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert use_color(io.StringIO()) is True
    assert "\x1b[31merror[P102]\x1b[0m" in render_text([d], color=True)


def test_long_lines_are_cut_around_the_column(tmp_path: Path) -> None:
    source = tmp_path / "long.ivr"
    source.write_text("x" * 300 + "BAD" + "y" * 300 + "\n", encoding="utf-8")
    text = render_text([error("P101", "bad", Span(str(source), 1, 301, 1, 304))])
    shown, caret = text.splitlines()[1:3]
    assert len(shown) < 120
    assert shown.startswith("    1 | \u2026") and shown.endswith("\u2026")
    assert shown.index("BAD") == caret.index("^^^")
    assert caret.count("^") == 3


def test_wide_characters_and_control_bytes_keep_the_caret_aligned(tmp_path: Path) -> None:
    source = tmp_path / "cc.yaml"
    source.write_text("name: 客服中心\x07 bad\n", encoding="utf-8")
    text = render_text([error("D401", "bad", Span(str(source), 1, 13, 1, 16))])
    shown, caret = text.splitlines()[1:3]
    assert "\x07" not in shown and "\ufffd" in shown
    # Four wide characters take eight terminal columns: the caret sits under `bad`.
    prefix = shown[: shown.index("bad")]
    assert caret.index("^") == len(prefix) + sum(1 for c in prefix if "\u4e00" <= c <= "\u9fff")


def test_sarif_uris_are_valid_uri_references() -> None:
    """A space or `#` in a file name would make the URI invalid or cut it at a fragment."""
    d = error("M301", "missing", Span("my repo/#1 numbers.yaml", 2, 3, 2, 5))
    uri = json.loads(render_sarif([d]))["runs"][0]["results"][0]["locations"][0][
        "physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "my%20repo/%231%20numbers.yaml"
