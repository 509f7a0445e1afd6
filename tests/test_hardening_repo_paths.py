"""Issue 11 items 12 and 13: nothing a pattern matches is skipped silently (a folder named
`x.yaml`, a link to /dev/zero, a FIFO, a broken or looping link), the validate cache sees such
entries, and a file given as PATH is Y110 at that file, not a screen of unrelated errors."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from repos import copy_examples

from ccc_dsl.cli import cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def repo_copy(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    copy_examples(repo)
    return repo


def codes(repo: Path) -> list[tuple[str, str]]:
    result = CliRunner().invoke(cli, ["validate", str(repo), "--format", "json"])
    return [(d["code"], d["message"]) for d in json.loads(result.output)["diagnostics"]]


CASES: list[tuple[str, Callable[[Path], None], str, str]] = [
    ("folder", lambda r: (r / "dir.yaml").mkdir(), "Y113",
     "dir.yaml matches `*.yaml` but is a folder"),
    ("flow folder", lambda r: (r / "flows" / "d.ivr").mkdir(), "Y113", "flows/d.ivr matches"),
    ("dev zero", lambda r: (r / "zero.yaml").symlink_to("/dev/zero"), "Y114",
     "zero.yaml links outside the repo"),
    ("fifo", lambda r: os.mkfifo(r / "f.yaml"), "Y113",
     "f.yaml matches `*.yaml` but is not a regular"),
    ("broken link", lambda r: (r / "b.yaml").symlink_to("gone.yaml"), "Y113", "a broken symlink"),
    ("loop", lambda r: (r / "l.yaml").symlink_to("l.yaml"), "Y113", "a symlink loop"),
]


@pytest.mark.parametrize(("make", "code", "message"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_a_matched_entry_that_is_no_file_is_reported(tmp_path: Path, make: Callable[[Path], None],
                                                     code: str, message: str) -> None:
    repo = repo_copy(tmp_path)
    assert codes(repo) == []  # and the clean result is now cached
    make(repo)
    start = time.perf_counter()
    found = codes(repo)
    assert time.perf_counter() - start < 20  # nothing opened the FIFO or read /dev/zero
    assert any(c == code and message in m for c, m in found), found


@pytest.mark.parametrize("name", ["people.yaml", "flows/main.ivr", "tests/main_test.yaml"])
def test_a_file_given_as_path_is_y110_at_that_file(name: str) -> None:
    path = EXAMPLES / name
    if not path.is_file():
        path = next((EXAMPLES / Path(name).parent).glob("*" + Path(name).suffix))
    result = CliRunner().invoke(cli, ["validate", str(path), "--format", "json"])
    assert result.exit_code == 1
    found = json.loads(result.output)["diagnostics"]
    assert [d["code"] for d in found] == ["Y110"]
    assert found[0]["span"]["file"] == str(path)


def test_the_root_file_itself_is_still_a_repo() -> None:
    result = CliRunner().invoke(cli, ["validate", str(EXAMPLES / "ccc.yaml")])
    assert result.exit_code == 0, result.output
