"""`ccc validate` on manifests: exit codes, output formats, and secrets never printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from mf_helpers import CASES, EXAMPLES

from ccc_dsl.cli import cli


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["validate", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.output


@pytest.mark.parametrize("env", [[], ["--env", "staging"], ["--env", "production"]])
def test_the_example_manifests_are_valid(env: list[str]) -> None:
    """No diagnostic about the example manifests (the flows are checked by their own tests)."""
    _, out = run(str(EXAMPLES), "--format", "json", *env)
    about_manifests = [d for d in json.loads(out)["diagnostics"]
                       if d["span"] is None or d["span"]["file"].endswith(".yaml")]
    assert about_manifests == []


def test_broken_repo_exits_1_with_github_annotations() -> None:
    code, out = run(str(CASES / "numbers"), "--format", "github")
    assert code == 1
    lines = out.splitlines()
    assert any(line.startswith("::error file=") and ",line=21,col=30," in line
               and "title=D404" in line for line in lines)
    assert any(line.startswith("::warning file=") and "title=D409" in line for line in lines)


def test_json_and_sarif_formats() -> None:
    code, out = run(str(CASES / "references"), "--format", "json")
    assert code == 1
    payload = json.loads(out)
    assert payload["valid"] is False
    first = payload["diagnostics"][0]
    assert first["code"] == "M301" and first["span"]["line"] == 5
    code, out = run(str(CASES / "references"), "--format", "sarif")
    assert code == 1 and json.loads(out)["runs"][0]["results"][0]["ruleId"] == "M301"


def test_unknown_environment_and_missing_root_exit_1(tmp_path: Path) -> None:
    code, out = run(str(CASES / "env-unknown"), "--env", "qa")
    assert code == 1 and "M204" in out
    # no close name: the hint says what to do instead of nothing
    assert "hint: pass a declared one (`--env production`), or declare `qa` under" in out
    code, out = run(str(tmp_path))
    assert code == 1 and "Y110" in out


def test_an_unknown_target_type_is_said_in_our_words(tmp_path: Path) -> None:
    """Not pydantic's "Input tag 'lcal' found using 'type' does not match any of the expected
    tags"."""
    (tmp_path / "ccc.yaml").write_text(
        "ccc: 1\nenvironments:\n  local:\n    target: {type: lcal, path: rt}\n",
        encoding="utf-8")
    code, out = run(str(tmp_path), "--env", "local")
    assert code == 1
    assert ("error[M202]: the root file: `environments.local.target`: `type: lcal` is not a "
            "known type; expected one of `local`, `ssh`") in out, out


@pytest.mark.parametrize("fmt", ["text", "json", "github", "sarif"])
def test_a_secret_written_as_a_value_is_never_printed(fmt: str) -> None:
    code, out = run(str(CASES / "secrets"), "--format", fmt)
    assert code == 1
    assert "D422" in out
    assert "hunter2-do-not-print" not in out


def test_secret_values_from_the_environment_are_never_read_into_output(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_TRUNK_PASSWORD", "s3cret-trunk-value")
    monkeypatch.setenv("ACME_LOOKUP_TOKEN", "s3cret-token-value")
    for fmt in ("text", "json"):
        _, out = run(str(EXAMPLES), "--format", fmt)
        assert "s3cret" not in out


def test_warnings_alone_exit_0(tmp_path: Path) -> None:
    (tmp_path / "ccc.yaml").write_text(
        "instance: {name: Test, domain: test}\n"
        "numbers:\n  spare: {number: '+86 21 6123 4567', type: landline}\n", encoding="utf-8")
    code, out = run(str(tmp_path))
    assert code == 0, out
    assert "warning[D409]" in out and "valid" in out
