"""`ccc validate`'s result cache: reused only while nothing that decides the result changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from repos import copy_examples

from ccc_dsl.cache import cached_diagnostics, result_key
from ccc_dsl.diagnostics import Diagnostic, Span, error, warning


class Counter:
    """A stand-in for the pipeline that counts how often it really ran."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.calls = 0
        self.diagnostics = diagnostics

    def __call__(self) -> list[Diagnostic]:
        self.calls += 1
        return list(self.diagnostics)


@pytest.fixture()
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CCC_CACHE_DIR", str(tmp_path / "cache"))
    copy_examples(tmp_path / "repo")
    return tmp_path / "repo"


def test_second_run_reuses_the_result_with_every_field(repo: Path) -> None:
    found = [error("D401", "a 400 number can't call out", Span("a.yaml", 3, 5, 3, 9), "hint"),
             warning("D409", "bound to no flow")]
    pipeline = Counter(found)
    assert cached_diagnostics(repo, "staging", pipeline) == found
    assert cached_diagnostics(repo, "staging", pipeline) == found
    assert pipeline.calls == 1


def test_an_edit_the_environment_or_a_new_file_means_a_new_run(repo: Path) -> None:
    pipeline = Counter([])
    cached_diagnostics(repo, "staging", pipeline)
    cached_diagnostics(repo, "production", pipeline)
    assert pipeline.calls == 2
    hours = repo / "hours.yaml"
    hours.write_text(hours.read_text(encoding="utf-8").replace("09:00", "08:00", 1),
                     encoding="utf-8")
    cached_diagnostics(repo, "staging", pipeline)
    assert pipeline.calls == 3
    (repo / "flows" / "extra.ivr").write_text("flow extra {}\n", encoding="utf-8")
    cached_diagnostics(repo, "staging", pipeline)
    assert pipeline.calls == 4


def test_same_size_edit_changes_the_key(repo: Path) -> None:
    before = result_key(repo, None)
    main = repo / "flows" / "main.ivr"
    text = main.read_text(encoding="utf-8")
    main.write_text(text.replace("timeout 6s", "timeout 7s", 1), encoding="utf-8")
    assert result_key(repo, None) != before


def test_no_cache_and_damaged_entries(repo: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = Counter([])
    cached_diagnostics(repo, None, pipeline)
    for entry in (tmp_path / "cache" / "validate").iterdir():
        entry.write_bytes(b"\x00garbage")
    cached_diagnostics(repo, None, pipeline)
    assert pipeline.calls == 2
    monkeypatch.setenv("CCC_NO_CACHE", "1")
    cached_diagnostics(repo, None, pipeline)
    cached_diagnostics(repo, None, pipeline)
    assert pipeline.calls == 4


def test_root_given_as_its_ccc_yaml_still_sees_edits(repo: Path) -> None:
    """`ccc validate repo/ccc.yaml`: the fingerprint covers the repo folder, not nothing."""
    before = result_key(repo / "ccc.yaml", None)
    numbers = repo / "numbers.yaml"
    numbers.write_text(numbers.read_text(encoding="utf-8").replace("landline", "landlin", 1),
                       encoding="utf-8")
    assert result_key(repo / "ccc.yaml", None) != before


def test_a_symlink_loop_in_the_repo_is_no_crash(repo: Path) -> None:
    (repo / "loop.wav").symlink_to("loop.wav")
    before = result_key(repo, None)
    (repo / "notes.txt").write_text("x", encoding="utf-8")
    assert result_key(repo, None) != before
