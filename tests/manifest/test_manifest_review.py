"""Regressions found by an adversarial review of the loader and `ccc validate`: each test is a
hostile input that once gave a traceback, a false diagnostic, a missed one, or a leak."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from mf_helpers import EXAMPLES, copy_example_manifests

from ccc_dsl.cli import cli
from ccc_dsl.diagnostics import Diagnostic
from ccc_dsl.manifest.loader import load_repo


def codes(diagnostics: list[Diagnostic]) -> list[str]:
    return sorted(d.code for d in diagnostics)


def validate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["validate", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.output


def test_a_trailing_newline_does_not_slip_past_the_character_set_rules(tmp_path: Path) -> None:
    """`$` in a Python regex also matches before a final newline."""
    (tmp_path / "ccc.yaml").write_text(
        'instance: {name: "Acme\\n", domain: "acme-cc\\n"}\n'
        'skill_groups:\n  "sales\\n": {}\n', encoding="utf-8")
    assert codes(load_repo(tmp_path, None).diagnostics) == ["D401", "D402", "M202"]


@pytest.mark.parametrize("value", ["9" * 5000, "!!int " + "9" * 5000])
def test_an_integer_too_long_for_python_is_a_located_error(tmp_path: Path, value: str) -> None:
    (tmp_path / "ccc.yaml").write_text(
        f"instance: {{name: Test, domain: test}}\nskill_groups:\n  g:\n    description: {value}\n",
        encoding="utf-8")
    found = load_repo(tmp_path, None).diagnostics
    assert [(d.code, d.span.line if d.span else 0) for d in found] == [("Y101", 4)]
    code, _ = validate(str(tmp_path))
    assert code == 1


@pytest.mark.parametrize("reference", [
    '{env: "Hunter2 S3cret!"}',                    # the secret pasted where its variable goes
    "{env: ACME_TRUNK_PASSWORD, value: Hunter2S3cret}",
    "{Hunter2S3cret}",                              # a flow mapping: a key, not a value
])
@pytest.mark.parametrize("fmt", ["text", "json", "github", "sarif"])
def test_a_secret_inside_a_reference_is_never_echoed(tmp_path: Path, reference: str,
                                                     fmt: str) -> None:
    repo = copy_example_manifests(tmp_path / "repo")
    numbers = repo / "numbers.yaml"
    text = numbers.read_text(encoding="utf-8")
    numbers.write_text(text.replace("{env: ACME_TRUNK_PASSWORD}", reference), encoding="utf-8")
    code, out = validate(str(repo), "--format", fmt)
    assert code == 1
    assert "D422" in out
    assert "Hunter2" not in out


def test_an_unknown_env_is_reported_once_not_at_every_variable() -> None:
    code, out = validate(str(EXAMPLES), "--env", "prod", "--format", "json")
    assert code == 1
    found = [d["code"] for d in json.loads(out)["diagnostics"]]
    assert found == ["M204"]


def test_an_unknown_default_env_is_reported_once(tmp_path: Path) -> None:
    repo = copy_example_manifests(tmp_path / "repo")
    root = repo / "ccc.yaml"
    root.write_text(root.read_text(encoding="utf-8").replace(
        "default_env: staging", "default_env: stagin"), encoding="utf-8")
    assert codes(load_repo(repo, None).diagnostics) == ["M204"]


def _edit(repo: Path, file: str, old: str, new: str) -> None:
    path = repo / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_a_broken_number_does_not_make_its_groups_and_agents_look_unable_to_call_out(
        tmp_path: Path) -> None:
    """The number's own error is the one problem: D407/D408 would be false positives."""
    repo = copy_example_manifests(tmp_path / "repo")
    _edit(repo, "numbers.yaml", "type: landline", "type: landlin")
    assert set(codes(load_repo(repo, None).diagnostics)) == {"M202"}


def test_a_yaml_error_in_the_numbers_file_does_not_cascade(tmp_path: Path) -> None:
    repo = copy_example_manifests(tmp_path / "repo")
    _edit(repo, "numbers.yaml", "    description: the published service number; inbound only",
          "    description: !!binary aGVsbG8=")
    assert codes(load_repo(repo, None).diagnostics) == ["Y103"]


