"""`ccc disasm FILE`: a readable listing, JSON, and exit 1 with a message for a bad file."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from test_rt_bytecode import sample_flow

from ccc_dsl.cli import cli


def test_disasm_prints_the_listing(tmp_path: Path) -> None:
    path = tmp_path / "main.ccb"
    path.write_bytes(sample_flow())
    result = CliRunner().invoke(cli, ["disasm", str(path)])
    assert result.exit_code == 0
    assert "@0    MENU            ; main.ivr:3:3" in result.output
    result = CliRunner().invoke(cli, ["disasm", "--format", "json", str(path)])
    data = json.loads(result.output)
    assert data["nodes"][0]["operands"]["keys"] == ["1", "2", "123"]
    assert data["nodes"][0]["exits"][3] == {"number": 3, "name": "key 1", "target": 1}


def test_disasm_rejects_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.ccb"
    path.write_bytes(sample_flow()[:-10])
    result = CliRunner().invoke(cli, ["disasm", str(path)])
    assert result.exit_code == 1
    assert f"ccc: {path}: corrupt image: checksum mismatch" in result.output
    result = CliRunner().invoke(cli, ["disasm", str(tmp_path / "missing.ccb")])
    assert result.exit_code == 2  # a path that does not exist is a usage error
    assert "does not exist" in result.output
