"""R520: `when_empty wait` on a skill group no agent belongs to (every caller would wait for
the queue's whole timeout); a group with agents, or `when_empty busy`, is fine."""

from __future__ import annotations

from pathlib import Path

import pytest
from repos import copy_examples

from ccc_dsl.pipeline import check_repo

FLOW = """\
flow waits {
  start:
    transfer queue "billing" timeout 1m when_empty %s {
      busy -> hangup
      timeout -> hangup
    }
}
"""


def _repo(tmp_path: Path, when_empty: str, staffed: bool) -> Path:
    root = tmp_path / "repo"
    copy_examples(root)
    (root / "flows" / "waits.ivr").write_text(FLOW % when_empty, encoding="utf-8")
    if not staffed:  # move billing's three agents to sales
        people = root / "people.yaml"
        text = people.read_text(encoding="utf-8")
        for old, new in (("{billing: 6}", "{sales: 6}"), ("{support: 5, billing: 5}",
                                                          "{support: 5}"),
                         ("{billing: 7}", "{sales: 7}"), ("{billing: 8}", "{sales: 8}")):
            text = text.replace(old, new)
        assert "billing: " not in text.split("agents:", 1)[1]
        people.write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize(("when_empty", "staffed", "expected"), [
    ("wait", False, ["R520"]), ("wait", True, []), ("busy", False, [])])
def test_waiting_for_a_group_nobody_belongs_to(tmp_path: Path, when_empty: str, staffed: bool,
                                               expected: list[str]) -> None:
    found = [d for d in check_repo(_repo(tmp_path, when_empty, staffed), None).diagnostics
             if d.code.startswith("R5")]
    assert [d.code for d in found] == expected
    if found:
        assert found[0].span is not None and found[0].span.file.endswith("waits.ivr")
        assert (found[0].span.line, found[0].span.column) == (3, 20)
