"""Lark's parse tables are kept in ccc's own cache folder, never under Lark's predictable name in
the shared temp folder (a pickle another local user could plant), and a damaged file is rebuilt."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ccc_dsl.grammar.parser import lark_options

PARSE = ("from ccc_dsl.grammar.parser import parse_text; "
         "r = parse_text('flow x {\\n  start:\\n    hangup\\n}\\n', 'x.ivr'); "
         "print(r.module is not None, len(r.diagnostics))")


def _parse_in_fresh_process(env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", PARSE], env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    assert done.stderr == ""
    return done.stdout.strip()


def test_the_tables_live_in_the_cache_folder_and_a_damaged_file_is_rebuilt(
        tmp_path: Path) -> None:
    env = {**os.environ, "CCC_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("CCC_NO_CACHE", None)
    assert _parse_in_fresh_process(env) == "True 0"
    tables = tmp_path / "cache" / "grammar" / "ivr-tables.lark-cache"
    assert tables.stat().st_size > 10_000
    assert (tables.parent.stat().st_mode & 0o777) == 0o700
    tables.write_bytes(tables.read_bytes()[:5000])  # cut short, as by a crash mid-write
    assert _parse_in_fresh_process(env) == "True 0"
    assert tables.stat().st_size > 10_000  # built again and kept


def test_with_the_cache_off_no_tables_file_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCC_NO_CACHE", "1")
    assert lark_options()["cache"] is False
