"""The front half of the pipeline as `ccc validate` runs it on a whole repo."""

from __future__ import annotations

from pathlib import Path

from repos import copy_examples

from ccc_dsl.pipeline import check_repo

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_examples_are_clean_in_every_environment() -> None:
    for env in (None, "staging", "production"):
        check = check_repo(EXAMPLES, env)
        assert check.diagnostics == []
        assert check.analysis is not None
        assert sorted(check.analysis.program.flows) == [
            "account_lookup", "after_hours", "attendant", "connect_queue", "main", "screening",
            "studio_ivr", "survey", "vip_routing"]


def test_a_syntax_error_is_reported_without_cascading_into_other_files(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    copy_examples(repo)
    survey = repo / "flows" / "survey.ivr"
    survey.write_text(survey.read_text(encoding="utf-8") + "\nflow broken {\n  start:\n"
                      "    menu prompt \"bye\" timeout 5 { 1 -> start }\n}\n", encoding="utf-8")
    check = check_repo(repo, None)
    # main.ivr and vip_routing.ivr call `survey`, whose file no longer parses: no R508 for them.
    assert [(Path(d.span.file).name, d.code) for d in check.diagnostics if d.span] == [
        ("survey.ivr", "P103")]
    assert check.analysis is None


def test_an_unknown_environment_is_reported_without_follow_on_errors(tmp_path: Path) -> None:
    """With `--env nope` no `${var...}` resolves: the numbers that come from variables are
    unknown, and a literal caller id naming one got R518 before the real M204."""
    repo = copy_examples(tmp_path / "repo")
    flow = repo / "flows" / "studio_ivr.ivr"
    text = flow.read_text(encoding="utf-8")
    old = '1 -> transfer number "+8613800138000" timeout 20s {'
    assert old in text
    flow.write_text(text.replace(old, '1 -> transfer number "+8613800138000" caller_id '
                                      '"+86 21 6123 0000" timeout 20s {'), encoding="utf-8")
    assert check_repo(repo, "staging").diagnostics == []  # the caller id is the sales line
    assert [d.code for d in check_repo(repo, "nope").diagnostics] == ["M204"]


def test_overlays_are_checked_instead_of_the_files_on_disk(tmp_path: Path) -> None:
    """What a language server sends: the unsaved text of open files, manifests and flows."""
    repo = tmp_path / "repo"
    copy_examples(repo)
    survey = repo / "flows" / "survey.ivr"
    on_disk = survey.read_text(encoding="utf-8")
    unsaved = on_disk.replace('"survey-thanks"', '"survey-thankz"')
    check = check_repo(repo, None, overlays={survey: unsaved})
    assert [(Path(d.span.file).name, d.code) for d in check.diagnostics if d.span] == [
        ("survey.ivr", "R501")]
    assert survey.read_text(encoding="utf-8") == on_disk
    assert check_repo(repo, None).diagnostics == []

    manifest = repo / "ccc.yaml"
    check = check_repo(repo, None, overlays={manifest: "instance: [\n"})
    assert [d.code for d in check.diagnostics][:1] == ["Y101"]
    assert all(d.span is not None and d.span.file == str(manifest)
               for d in check.diagnostics if d.code == "Y101")
