"""Issue 11: an agent that fails validation (no `display_name`) still has its groups checked,
so the misspelt `groups: {suport: 5}` is reported in the same run, not after the fix."""

from __future__ import annotations

from pathlib import Path

from repos import copy_examples

from ccc_dsl.pipeline import check_repo


def test_a_missing_display_name_does_not_hide_a_misspelt_group(tmp_path: Path) -> None:
    repo = copy_examples(tmp_path / "r")
    people = repo / "people.yaml"
    text = people.read_text(encoding="utf-8")
    alice = "  alice:\n    display_name: Alice Wang\n    sip: sip:alice@${var.agent_host}:5070\n" \
            "    groups: {vip: 10, sales: 8}\n"
    assert alice in text
    people.write_text(text.replace(alice, "  alice:\n    sip: sip:alice@${var.agent_host}:5070\n"
                                          "    groups: {suport: 5}\n"), encoding="utf-8")
    found = {(d.code, d.message) for d in check_repo(repo, None).diagnostics}
    assert any(code == "M203" and "display_name" in message for code, message in found)
    assert ("M301", "skill group `suport` does not exist") in found
