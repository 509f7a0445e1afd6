"""JSON Schema for the manifests, generated from the pydantic models, for editors (the YAML
language server validates and completes as people type). They ship in the package
(`ccc_dsl/schemas/`, written out by `ccc schema` and `ccc init`); the checkout's `schemas/` is a
link to that folder. A test fails when they are out of date. Regenerate with
`python -m ccc_dsl.manifest.schema`.

A value may always be an environment variable reference (`${var.NAME}`), so every non-string
property also accepts one; the loader checks the substituted value.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ccc_dsl.manifest.model import KINDS, ManifestFile, RootFile

SCHEMAS: dict[str, tuple[type[BaseModel], str]] = {
    "ccc.schema.json": (RootFile, "ccc-dsl root file (ccc.yaml)"),
    "manifest.schema.json": (ManifestFile, "ccc-dsl manifest file"),
}
PACKAGED = Path(__file__).resolve().parents[1] / "schemas"
"""Where the generated schemas live in the package (package data: they ship in the wheel)."""
VAR_REF = {"type": "string", "pattern": r"^\$\{var\.[A-Za-z_][A-Za-z0-9_-]*\}$",
           "description": "an environment variable: ${var.NAME}"}


def _allow_vars(schema: dict[str, Any]) -> None:
    for prop_name, prop in list(schema.get("properties", {}).items()):
        constrained = any(k in prop for k in ("pattern", "enum", "const", "format"))
        if prop.get("type") != "string" or constrained:
            schema["properties"][prop_name] = {"anyOf": [prop, VAR_REF]}


def build(model: type[BaseModel], title: str) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = title
    resources = {cls.__name__ for cls in KINDS.values()}
    for key, definition in [("", schema), *schema.get("$defs", {}).items()]:
        if key in resources:  # a resource's name is its YAML key, never a field
            definition["properties"].pop("name", None)
        _allow_vars(definition)
    return schema


def render_all() -> dict[str, str]:
    """File name -> JSON text, deterministic (sorted keys, trailing newline)."""
    return {name: json.dumps(build(model, title), indent=2, sort_keys=True,
                             ensure_ascii=False) + "\n"
            for name, (model, title) in SCHEMAS.items()}


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else PACKAGED
    out.mkdir(parents=True, exist_ok=True)
    for name, text in render_all().items():
        (out / name).write_text(text, encoding="utf-8")
        print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
