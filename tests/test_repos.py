"""tests/repos.py: copies of examples/ leave out what runs left in it and keep symlinks, and no
test copies examples/ another way."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import repos


def test_a_copy_leaves_out_runs_and_keeps_symlinks(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "examples"
    (source / "flows").mkdir(parents=True)
    (source / "ccc.yaml").write_text("ccc: 1\n", encoding="utf-8")
    (source / "flows" / "main.ivr").write_text("flow main {}\n", encoding="utf-8")
    (source / "alias.ivr").symlink_to("flows/main.ivr")
    bundles = source / ".ccc" / "runtime" / "staging" / "bundles" / "abc"
    bundles.mkdir(parents=True)
    (bundles.parent.parent / "current").symlink_to("bundles/abc")  # what `ccc apply` leaves
    (source / "build").mkdir()
    (source / "build" / "main.ccb").write_bytes(b"CCB")
    monkeypatch.setattr(repos, "EXAMPLES", source)
    copy = repos.copy_examples(tmp_path / "copy")
    assert sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*")) == [
        "alias.ivr", "ccc.yaml", "flows", "flows/main.ivr"]
    assert (copy / "alias.ivr").is_symlink()


def test_no_test_copies_examples_by_hand() -> None:
    by_hand = re.compile(r"copytree\((?:EXAMPLES|ROOT / \"examples\"|EXAMPLES\.parent),")
    tests = Path(__file__).resolve().parent
    offenders = [str(p.relative_to(tests)) for p in sorted(tests.rglob("*.py"))
                 if p.name != "repos.py" and p != Path(__file__).resolve()
                 and by_hand.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
