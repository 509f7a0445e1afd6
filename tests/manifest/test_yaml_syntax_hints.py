"""Issue 11: a YAML syntax error is reported where it can be fixed: an unclosed quote at the
quote (not at the end of the file), a quote that swallows lines with the line it opened on, a
tab in the indentation with YAML's rule."""

from __future__ import annotations

from ccc_dsl.manifest.yamlsafe import parse_yaml


def _only(text: str) -> tuple[int, int, str, str | None]:
    (d,) = parse_yaml("people.yaml", text.encode()).diagnostics
    assert d.code == "Y101" and d.span is not None
    return d.span.line, d.span.column, d.message, d.hint


def test_an_unclosed_quote_is_located_at_the_quote() -> None:
    line, column, _, hint = _only('skill_groups:\n  sales:\n    description: "x\n\n')
    assert (line, column) == (3, 18)
    assert hint is not None and "never closed" in hint


def test_a_quote_closed_lines_later_names_the_line_it_opened_on() -> None:
    text = ('skill_groups:\n  sales:\n    description: "orders\n  support:\n'
            '    description: "help"\n')
    line, _, _, hint = _only(text)
    assert line == 5
    assert hint == "the quote opened at line 3, column 18 is never closed on its line"


def test_a_tab_in_the_indentation_says_yaml_forbids_it() -> None:
    line, _, _, hint = _only("skill_groups:\n  sales:\n\t description: x\n")
    assert line == 3
    assert hint == "YAML forbids tabs for indentation: indent with spaces"


def test_other_syntax_errors_get_no_made_up_hint() -> None:
    _, _, message, hint = _only("a:\n  b: 1\n   c: 2\n")
    assert "mapping values are not allowed" in message and hint is None
