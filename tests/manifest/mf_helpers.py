"""Paths and small helpers shared by the manifest tests."""

from __future__ import annotations

import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
EXAMPLES = REPO / "examples"
CASES = HERE / "cases"


def copy_example_manifests(target: Path) -> Path:
    """The example repo's manifests and prompts (not its flows) in a scratch folder."""
    target.mkdir(parents=True, exist_ok=True)
    for path in EXAMPLES.glob("*.yaml"):
        shutil.copy(path, target / path.name)
    shutil.copytree(EXAMPLES / "prompts", target / "prompts")
    return target
