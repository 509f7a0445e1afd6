"""docs/security.md states the limits as numbers: each row names the constant that holds it,
and the number must be the constant's value."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "security.md"
ROW = re.compile(r"^\| [^|]+ \| ([0-9,]+) \| `([a-z_.]+)\.([A-Z_]+)` \|$", re.MULTILINE)


def test_every_documented_limit_is_the_code_s_value() -> None:
    rows = ROW.findall(DOC.read_text(encoding="utf-8"))
    assert len(rows) >= 20
    for value, module, name in rows:
        actual = getattr(importlib.import_module(module), name)
        assert actual == int(value.replace(",", "")), f"{module}.{name} is {actual}, docs {value}"


def test_every_runtime_limit_is_documented() -> None:
    from ccc_runtime import limits

    documented = {name for _, module, name in ROW.findall(DOC.read_text(encoding="utf-8"))
                  if module == "ccc_runtime.limits"}
    assert documented == {n for n in vars(limits) if n.isupper()}
