"""Every command that reads a repo names files as `ccc validate` does: relative to the current
folder for a relative PATH (commands.common.repo_path), so a CI log or a terminal shows the
same `examples/people.yaml:6:24` from validate, plan, test and serve."""

from __future__ import annotations

from pathlib import Path

import pytest
from deploy_helpers import ccc, edit
from repos import copy_examples


@pytest.mark.parametrize("command", [
    ["validate", "repo"],
    ["plan", "repo"],
    ["apply", "repo", "--auto-approve"],
    ["test", "repo"],
    ["test", "repo/tests/main.yaml"],
    ["serve", "repo", "--runtime-dir", "scratch"],
])
def test_diagnostics_name_files_as_validate_does(command: list[str], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    repo = copy_examples(tmp_path / "repo")
    edit(repo / "people.yaml", "outbound_numbers: [sales-sh, ",
         "outbound_numbers: [nope, sales-sh, ")
    monkeypatch.chdir(tmp_path)
    result = ccc(*command)
    assert result.exit_code == 1, result.output
    assert "repo/people.yaml:6:24: error[M301]: number `nope` does not exist" in result.output
    assert str(tmp_path) not in result.output
