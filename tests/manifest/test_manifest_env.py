"""Environments and variables, the parse cache, the domain data, and prompt limits."""

from __future__ import annotations

import os
import typing
from pathlib import Path

from mf_helpers import EXAMPLES, copy_example_manifests

from ccc_dsl.manifest import cache
from ccc_dsl.manifest.domain import domain_data
from ccc_dsl.manifest.loader import load_repo
from ccc_dsl.manifest.model import Number

ROOT = """ccc: 1
default_env: a
environments:
  a:
    variables: {port: 5080, host: 10.0.0.1, sources: [10.0.0.0/8], name: gw-a}
  b:
    variables: {port: 5090, host: 10.0.0.2, sources: [192.168.0.0/16], name: "gw-${var.port}"}
instance: {name: Test, domain: test}
trunks:
  gw:
    gateway: ${var.host}
    port: ${var.port}
    allowed_sources: ${var.sources}
    username: user-${var.name}
"""


def test_variables_keep_their_type_whole_and_format_into_text(tmp_path: Path) -> None:
    (tmp_path / "ccc.yaml").write_text(ROOT, encoding="utf-8")
    a = load_repo(tmp_path, None)
    assert a.diagnostics == [] and a.model is not None and a.model.env == "a"
    gw = a.model.trunks["gw"]
    assert (gw.gateway, gw.port, gw.allowed_sources, gw.username) == (
        "10.0.0.1", 5080, ["10.0.0.0/8"], "user-gw-a")
    b = load_repo(tmp_path, "b")
    assert b.diagnostics == [] and b.model is not None
    assert b.model.trunks["gw"].port == 5090
    assert b.model.trunks["gw"].username == "user-gw-5090"  # a variable using a variable


def test_error_in_a_substituted_value_points_at_use_and_hints_at_definition(
        tmp_path: Path) -> None:
    (tmp_path / "ccc.yaml").write_text(ROOT.replace("port: 5090", "port: 99999"),
                                       encoding="utf-8")
    result = load_repo(tmp_path, "b")
    [d] = [d for d in result.diagnostics if d.code == "M202"]
    assert d.span is not None and (d.span.line, d.span.column) == (12, 11)
    assert d.hint is not None and "`port` is defined for environment `b`" in d.hint
    assert "ccc.yaml:7:17" in d.hint  # line 7: `    variables: {port: 99999, ...}`


def test_cache_gives_the_same_result_and_survives_damage(tmp_path: Path) -> None:
    repo = copy_example_manifests(tmp_path / "repo")
    (repo / "broken.yaml").write_text("agents:\n  x: {display_name: X, sip: nope}\n",
                                      encoding="utf-8")
    cold = load_repo(repo, "production")
    folder = cache.cache_dir()
    assert folder is not None and any(folder.rglob("*.json"))
    assert any(folder.glob("phones-*.json"))  # phone facts are memoized too
    warm = load_repo(repo, "production")
    assert warm.diagnostics == cold.diagnostics and warm.diagnostics
    assert warm.model is not None and cold.model is not None
    assert warm.model.agents == cold.model.agents
    for entry in folder.rglob("*.json"):
        entry.write_bytes(b"garbage")
    assert load_repo(repo, "production").diagnostics == cold.diagnostics


def test_cache_can_be_turned_off(tmp_path: Path, monkeypatch: typing.Any) -> None:
    monkeypatch.setenv("CCC_NO_CACHE", "1")
    assert cache.cache_dir() is None
    assert load_repo(EXAMPLES, None).diagnostics == []


def test_number_types_in_code_match_the_data_file() -> None:
    literal = typing.get_args(Number.model_fields["type"].annotation)
    assert set(literal) == set(domain_data().number_types)


def test_prompt_over_5_mb_is_rejected(tmp_path: Path) -> None:
    repo = copy_example_manifests(tmp_path / "repo")
    big = repo / "prompts" / "hold-music.wav"
    with big.open("r+b") as handle:
        handle.truncate(5 * 1024 * 1024 + 1)  # sparse: the RIFF header stays
    result = load_repo(repo, None)
    # hold-music.wav serves both languages: one diagnostic per use
    assert {(d.code, os.path.basename(d.span.file) if d.span else "")
            for d in result.diagnostics} == {("D414", "prompts.yaml")}
    assert len(result.diagnostics) == 2


def test_a_domain_error_in_a_value_from_a_variable_names_the_variable(tmp_path: Path) -> None:
    """The docs promise it for every problem in a substituted value, D-codes included."""
    (tmp_path / "ccc.yaml").write_text(
        "ccc: 1\ndefault_env: a\nenvironments:\n  a:\n    variables: {line: \"+86 21 600\"}\n"
        "instance: {name: Test, domain: test}\n"
        "numbers:\n  main:\n    number: ${var.line}\n    type: landline\n", encoding="utf-8")
    (d419,) = [d for d in load_repo(tmp_path, None).diagnostics if d.code == "D419"]
    assert d419.span is not None and d419.span.line == 9
    assert d419.hint is not None
    assert "`line` is defined for environment `a` at " in d419.hint
    assert d419.hint.endswith("ccc.yaml:5:17")
