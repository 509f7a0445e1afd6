"""`ccc init` writes a repo that validates and tests at once, refuses to overwrite, and names
schemas it ships; `ccc schema` writes the schemas the models generate."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from ccc_dsl.cli import cli
from ccc_dsl.grammar.formatter import format_file
from ccc_dsl.manifest.schema import render_all

SCHEMA_COMMENT = re.compile(r"^# yaml-language-server: \$schema=(\S+)$", re.M)


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize("example", [False, True], ids=["minimal", "example"])
def test_init_then_validate_and_test_pass(tmp_path: Path, example: bool) -> None:
    repo = tmp_path / "cc"
    code, out = _run("init", str(repo), *(["--example"] if example else []))
    assert code == 0, out
    assert f"created {repo / 'ccc.yaml'}" in out
    code, out = _run("validate", str(repo))
    assert code == 0 and "valid" in out, out
    code, out = _run("test", str(repo), "--min-coverage", "100")
    assert code == 0 and " 0 failed" in out, out


def test_minimal_repo_has_what_the_first_hour_needs(tmp_path: Path) -> None:
    assert _run("init", str(tmp_path))[0] == 0
    root = (tmp_path / "ccc.yaml").read_text(encoding="utf-8")
    assert "target: {type: local" in root and "instance:" in root
    flow = tmp_path / "flows" / "welcome.ivr"
    assert "transfer queue" in flow.read_text(encoding="utf-8")
    assert not format_file(flow).changed  # the template is in `ccc fmt` layout
    assert (tmp_path / "tests" / "welcome.yaml").is_file()
    assert ".ccc/" in (tmp_path / ".gitignore").read_text(encoding="utf-8")


@pytest.mark.parametrize("example", [False, True], ids=["minimal", "example"])
def test_schema_comments_name_the_schemas_written(tmp_path: Path, example: bool) -> None:
    assert _run("init", str(tmp_path), *(["--example"] if example else []))[0] == 0
    named = 0
    for manifest in tmp_path.glob("*.yaml"):
        for target in SCHEMA_COMMENT.findall(manifest.read_text(encoding="utf-8")):
            schema = (manifest.parent / target).resolve()
            assert schema.is_relative_to(tmp_path.resolve()), (manifest, target)
            assert schema.read_text(encoding="utf-8") == render_all()[schema.name]
            named += 1
    assert named >= 3


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "ccc.yaml").write_text("mine\n", encoding="utf-8")
    code, out = _run("init", str(tmp_path))
    assert code == 1
    assert "ccc.yaml" in out and "numbers.yaml" not in out
    assert (tmp_path / "ccc.yaml").read_text(encoding="utf-8") == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ccc.yaml"]


def test_init_into_a_file_is_a_usage_error(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x", encoding="utf-8")
    assert _run("init", str(target))[0] == 2


def test_schema_command_writes_the_generated_schemas(tmp_path: Path) -> None:
    out_dir = tmp_path / "s"
    code, out = _run("schema", "--out", str(out_dir))
    assert code == 0, out
    expected = render_all()
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(expected)
    for name, text in expected.items():
        assert (out_dir / name).read_text(encoding="utf-8") == text


def test_init_repo_deploys_to_its_local_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    assert _run("init", str(tmp_path))[0] == 0
    monkeypatch.chdir(tmp_path)
    code, out = _run("apply", "--auto-approve")
    assert code == 0 and "Apply complete: 6 added" in out, out
    assert (tmp_path / ".ccc" / "runtime" / "local" / "current").exists()
    code, out = _run("plan")
    assert code == 0 and "No changes." in out, out


def test_the_help_and_docs_count_the_example_flows() -> None:
    """`ccc init --example` copies examples/: its help and docs/cli.md said six flows when
    there were nine."""
    root = Path(__file__).resolve().parents[1]
    count = len(list((root / "examples" / "flows").glob("*.ivr")))
    word = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
            "ten", "eleven", "twelve"][count]
    assert f"({word} flows," in " ".join(CliRunner().invoke(cli, ["init", "--help"]).output.split())
    assert f"({word} flows," in (root / "docs" / "cli.md").read_text(encoding="utf-8")
