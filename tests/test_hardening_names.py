"""Issue 11 item 9: a YAML file that can't be read at all (a syntax error at its end) drops the
names it declares; name resolution then waits for a clean load, as it does for flows with
syntax errors, instead of reporting every use of those names (R50x) before the real Y101."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from repos import copy_examples

from ccc_dsl.cli import cli


def test_a_syntax_error_at_the_end_of_people_yaml_is_reported_alone(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    copy_examples(repo)
    with (repo / "people.yaml").open("a", encoding="utf-8") as out:
        out.write("  broken: [x\n")
    result = CliRunner().invoke(cli, ["validate", str(repo), "--format", "json"])
    assert result.exit_code == 1
    found = [d["code"] for d in json.loads(result.output)["diagnostics"]]
    assert found == ["Y101"]


def test_a_duplicate_key_keeps_name_resolution(tmp_path: Path) -> None:
    """Y102 keeps the file's other data, so flows are still checked against its names."""
    repo = tmp_path / "repo"
    copy_examples(repo)
    main = repo / "flows" / "main.ivr"
    main.write_text(main.read_text(encoding="utf-8").replace('agent "alice"', 'agent "nobody"', 1),
                    encoding="utf-8")
    with (repo / "people.yaml").open("a", encoding="utf-8") as out:
        out.write("agents:\n  zed: {display_name: Z}\n")  # a second top-level `agents:`
    result = CliRunner().invoke(cli, ["validate", str(repo), "--format", "json"])
    found = {d["code"] for d in json.loads(result.output)["diagnostics"]}
    assert "Y102" in found and "R503" in found
