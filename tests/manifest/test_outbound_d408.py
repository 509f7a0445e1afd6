"""Issue 11: D408 (a staffed group with no outbound number) does not contradict D404: a group
that lists only numbers that can't call out gets D404 at each of them, not D408's "add
outbound_numbers:" as if the key were missing."""

from __future__ import annotations

from pathlib import Path

from repos import copy_examples

from ccc_dsl.pipeline import check_repo


def _codes(tmp_path: Path, old: str, new: str) -> list[str]:
    repo = copy_examples(tmp_path / "r")
    people = repo / "people.yaml"
    text = people.read_text(encoding="utf-8")
    assert old in text
    people.write_text(text.replace(old, new, 1), encoding="utf-8")
    return [d.code for d in check_repo(repo, None).diagnostics]


def test_a_400_number_listed_is_d404_alone(tmp_path: Path) -> None:
    codes = _codes(tmp_path, "outbound_numbers: [support-bj]\n    routing",
                   "outbound_numbers: [hotline]\n    routing")
    assert codes.count("D404") == 1 and "D408" not in codes


def test_no_outbound_number_is_still_d408(tmp_path: Path) -> None:
    codes = _codes(tmp_path, "    outbound_numbers: [support-bj]\n    routing", "    routing")
    assert codes == ["D408"]
