"""Issue 11: `ccc validate` from a folder inside a config repo (flows/) checks that repo, found
upward as `ccc test` finds it; outside any repo, Y110 is at the folder given (not at a
ccc.yaml that doesn't exist) with the hint to run `ccc init`."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from repos import copy_examples

from ccc_dsl.cli import cli


def test_validate_from_a_subfolder_checks_the_repo(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    repo = copy_examples(tmp_path / "r")
    (repo / "people.yaml").write_text((repo / "people.yaml").read_text(encoding="utf-8")
                                      .replace("groups: {support: ", "groups: {suport: ", 1),
                                      encoding="utf-8")
    monkeypatch.chdir(repo / "flows")
    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == 1
    assert "../people.yaml:" in result.output and "M301" in result.output
    assert "Y110" not in result.output


def test_validate_outside_any_repo_points_at_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "mine" / "flows"
    folder.mkdir(parents=True)
    result = CliRunner().invoke(cli, ["validate", str(folder)])
    assert result.exit_code == 1
    assert f"{folder}:1:1: error[Y110]: no ccc.yaml in this folder" in result.output
    assert "ccc init" in result.output and "ccc.yaml:1:1" not in result.output
