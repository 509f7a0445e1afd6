"""`ccc compile` output: the diagnostics, then one line per flow (image hash, time to a person)
and where the bundle went, for people; one JSON document for tools."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from ccc_dsl.diagnostics import Diagnostic
from ccc_dsl.views import diagnostics as diagnostics_view

if TYPE_CHECKING:  # the pipeline pulls in the whole compiler; a view needs only the type
    from ccc_dsl.pipeline import BundleBuild


def render_text(built: BundleBuild, diagnostics: Sequence[Diagnostic], target: Path,
                color: bool = False) -> str:
    """Diagnostics with excerpts; when the build succeeded, a line per flow and a summary."""
    lines = [diagnostics_view.render_text(diagnostics, color)] if diagnostics else []
    if built.ok:
        build = built.build
        for name, flow in sorted(build.flows.items()):
            t = flow.timing
            agent = ("no person" if t.seconds is None
                     else f"{t.seconds:.0f} s, {t.key_presses} key(s) to a person")
            if t.repeats is not None:  # `retries forever`: the figures assume an answer
                where = f"{PurePath(t.repeats.file).name}:{t.repeats.line}"
                agent += f"; repeats until the caller acts ({where})"
            lines.append(f"{name:<24} {flow.sha256[:12]}  {agent}")
        lines.append(f"compiled {len(build.flows)} flow(s) into {target} "
                     f"(bundle {built.digest[:12]}, {len(built.files)} files)")
    return "\n".join(lines)


def render_json(built: BundleBuild, diagnostics: Sequence[Diagnostic], target: Path) -> str:
    """ok, output folder, diagnostics, the build manifest and the bundle digest."""
    failed = not built.ok
    return json.dumps({
        "ok": not failed,
        "output": None if failed else str(target),
        "diagnostics": [diagnostics_view.diagnostic_to_dict(d) for d in diagnostics],
        "build": None if failed else built.build.manifest(),
        "bundle": None if failed else built.digest,
    }, indent=2, ensure_ascii=False)
