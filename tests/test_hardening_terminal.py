"""Issue 11 item 11: control characters from a repo or a caller never reach the terminal raw
(they are shown as escapes), and a control character in an .ivr file (a NUL in a string) is a
located error."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ccc_dsl.cli import cli
from ccc_dsl.views.terminal import visible

sys.path.insert(0, str(Path(__file__).parent / "flowtest"))
from ft_helpers import write_repo
from repos import copy_examples

RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def test_a_yaml_key_that_sets_the_terminal_title_is_shown_escaped(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    copy_examples(repo)
    (repo / "evil.yaml").write_text('agents:\n  "\\e]0;pwned\\a": {display_name: X}\n',
                                    encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(repo)])
    assert result.exit_code == 1
    assert "\\x1b]0;pwned\\x07" in result.output
    assert not RAW.search(result.output.replace("\n", ""))


@pytest.mark.parametrize(("text", "column"), [
    ('flow t "T" {\n  s: say "nul\x00x" then hangup\n}\n', 14),
    ('flow t "T\x1b[31m" {\n  s: hangup\n}\n', 10),
    ('flow t "T" {\n  s: hangup \x07\n}\n', 13),
])
@pytest.mark.parametrize("command", ["validate", "fmt"])
def test_a_control_character_in_a_flow_is_a_located_error(tmp_path: Path, text: str,
                                                           column: int, command: str) -> None:
    repo = write_repo(tmp_path / "r", 'flow t "T" {\n  s: hangup\n}\n')
    (repo / "flows" / "t.ivr").write_bytes(text.encode("utf-8"))
    args = [command, str(repo / "flows" / "t.ivr") if command == "fmt" else str(repo)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    line = 1 if column == 10 else 2
    assert f"t.ivr:{line}:{column}: error[P107]: a control character" in result.output
    assert not RAW.search(result.output.replace("\n", ""))
    assert (repo / "flows" / "t.ivr").read_bytes() == text.encode("utf-8")  # fmt left it


def test_a_function_reply_with_control_characters_is_shown_escaped(tmp_path: Path) -> None:
    flow = '''\
flow t "T" {
  s: call function "lookup" timeout 1s {
      ok -> say "Hello {{ result.name }}" then hangup
      error -> hangup
    }
}
'''
    repo = write_repo(tmp_path / "r", flow)
    reply = tmp_path / "reply.json"
    reply.write_text(json.dumps({"name": "\x1b]0;pwned\x07\u202e"}), encoding="utf-8")
    result = CliRunner().invoke(cli, ["simulate", "t", str(repo), "--caller", "+8613700000001",
                                      "--stub", f"lookup={reply}",
                                      "--at", "2026-11-18T10:00+08:00"])
    assert result.exit_code == 0, result.output
    assert "\\x1b]0;pwned\\x07\\u202e" in result.output
    assert not RAW.search(result.output.replace("\n", "")) and "\u202e" not in result.output


def test_visible_keeps_text_and_line_breaks() -> None:
    assert visible("余额 12.5 元\n\tok") == "余额 12.5 元\n\tok"
    assert visible("\x00\x1b\x9b\u2066") == "\\x00\\x1b\\x9b\\u2066"


def test_plan_values_show_c1_controls_and_direction_marks_escaped() -> None:
    from ccc_dsl.views.plan_text import value_text

    assert value_text({"description": "a\x9b\u202eb"}) == '{"description": "a\\x9b\\u202eb"}'
