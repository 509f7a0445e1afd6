"""Saved plans (`ccc plan -out FILE`): the plan, the desired state and the exact bundle bytes,
with a checksum, so `ccc apply FILE` carries out exactly what was reviewed.

```
{"ccc_plan": 1, "checksum": "<sha256 of the canonical JSON of body>",
 "body": {"root": "/abs/repo", "plan": {...plan JSON...}, "desired": [resources] | null,
          "bundle": {"digest": "...", "files": {"main.ccb": "<base64>", ...}}}}
```
A file that fails to parse, whose checksum doesn't match (corrupt or edited), or whose bundle
doesn't have the digest the plan names is refused with `PlanFileError`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ccc_dsl.deploy.plan import Plan
from ccc_dsl.deploy.resources import Resource, canonical, sha256

PLANFILE_FORMAT = 1
MAX_PLANFILE_BYTES = 1024 * 1024 * 1024


class PlanFileError(Exception):
    """A saved plan that can't be used; the message says why."""


@dataclass
class SavedPlan:
    root: Path
    plan: Plan
    desired: Mapping[str, Resource] | None
    files: dict[str, bytes]


def write_planfile(path: Path, saved: SavedPlan) -> None:
    """Write a saved plan (atomically: a temp file renamed into place)."""
    body = {
        "root": str(saved.root),
        "plan": saved.plan.to_json(),
        "desired": None if saved.desired is None
        else [r.to_json() for _, r in sorted(saved.desired.items())],
        "bundle": {"digest": saved.plan.bundle_digest,
                   "files": {rel: base64.b64encode(data).decode("ascii")
                             for rel, data in sorted(saved.files.items())}},
    }
    doc = {"ccc_plan": PLANFILE_FORMAT, "checksum": sha256(canonical(body)), "body": body}
    tmp = path.with_name(f".{path.name}.tmp.{os.getpid()}")
    tmp.write_bytes(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode("utf-8"))
    os.replace(tmp, path)


def read_planfile(path: Path) -> SavedPlan:
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_PLANFILE_BYTES + 1)
    except OSError as exc:
        raise PlanFileError(f"{path}: can't read the plan: {exc.strerror or exc}") from None
    if len(raw) > MAX_PLANFILE_BYTES:
        raise PlanFileError(f"{path}: larger than {MAX_PLANFILE_BYTES} bytes; not a plan")
    try:
        doc: Any = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise PlanFileError(f"{path}: not a saved plan, or corrupt (not valid JSON)") from None
    if not isinstance(doc, dict) or doc.get("ccc_plan") != PLANFILE_FORMAT \
            or not isinstance(doc.get("body"), dict):
        raise PlanFileError(f"{path}: not a saved plan of this ccc (format "
                            f"{doc.get('ccc_plan') if isinstance(doc, dict) else None!r})")
    body = doc["body"]
    if doc.get("checksum") != sha256(canonical(body)):
        raise PlanFileError(f"{path}: the plan file is corrupt or was edited (checksum "
                            "mismatch); make a new plan with `ccc plan -out`")
    try:
        plan = Plan.from_json(body["plan"])
        desired = None if body["desired"] is None else {
            r.address: r for r in (Resource.from_json(d) for d in body["desired"])}
        files = {str(rel): base64.b64decode(data, validate=True)
                 for rel, data in body["bundle"]["files"].items()}
        root = Path(str(body["root"]))
    except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as exc:
        raise PlanFileError(f"{path}: the saved plan is malformed ({exc})") from None
    from ccc_runtime.digest import bundle_digest

    if plan.operation == "apply" and bundle_digest(files) != plan.bundle_digest:
        raise PlanFileError(f"{path}: the bundle in the plan doesn't have the digest the plan "
                            "names; make a new plan")
    return SavedPlan(root, plan, desired, files)
