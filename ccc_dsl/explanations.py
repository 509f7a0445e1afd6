"""The long form of every diagnostic code: what it means, an example that triggers it and the
fix. The text lives in ccc_dsl/data/explanations.yaml, beside the registry's short titles
(ccc_dsl/codes.py); `ccc explain`, docs/diagnostics.md and the SARIF rules all read it here.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict

from ccc_dsl.manifest.yamlsafe import parse_yaml

DATA_FILE = Path(__file__).resolve().parent / "data" / "explanations.yaml"
DIAGNOSTICS_PAGE = "docs/diagnostics.md"
"""The generated page that lists every code with its explanation (one heading per code)."""


class Explanation(BaseModel):
    """One code's explanation; `file` says where the example goes in a repo made by
    `ccc init` (the tests check it triggers the code there)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    means: str
    example: str
    fix: str
    file: str | None = None


@lru_cache(maxsize=1)
def explanations() -> Mapping[str, Explanation]:
    """Code -> explanation, from the shipped data file; a broken data file is a bug in ccc."""
    parsed = parse_yaml(str(DATA_FILE), DATA_FILE.read_bytes())
    if parsed.diagnostics or not isinstance(parsed.data, dict):
        raise RuntimeError(f"broken data file {DATA_FILE}: {parsed.diagnostics[:1]}")
    return MappingProxyType({code: Explanation.model_validate(entry)
                             for code, entry in parsed.data.items()})


def help_anchor(code: str) -> str:
    """Where `code` is explained in the generated page: a repo-relative URI reference (the
    docs have no published address)."""
    return f"{DIAGNOSTICS_PAGE}#{code.lower()}"
