"""A626 (issue 10, L4): a field of the result of a `reply: text` function is always null (the
reply is one string); the text itself, and a root also written by a JSON function, are not
reported."""

from __future__ import annotations

from pathlib import Path

from repos import copy_examples

from ccc_dsl.pipeline import check_repo

FLOW = """\
flow text_reply "Text" {
  start:
    call function "vip-check" with { number: caller.number } as greeting {
      ok -> say "{{ greeting }}" then check
      error -> hangup
    }
  check:
    if greeting.name != null -> hangup
    set plain = greeting
    hangup
}
"""


def codes_of(tmp_path: Path, reply: str, flow: str = FLOW) -> list[tuple[str, int]]:
    repo = tmp_path / "repo"
    copy_examples(repo)
    functions = next(p for p in sorted(repo.glob("*.yaml")) if "vip-check:" in p.read_text())
    text = functions.read_text()
    head, _, tail = text.partition("  vip-check:\n")
    functions.write_text(head + "  vip-check:\n" + f"    reply: {reply}\n" + tail)
    (repo / "flows" / "text_reply.ivr").write_text(flow, encoding="utf-8")
    found = check_repo(repo, "staging").diagnostics
    return [(d.code, d.span.line if d.span else 0) for d in found
            if d.span is not None and d.span.file.endswith("text_reply.ivr")]


def test_a_field_of_a_text_reply_is_reported(tmp_path: Path) -> None:
    assert ("A626", 8) in codes_of(tmp_path, "text")
    assert all(code != "A626" for code, _ in codes_of(tmp_path / "json", "json"))


def test_a_root_also_written_by_a_json_function_is_not(tmp_path: Path) -> None:
    json_too = '''    call function "account-lookup" as greeting
    set plain = greeting'''
    mixed = FLOW.replace("    set plain = greeting", json_too)
    assert all(code != "A626" for code, _ in codes_of(tmp_path, "text", mixed))
