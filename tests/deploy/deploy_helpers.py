"""Helpers for the deploy tests of part 1: a copy of the examples, the CLI, and normalising
renderings for snapshots (digests, ids, times and temp paths change from run to run)."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner, Result

from ccc_dsl.cli import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RUNTIME = Path(".ccc/runtime/staging")
"""The examples' staging target (examples/ccc.yaml)."""
_HEX = re.compile(r"\b(?=[0-9]*[a-f])[0-9a-f]{12}(?:[0-9a-f]{52})?\b")
"""A digest, whole or shortened (at least one letter: phone numbers are digits only)."""
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def ccc(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def normalise(text: str, root: Path) -> str:
    """Stable text for a snapshot: no temp paths, digests, lock ids or times."""
    text = text.replace(str(root.resolve()), "<repo>").replace(str(root), "<repo>")
    text = _UUID.sub("<uuid>", text)
    text = _TIME.sub("<time>", text)
    return _HEX.sub("<digest>", text)


def resource_count(repo: Path, env: str = "staging") -> int:
    """How many resources the repo's desired state holds (the examples grow with the
    language; tests say "all of them", not a number that goes stale)."""
    from ccc_dsl.deploy.desired import Desired, build_desired

    desired = build_desired(repo, env)
    assert isinstance(desired, Desired), desired
    return len(desired.resources)


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    """Replace `old` by `new` in a file (exactly `count` times; -1: every one, at least one)."""
    text = path.read_text(encoding="utf-8")
    found = text.count(old)
    assert found >= 1 and (count == -1 or found == count), (path, old, found)
    path.write_text(text.replace(old, new), encoding="utf-8")
