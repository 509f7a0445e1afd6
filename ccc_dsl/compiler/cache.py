"""The build cache: a compiled repo's bundle kept by the repo's fingerprint, so that `ccc
compile`, `ccc test` and `ccc simulate` of an unchanged repo skip parsing, analysis and emission.

The key is `ccc_dsl.cache.result_key` (every file under the repo root by path and content, the
environment, and ccc's own code, the compiler version among it) with the compiler version and
this entry's format: whatever can change a flow's result (a flow, a sub-flow, a prompt, a skill
group, a function's `returns:`, the environment) is a file under the root, so a hit is the same
build as a cold one. An entry is a sealed JSON header (`ccc_dsl.cache.seal`: diagnostics as
plain data, the flows, each file's path and size, the payload's checksum) followed by the files'
bytes as they are (base64 in JSON took 0.07 s each way for a bundle of 2,000 flows). A damaged
or wrongly shaped entry is a miss, never an error.

Only what the bundle's users need comes back: the build's diagnostics, its files and flows (with
their hashes and time to agent), and the verified `Bundle`; `analysis` is None, so a caller that
needs the IR (`ccc plan`) builds cold.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ccc_runtime.digest import BUNDLE_FILE

from ccc_dsl.cache import (
    Snapshot,
    cache_dir,
    diagnostics_from_data,
    diagnostics_to_data,
    keep_newest,
    result_key,
    seal,
    unseal,
    write_atomic,
)
from ccc_dsl.compiler.results import COMPILER_VERSION, Build, CompiledFlow, Timing
from ccc_dsl.diagnostics import Diagnostic, Span

if TYPE_CHECKING:
    from ccc_runtime.bundle import Bundle

BUILD_FORMAT = 3
"""Bump when what a build entry holds changes."""

KEEP_BUILDS = 8
"""Whole-build entries kept (the newest): each holds a whole bundle, and an editor compiling on
every save would otherwise fill the disk with one per edit."""


def build_key(root: Path, env: str | None, snapshot: Snapshot | None = None) -> str:
    """The fingerprint of a build of `root` for `env` by this compiler (`snapshot`: the
    repo's files as `ccc_dsl.cache.repo_snapshot` read them)."""
    return f"{result_key(root, env, snapshot=snapshot)}-{COMPILER_VERSION}"


def _entry_path(base: Path, key: str) -> Path:
    return base / "build" / f"{key}.json"


def has_build(key: str) -> bool:
    """Whether an entry is kept under `key` (not whether it is intact: `load_build` checks)."""
    base = cache_dir()
    return base is not None and _entry_path(base, key).is_file()


def _span_data(span: Span | None) -> list[Any] | None:
    return None if span is None else [span.file, span.line, span.column, span.end_line,
                                      span.end_column]


def timing_data(t: Timing) -> list[Any]:
    """A `Timing` as JSON data (`timing_of` reads it back)."""
    return [t.seconds, t.key_presses, _span_data(t.person), t.return_seconds, t.return_keys,
            _span_data(t.repeats)]


_SPAN_TYPES = [str, int, int, int, int]
_REAL = frozenset({int, float, type(None)})
_WHOLE = frozenset({int, type(None)})


def _span(data: Any) -> Span | None:
    """A span kept by `_span_data` (None for none); ValueError for data that is no span."""
    if data is None:
        return None
    if not (type(data) is list and list(map(type, data)) == _SPAN_TYPES):
        raise ValueError("not a span")
    return Span(*data)


def timing_of(data: Any) -> Timing | None:
    """The `Timing` kept by `timing_data`, or None for any other shape (the types checked
    exactly, bools being no numbers: an index holds one per flow, 2,000 read per build)."""
    if not (type(data) is list and len(data) == 6):
        return None
    seconds, keys, person, return_seconds, return_keys, repeats = data
    if not (type(seconds) in _REAL and type(keys) in _WHOLE
            and type(return_seconds) in _REAL and type(return_keys) in _WHOLE):
        return None
    try:
        span, menu = _span(person), _span(repeats)
    except ValueError:
        return None
    return Timing(None if seconds is None else float(seconds), keys, span,
                  None if return_seconds is None else float(return_seconds), return_keys, menu)


def _payload_digest(chunks: Iterable[bytes]) -> str:
    digest = hashlib.sha256()  # sha256 is twice as fast as blake2b where the CPU has it
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


Images = tuple[Path, Mapping[str, tuple[int, int, str]]]
"""Where a file of the cache holds flows' images: (the file, flow -> offset, length, sha256);
what `Incremental.keep` gives back of the incremental index's pack."""

_PACK_NAME = re.compile(r"[0-9a-f]{32}\.pack")


def store_build(key: str, build: Build, files: dict[str, bytes],
                errors: list[Diagnostic], images: Images | None = None) -> None:
    """Keep a finished build (failed ones too: their diagnostics are the result). `images`:
    where the incremental index's pack holds the flows' images, named by the entry instead of
    copied into it (5 MB again for 2,000 flows); an image the pack doesn't hold is copied."""
    base = cache_dir()
    if base is None:
        return
    flows = {name: [f.source, f.sha256, f.source_sha256, timing_data(f.timing)]
             for name, f in build.flows.items()}
    where: Mapping[str, tuple[int, int, str]] = {}
    pack = None
    if images is not None and images[0].parent == base / "incremental" \
            and _PACK_NAME.fullmatch(images[0].name):
        pack, where = images[0].name, images[1]
    items: list[list[Any]] = []
    payload: list[bytes] = []
    for rel, data in files.items():
        name = rel[:-4] if rel.endswith(".ccb") else None
        ref = where.get(name) if name is not None else None
        flow = build.flows.get(name) if name is not None else None
        if ref is not None and flow is not None and ref[1] == len(data) \
                and ref[2] == flow.sha256:
            items.append([rel, len(data), ref[0], ref[2]])
        else:
            items.append([rel, len(data)])
            payload.append(data)
    try:
        header = seal(BUILD_FORMAT, diagnostics_to_data(build.diagnostics),
                      diagnostics_to_data(errors), flows, items, _payload_digest(payload),
                      pack)
    except ValueError:
        return
    path = _entry_path(base, key)
    write_atomic(path, b"".join([b"%d\n" % len(header), header, *payload]))
    keep_newest(path.parent, KEEP_BUILDS)


def _entry(blob: bytes, base: Path) -> tuple[list[Any], dict[str, bytes]] | None:
    """The header's parts and the files of an entry `store_build` wrote (those it names in
    the pack read from there, each checked against its sha256), or None."""
    size, sep, rest = blob.partition(b"\n")
    if not sep or not size.isdigit() or int(size) > len(rest):
        return None
    parts = unseal(rest[:int(size)])
    if parts is None or len(parts) != 7 or parts[0] != BUILD_FORMAT \
            or not isinstance(parts[4], list) \
            or not (parts[6] is None or (isinstance(parts[6], str)
                                         and _PACK_NAME.fullmatch(parts[6]))):
        return None
    payload = rest[int(size):]
    if parts[5] != _payload_digest([payload]):
        return None
    held = b""
    if parts[6] is not None:
        try:
            held = (base / "incremental" / parts[6]).read_bytes()
        except OSError:
            return None
    files: dict[str, bytes] = {}
    at = 0
    for item in parts[4]:
        if not (isinstance(item, list) and len(item) in (2, 4) and isinstance(item[0], str)
                and type(item[1]) is int and item[1] >= 0):
            return None
        if len(item) == 4:
            if not (type(item[2]) is int and 0 <= item[2] <= len(held) - item[1]
                    and isinstance(item[3], str)):
                return None
            data = held[item[2]:item[2] + item[1]]
            if hashlib.sha256(data).hexdigest() != item[3]:  # bytecode.image_hash: not
                return None  # imported on a warm run; a mismatch: the pack was rewritten
        elif item[1] <= len(payload) - at:
            data = payload[at:at + item[1]]
            at += item[1]
        else:
            return None
        files[item[0]] = data
    if at != len(payload) or len(files) != len(parts[4]):
        return None
    return parts, files


def load_build(key: str) -> tuple[Build, dict[str, bytes], list[Diagnostic]] | None:
    """The build kept under `key`: (build without analysis, files, error diagnostics), or
    None on a miss or a damaged entry."""
    base = cache_dir()
    if base is None:
        return None
    try:
        entry = _entry(_entry_path(base, key).read_bytes(), base)
    except OSError:
        return None
    if entry is None:
        return None
    parts, files = entry
    diagnostics = diagnostics_from_data(parts[1])
    errors = diagnostics_from_data(parts[2])
    flows_data = parts[3]
    if diagnostics is None or errors is None or not isinstance(flows_data, dict):
        return None
    flows: dict[str, CompiledFlow] = {}
    for name, item in flows_data.items():
        if not (isinstance(item, list) and len(item) == 4
                and all(isinstance(v, str) for v in item[:3])):
            return None
        timing = timing_of(item[3])
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
    from ccc_runtime.bundle import BundleError, bundle_from_parts  # pydantic: not for `compile`

    config = bundle_config_of(files)
    if config is None:
        return None
    try:
        return bundle_from_parts(config, {n: f.image for n, f in build.flows.items()},
                                 source=f"{root} (compiled)", root=root.resolve())
    except BundleError:
        return None
