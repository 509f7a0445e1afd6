"""Issue 11 item 4 (and 10): a secret on a broken YAML line is never echoed, in any format:
YAML-level diagnostics (Y101, Y102, Y103, Y108) show no excerpt of a line that may hold a
secret, and no message quotes a value under a secret-like key. Tags on mapping keys are Y103."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from repos import copy_examples

from ccc_dsl.cli import cli

SECRET = "hunter2"


def broken_repo(tmp_path: Path, lines: str) -> Path:
    repo = tmp_path / "repo"
    copy_examples(repo)
    functions = repo / "functions.yaml"
    text = functions.read_text(encoding="utf-8")
    at = text.index("\n", text.index("functions:")) + 1
    functions.write_text(text[:at] + lines + text[at:], encoding="utf-8")
    return repo


@pytest.mark.parametrize(("lines", "code"), [
    (f"  f1:\n    password: {SECRET}: x\n", "Y101"),
    (f"  f1:\n    password: *{SECRET}\n", "Y101"),
    (f"  f1:\n    password: !secret {SECRET}\n", "Y103"),
    (f"  f1:\n    password: !{SECRET} x\n", "Y103"),
    (f"  f1:\n    password: !!int {SECRET}\n", "Y103"),
    (f"  f1:\n    url: http://x\n    password: a\n    password: {SECRET}\n", "Y102"),
    (f"  f1:\n    password: {SECRET}\x00x\n", "Y108"),
    (f"  f1:\n    headers: {{Authorization: Bearer {SECRET}: x}}\n", "Y101"),
    (f"  f1:\n    api_token: \"{SECRET}\n", "Y101"),
])
@pytest.mark.parametrize("fmt", ["text", "json", "github", "sarif"])
def test_a_secret_on_a_broken_line_is_never_echoed(tmp_path: Path, lines: str, code: str,
                                                   fmt: str) -> None:
    result = CliRunner().invoke(cli, ["validate", str(broken_repo(tmp_path, lines)),
                                      "--format", fmt])
    assert result.exit_code == 1
    assert code in result.output
    assert SECRET not in result.output


def test_other_yaml_lines_keep_their_excerpt(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", str(broken_repo(tmp_path, "  f1: [x\n"))])
    assert result.exit_code == 1 and " | " in result.output  # the excerpt gutter


@pytest.mark.parametrize("tagged", ["!custom schedules:", "!!binary agents:", "!x functions:"])
def test_a_tag_on_a_mapping_key_is_y103(tmp_path: Path, tagged: str) -> None:
    repo = tmp_path / "repo"
    copy_examples(repo)
    target = next(p for p in sorted(repo.glob("*.yaml"))
                  if f"\n{tagged.split()[-1]}" in "\n" + p.read_text(encoding="utf-8"))
    text = "\n" + target.read_text(encoding="utf-8")
    target.write_text(text.replace("\n" + tagged.split()[-1], "\n" + tagged, 1)[1:],
                      encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(repo), "--format", "json"])
    assert result.exit_code == 1
    assert '"Y103"' in result.output and "a tag on the key" in result.output