def test_a_broken_flow_binding_does_not_leave_its_number_unbound(tmp_path: Path) -> None:
    repo = copy_example_manifests(tmp_path / "repo")
    _edit(repo, "numbers.yaml", "    number: hotline\n    flow: main",
          "    number: hotline\n    flw: main")
    assert codes(load_repo(repo, None).diagnostics) == ["M201", "M203"]


def test_broken_agents_still_count_against_the_seats(tmp_path: Path) -> None:
    (tmp_path / "ccc.yaml").write_text(
        "instance: {name: Test, domain: test, billing: {mode: monthly_seats, seats: 1}}\n"
        "agents:\n"
        "  a: {display_name: A, sip: 'sip:a@127.0.0.1'}\n"
        "  b: {display_name: B, sip: 'not sip'}\n", encoding="utf-8")
    assert codes(load_repo(tmp_path, None).diagnostics) == ["D411", "M202"]


def test_files_in_hidden_folders_are_not_part_of_the_repo(tmp_path: Path) -> None:
    """The result cache leaves hidden folders out, so the loader must not read them either:
    else an edit there is never seen by a warm `ccc validate`."""
    repo = copy_example_manifests(tmp_path / "repo")
    _edit(repo, "ccc.yaml", '  - "*.yaml"', '  - "*.yaml"\n  - ".more/*.yaml"')
    (repo / ".more").mkdir()
    (repo / ".more" / "x.yaml").write_text("skill_groups:\n  extra: {bogus: 1}\n",
                                           encoding="utf-8")
    shutil.copytree(repo / "prompts", repo / ".hidden")
    _edit(repo, "prompts.yaml", "file: prompts/", "file: .hidden/")
    found = load_repo(repo, None).diagnostics
    assert "Y115" in codes(found)
    assert "M201" not in codes(found)
    assert {d.code for d in found if d.is_error} == {"D412"}


def test_a_prompt_that_is_a_symlink_loop_is_a_located_error(tmp_path: Path) -> None:
    repo = copy_example_manifests(tmp_path / "repo")
    (repo / "prompts" / "loop.wav").symlink_to("loop.wav")
    _edit(repo, "prompts.yaml", "file: prompts/zh/main-greeting.wav", "file: prompts/loop.wav")
    assert codes(load_repo(repo, None).diagnostics) == ["D412"]
    code, out = validate(str(repo))
    assert code == 1 and "D412" in out


@pytest.mark.parametrize(("raw", "column"), [
    ('    description: "\u5ba2\u670d\xff"\n'.encode("utf-8").replace(b"\xc3\xbf", b"\xff"), 21),
    ('    description: "\u5ba2\u670d\x07"\n'.encode("utf-8"), 21),
    ('\ufeff    description: "\u5ba2\u670d\xff"\n'.encode("utf-8").replace(b"\xc3\xbf", b"\xff"),
     21),
])
def test_encoding_errors_are_located_in_characters_not_bytes(tmp_path: Path, raw: bytes,
                                                             column: int) -> None:
    """After Chinese text (3 bytes a character), the column still counts characters."""
    (tmp_path / "ccc.yaml").write_text("instance: {name: Test, domain: test}\n",
                                       encoding="utf-8")
    (tmp_path / "extra.yaml").write_bytes(b"skill_groups:\n  g:\n" + raw
                                          if not raw.startswith(b"\xef\xbb\xbf") else raw)
    found = [d for d in load_repo(tmp_path, None).diagnostics if d.code == "Y107"]
    assert len(found) == 1 and found[0].span is not None
    line = 1 if raw.startswith(b"\xef\xbb\xbf") else 3
    assert (found[0].span.line, found[0].span.column) == (line, column)


def test_a_bad_mapping_key_is_located_at_the_key(tmp_path: Path) -> None:
    (tmp_path / "ccc.yaml").write_text(
        "instance: {name: Test, domain: test}\n"
        "prompts:\n  q:\n    default_language: zh\n"
        "    languages: {zh: {tts: hi}, ZH: {tts: hi}}\n", encoding="utf-8")
    found = [d for d in load_repo(tmp_path, None).diagnostics if d.code == "M202"]
    assert [(d.span.line, d.span.column) for d in found if d.span] == [(5, 32)]


