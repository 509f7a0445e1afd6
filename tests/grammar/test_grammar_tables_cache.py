"""Lark's parse tables (a pickle) are kept beside the grammar in a tree we can write, else in
ccc's own cache folder, never under Lark's predictable name in the shared temp folder (where
another local user could plant one); a cut tables file is rebuilt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lark import Lark

from ccc_dsl.grammar import parser
from ccc_dsl.grammar.parser import GRAMMAR_PATH, TABLES_PATH, lark_options


def test_in_a_tree_we_can_write_the_tables_are_beside_the_grammar() -> None:
    assert os.access(TABLES_PATH.parent, os.W_OK)
    assert lark_options()["cache"] == str(TABLES_PATH)
    parser.lark_parser()
    assert TABLES_PATH.stat().st_size > 10_000


def test_elsewhere_they_go_to_the_cache_folder_or_nowhere(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = tmp_path / "site-packages"
    locked.mkdir(mode=0o500)
    monkeypatch.setattr(parser, "TABLES_PATH", locked / "ivr.lark-tables")
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # as for a user who isn't root
    monkeypatch.setenv("CCC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CCC_NO_CACHE", raising=False)
    place = Path(str(lark_options()["cache"]))
    assert place == tmp_path / "cache" / "grammar" / "ivr.lark-tables"
    assert (place.parent.stat().st_mode & 0o777) == 0o700
    monkeypatch.setenv("CCC_NO_CACHE", "1")
    assert lark_options()["cache"] is False


def test_a_cut_tables_file_is_rebuilt(tmp_path: Path) -> None:
    tables = tmp_path / "ivr.lark-tables"
    options = {**lark_options(), "cache": str(tables)}
    grammar = GRAMMAR_PATH.read_text(encoding="utf-8")
    Lark(grammar, **options)
    tables.write_bytes(tables.read_bytes()[:5000])  # cut short, as by a crash mid-write
    rebuilt = Lark(grammar, **options)
    assert rebuilt.parse("flow x {\n  start:\n    hangup\n}\n") is not None
    assert tables.stat().st_size > 10_000  # built again and kept
