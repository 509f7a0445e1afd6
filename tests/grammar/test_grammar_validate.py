"""`ccc validate` reports flow syntax errors together with manifest errors, in one run."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from gr_helpers import EXAMPLES
from repos import copy_examples

from ccc_dsl.cli import cli


def test_validate_reports_flow_and_manifest_errors_together(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    copy_examples(repo)
    (repo / "flows" / "broken.ivr").write_text('flow broken {\n  s:\n    plya "x"\n}\n',
                                               encoding="utf-8")
    with (repo / "hours.yaml").open("a", encoding="utf-8") as f:
        f.write("bogus_key: 1\n")
    result = CliRunner().invoke(cli, ["validate", str(repo), "--format", "json"])
    assert result.exit_code == 1
    found = {(d["code"], Path(d["span"]["file"]).name, d["span"]["line"])
             for d in json.loads(result.output)["diagnostics"]}
    assert ("P104", "broken.ivr", 3) in found
    assert any(name == "hours.yaml" for _, name, _ in found)


def test_the_example_repo_validates() -> None:
    result = CliRunner().invoke(cli, ["validate", str(EXAMPLES.parent)])
    assert result.exit_code == 0, result.output