def test_a_variable_used_inside_another_formats_like_a_use_in_text(tmp_path: Path) -> None:
    """`${var.x}` inside another variable: booleans as in text (`true`), and a mapping can't
    be embedded (M205), as at any other use."""
    (tmp_path / "ccc.yaml").write_text(
        "default_env: e\n"
        "environments:\n  e:\n    variables:\n"
        "      flag: true\n      desc: 'on=${var.flag}'\n"
        "      map: {a: 1}\n      name: 'x${var.map}'\n"
        "instance: {name: Test, domain: test, description: '${var.desc}'}\n"
        "skill_groups:\n  g: {description: '${var.name}'}\n", encoding="utf-8")
    result = load_repo(tmp_path, None)
    assert result.model is not None and result.model.instance is not None
    assert result.model.instance.description == "on=true"
    assert codes(result.diagnostics) == ["M205"]


@pytest.mark.parametrize("header", ["Authorization", "x-api-key", "Cookie"])
def test_a_credential_in_a_plain_header_is_d422_and_never_echoed(tmp_path: Path,
                                                                 header: str) -> None:
    """Headers go into the compiled bundle as they are; a token there would be in its output."""
    (tmp_path / "ccc.yaml").write_text(
        "instance: {name: Test, domain: test}\n"
        "functions:\n  f:\n    url: https://api.example/x\n"
        f"    headers: {{Accept: application/json, {header}: Bearer Hunter2S3cret}}\n",
        encoding="utf-8")
    found = load_repo(tmp_path, None).diagnostics
    assert [(d.code, d.span.line if d.span else 0) for d in found] == [("D422", 5)]
    code, out = validate(str(tmp_path))
    assert code == 1 and "Hunter2" not in out


@pytest.mark.parametrize(("old", "new", "env", "expected"), [
    ("default_env: staging", "default_env: 5", None, ["M202"]),
    ("  staging:\n    description", "  staging:\n  qa:\n    description", None, ["M202"]),
    ("  staging:\n    description", "  staging:\n  qa:\n    description", "staging", ["M202"]),
])
def test_a_broken_environment_setting_is_reported_once(tmp_path: Path, old: str, new: str,
                                                       env: str | None,
                                                       expected: list[str]) -> None:
    """Not also as an unknown environment (it is declared), nor at every `${var...}`."""
    repo = copy_example_manifests(tmp_path / "repo")
    _edit(repo, "ccc.yaml", old, new)
    assert codes(load_repo(repo, env).diagnostics) == expected


def test_a_problem_inside_a_substituted_mapping_hints_at_the_variable(tmp_path: Path) -> None:
    repo = copy_example_manifests(tmp_path / "repo")
    _edit(repo, "ccc.yaml", "{mode: monthly_seats, seats: 15}", "{mode: monthly_seats, seats: -1}")
    found = load_repo(repo, "production").diagnostics
    assert [d.code for d in found] == ["M202"]
    assert found[0].hint is not None and "`billing` is defined for environment `production`" \
        in found[0].hint


@pytest.mark.parametrize("line", ["    pasword: Hunter2S3cret", "    sip_password: Hunter2S3cret",
                                  "    secret: Hunter2S3cret"])
def test_an_unknown_key_that_looks_like_a_secret_is_never_echoed(tmp_path: Path,
                                                                 line: str) -> None:
    repo = copy_example_manifests(tmp_path / "repo")
    _edit(repo, "numbers.yaml", "    password: {env: ACME_TRUNK_PASSWORD}", line)
    code, out = validate(str(repo))
    assert code == 1 and "D422" in out
    assert "Hunter2" not in out


def test_a_time_zone_in_the_wrong_case_gets_a_did_you_mean(tmp_path: Path) -> None:
    (tmp_path / "ccc.yaml").write_text(
        "instance: {name: Test, domain: test}\n"
        "schedules:\n  s: {timezone: asia/shanghai, weekly: {mon: ['09:00-18:00']}}\n",
        encoding="utf-8")
    found = load_repo(tmp_path, None).diagnostics
    assert [(d.code, d.hint) for d in found] == [("D417", "did you mean `Asia/Shanghai`?")]
