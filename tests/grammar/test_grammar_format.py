"""`ccc fmt` and the formatter: canonical layout, comments kept, idempotent, `--check`."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from gr_helpers import CASES

from ccc_dsl.cli import cli
from ccc_dsl.grammar.formatter import format_source, format_text
from ccc_dsl.grammar.parser import parse_text

MESSY = """// Head comment.
flow main   "Main" { // about main
start: play "hello"   then menu prompt "main-greeting" timeout 5s retries 2 {
 1 -> sales  // the sales line
   // no input: ask again
 noinput -> reprompt
 exhausted -> hangup }
 sales:
   transfer queue "sales" priority 5 timeout 120s familiar music "hold-music" \
announce position every 30s offer callback after 60s key 1 { busy -> voicemail "sales" }
   // before the closing brace
}
// Tail comment.
"""

CANONICAL = """// Head comment.
flow main "Main" { // about main
  start:
    play "hello"
    menu prompt "main-greeting" timeout 5s retries 2 {
      1 -> sales // the sales line
      // no input: ask again
      noinput -> reprompt
      exhausted -> hangup
    }

  sales:
    transfer queue "sales"
        priority 5
        timeout 2m
        familiar
        music "hold-music"
        announce position every 30s
        offer callback after 1m key 1 {
      busy -> voicemail "sales"
    }
  // before the closing brace
}

// Tail comment.
"""


def test_canonical_layout_with_comments_kept() -> None:
    assert format_text(MESSY, "m.ivr") == CANONICAL


def test_formatting_is_idempotent_and_keeps_the_ast() -> None:
    once = format_text(MESSY, "m.ivr")
    assert format_text(once, "m.ivr") == once
    assert parse_text(once, "m.ivr").module == parse_text(MESSY, "m.ivr").module


VALID_CASES = sorted(p for p in CASES.glob("*.ivr") if not p.name.startswith("error_"))


@pytest.mark.parametrize("path", VALID_CASES, ids=[p.stem for p in VALID_CASES])
def test_cases_format_idempotently(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    once = format_text(text, path.name)
    assert format_text(once, path.name) == once
    assert parse_text(once, path.name).module == parse_text(text, path.name).module
    assert once.count("//") == text.count("//")


def test_a_statement_missing_a_required_option_is_not_formatted() -> None:
    text = "flow f {\n  s:\n   collect x { ok -> hangup }\n}\n"
    result = format_source(text, "f.ivr")
    assert result.text == text
    assert [d.code for d in result.diagnostics] == ["P207", "P207"]


def test_long_chains_and_languages_wrap() -> None:
    text = ('flow f { s: menu prompt "m" { 1 -> play "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" then '
            'play "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" then hangup } '
            'say { zh: "你好", en: "Hello" } }')
    out = format_text(text, "f.ivr")
    assert "\n          then play \"bbb" in out
    assert '    say {\n      zh: "你好",\n      en: "Hello"\n    }\n' in out
    assert all(len(line) <= 100 for line in out.splitlines())
    assert format_text(out, "f.ivr") == out


def test_a_comment_after_a_multiline_say_stays_put() -> None:
    """A trailing comment on the first line of a `say { ... }` stays on that line: put after
    the closing brace, it would move to its own line on the next run (not idempotent)."""
    text = 'flow f {\n  s:\n    say { // greeting\n      en: "Hi",\n      zh: "你好"\n    }\n' \
        "    hangup\n}\n"
    once = format_text(text, "f.ivr")
    assert once == text
    assert format_text(once, "f.ivr") == once


@pytest.mark.parametrize(("written", "printed"), [
    ("0.0000001", "0.0000001"),
    ("1000000000000000000000000000000.0", "1000000000000000000000000000000.0"),
    ("2.50", "2.5"),
])
def test_decimals_keep_their_value(written: str, printed: str) -> None:
    """Small and large decimals are printed in full, never rounded to six places."""
    text = f"flow f {{\n  s:\n    set x = {written}\n    hangup\n}}\n"
    out = format_text(text, "f.ivr")
    assert f"set x = {printed}\n" in out
    assert parse_text(out, "f.ivr").module == parse_text(text, "f.ivr").module


def test_a_decimal_too_large_for_a_float_is_not_formatted() -> None:
    text = "flow f { s: set x = " + "9" * 400 + ".5 hangup }"
    result = format_source(text, "f.ivr")
    assert result.text == text
    assert [d.code for d in result.diagnostics] == ["P214"]


def test_bad_input_is_returned_unchanged_with_diagnostics() -> None:
    bad = "flow f { s: plya }"
    result = format_source(bad, "f.ivr")
    assert result.text == bad
    assert result.diagnostics and not result.ok
    assert format_text(bad, "f.ivr") == bad


def test_cli_fmt_check_diff_and_write(tmp_path: Path) -> None:
    good = tmp_path / "good.ivr"
    good.write_text(CANONICAL, encoding="utf-8")
    messy = tmp_path / "sub" / "messy.ivr"
    messy.parent.mkdir()
    messy.write_text(MESSY, encoding="utf-8")
    runner = CliRunner()

    check = runner.invoke(cli, ["fmt", str(tmp_path), "--check"])
    assert check.exit_code == 1
    assert f"would reformat {messy}" in check.output
    assert str(good) not in check.output
    assert messy.read_text(encoding="utf-8") == MESSY

    diff = runner.invoke(cli, ["fmt", str(messy), "--diff"])
    assert diff.exit_code == 0
    assert "+    transfer queue \"sales\"" in diff.output
    assert messy.read_text(encoding="utf-8") == MESSY

    write = runner.invoke(cli, ["fmt", str(tmp_path)])
    assert write.exit_code == 0
    assert messy.read_text(encoding="utf-8") == CANONICAL
    assert runner.invoke(cli, ["fmt", str(tmp_path), "--check"]).exit_code == 0


def test_cli_fmt_skips_a_folder_whose_name_ends_in_ivr(tmp_path: Path) -> None:
    (tmp_path / "old.ivr").mkdir()
    (tmp_path / "old.ivr" / "main.ivr").write_text(CANONICAL, encoding="utf-8")
    result = CliRunner().invoke(cli, ["fmt", str(tmp_path), "--check"])
    assert result.exit_code == 0, result.output
    assert "1 unchanged" in result.output


def test_cli_fmt_reports_syntax_errors_and_leaves_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.ivr"
    broken.write_text("flow f {\n  s:\n    plya \"x\"\n}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["fmt", str(broken)])
    assert result.exit_code == 1
    assert f"{broken}:3:5: error[P104]" in result.output
    assert broken.read_text(encoding="utf-8") == "flow f {\n  s:\n    plya \"x\"\n}\n"


def test_cli_fmt_rejects_a_missing_path(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["fmt", str(tmp_path / "nope.ivr")])
    assert result.exit_code == 2
