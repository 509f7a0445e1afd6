"""The build cache: a compiled repo's bundle kept by the repo's fingerprint, so that `ccc
compile`, `ccc test` and `ccc simulate` of an unchanged repo skip parsing, analysis and emission.

The key is `ccc_dsl.cache.result_key` (every file under the repo root by path and content, the
environment, and ccc's own code, the compiler version among it) with the compiler version and
this entry's format: whatever can change a flow's result (a flow, a sub-flow, a prompt, a skill
group, a function's `returns:`, the environment) is a file under the root, so a hit is the same
build as a cold one. An entry is sealed JSON (`ccc_dsl.cache.seal`): images and files as base64,
diagnostics as plain data. A damaged or wrongly shaped entry is a miss, never an error.

Only what the bundle's users need comes back: the build's diagnostics, its files and flows (with
their hashes and time to agent), and the verified `Bundle`; `analysis` is None, so a caller that
needs the IR (`ccc plan`) builds cold.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

from ccc_runtime.bundle import BUNDLE_FILE, Bundle, BundleError, bundle_from_parts

from ccc_dsl.cache import (
    cache_dir,
    diagnostics_from_data,
    diagnostics_to_data,
    read_entry,
    result_key,
    seal,
    write_atomic,
)
from ccc_dsl.compiler.driver import COMPILER_VERSION, Build, CompiledFlow
from ccc_dsl.compiler.timing import Timing
from ccc_dsl.diagnostics import Diagnostic, Span

BUILD_FORMAT = 1
"""Bump when what a build entry holds changes."""


def build_key(root: Path, env: str | None) -> str:
    """The fingerprint of a build of `root` for `env` by this compiler."""
    return f"{result_key(root, env)}-{COMPILER_VERSION}"


def _entry_path(base: Path, key: str) -> Path:
    return base / "build" / f"{key}.json"


def _span_data(span: Span | None) -> list[Any] | None:
    return None if span is None else [span.file, span.line, span.column, span.end_line,
                                      span.end_column]


def _timing_data(t: Timing) -> list[Any]:
    return [t.seconds, t.key_presses, _span_data(t.person), t.return_seconds, t.return_keys]


def _number(value: Any, kind: type) -> bool:
    return value is None or (isinstance(value, kind) and not isinstance(value, bool))


def _timing(data: Any) -> Timing | None:
    if not (isinstance(data, list) and len(data) == 5):
        return None
    seconds, keys, person, return_seconds, return_keys = data
    if not (_number(seconds, (int, float)) and _number(keys, int)  # type: ignore[arg-type]
            and _number(return_seconds, (int, float))  # type: ignore[arg-type]
            and _number(return_keys, int)):
        return None
    span = None
    if person is not None:
        if not (isinstance(person, list) and len(person) == 5 and isinstance(person[0], str)
                and all(type(v) is int for v in person[1:])):
            return None
        span = Span(*person)
    return Timing(None if seconds is None else float(seconds), keys, span,
                  None if return_seconds is None else float(return_seconds), return_keys)


def store_build(key: str, build: Build, files: dict[str, bytes],
                errors: list[Diagnostic]) -> None:
    """Keep a finished build (failed ones too: their diagnostics are the result)."""
    base = cache_dir()
    if base is None:
        return
    flows = {name: [f.source, f.sha256, f.source_sha256, _timing_data(f.timing)]
             for name, f in build.flows.items()}
    blobs = {path: base64.b64encode(data).decode("ascii") for path, data in files.items()}
    try:
        blob = seal(BUILD_FORMAT, diagnostics_to_data(build.diagnostics),
                    diagnostics_to_data(errors), flows, blobs)
    except ValueError:
        return
    write_atomic(_entry_path(base, key), blob)


def load_build(key: str) -> tuple[Build, dict[str, bytes], list[Diagnostic]] | None:
    """The build kept under `key`: (build without analysis, files, error diagnostics), or
    None on a miss or a damaged entry."""
    base = cache_dir()
    if base is None:
        return None
    parts = read_entry(_entry_path(base, key))
    if parts is None or len(parts) != 5 or parts[0] != BUILD_FORMAT:
        return None
    diagnostics = diagnostics_from_data(parts[1])
    errors = diagnostics_from_data(parts[2])
    flows_data, blobs = parts[3], parts[4]
    if diagnostics is None or errors is None or not isinstance(flows_data, dict) \
            or not isinstance(blobs, dict):
        return None
    try:
        files = {path: base64.b64decode(text, validate=True) for path, text in blobs.items()
                 if isinstance(path, str) and isinstance(text, str)}
    except (binascii.Error, ValueError):
        return None
    if len(files) != len(blobs):
        return None
    flows: dict[str, CompiledFlow] = {}
    for name, item in flows_data.items():
        if not (isinstance(item, list) and len(item) == 4
                and all(isinstance(v, str) for v in item[:3])):
            return None
        timing = _timing(item[3])
        image = files.get(f"{name}.ccb")
        if timing is None or image is None:
            return None
        flows[name] = CompiledFlow(name, item[0], image, item[1], item[2], timing)
    return Build(flows, diagnostics, None), files, errors


def bundle_config_of(files: dict[str, bytes]) -> dict[str, Any] | None:
    """bundle.json of a cached build without its `flows` (what `bundle_from_parts` takes)."""
    try:
        doc = json.loads(files[BUNDLE_FILE])
    except (KeyError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict):
        return None
    return {k: v for k, v in doc.items() if k != "flows"}


def rebuild_bundle(files: dict[str, bytes], build: Build, root: Path) -> Bundle | None:
    """The verified `Bundle` of cached files (the runtime checks every image again), or None
    when they don't make one (a hand-made entry)."""
    config = bundle_config_of(files)
    if config is None:
        return None
    try:
        return bundle_from_parts(config, {n: f.image for n, f in build.flows.items()},
                                 source=f"{root} (compiled)", root=root.resolve())
    except BundleError:
        return None
