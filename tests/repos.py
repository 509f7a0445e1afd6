"""The one way tests copy examples/: without what the main job and `ccc compile -o build` leave
in it (`examples/.ccc` from `ccc apply`, whose `current` symlink a plain copy turns into a
folder so later applies in the copy fail; `build/`), symlinks kept as symlinks."""

from __future__ import annotations

import shutil
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
LEFT_BY_RUNS = (".ccc", "build", "__pycache__")


def copy_examples(dest: Path) -> Path:
    """Copy examples/ to `dest` (which must not exist); `dest`."""
    shutil.copytree(EXAMPLES, dest, symlinks=True, ignore=shutil.ignore_patterns(*LEFT_BY_RUNS))
    return dest
