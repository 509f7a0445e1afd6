"""The incremental build: per flow file, what the last build of this repo and env found (its
diagnostics, its flows' summaries, time to agent and images), reused when the file's inputs are
unchanged (`incremental_build`); kept in one index per repo and env under the cache folder.
pipeline.cached_bundle runs it when the whole-build entry (cache.py) misses."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ccc_runtime.bytecode import image_hash

from ccc_dsl.cache import (
    Snapshot,
    cache_dir,
    diagnostics_from_data,
    diagnostics_to_data,
    result_key,
    seal,
    unseal,
    write_atomic,
)
from ccc_dsl.codes import NAMES_UNKNOWN
from ccc_dsl.compiler.cache import timing_data, timing_of
from ccc_dsl.compiler.driver import (
    _relative,
    _routing,
    emit_all,
)
from ccc_dsl.compiler.ir import FlowIR, lower_flow
from ccc_dsl.compiler.passes import analyse as run_analyses
from ccc_dsl.compiler.program import FlowSummary, Program
from ccc_dsl.compiler.resolve import resolve_names
from ccc_dsl.compiler.results import COMPILER_VERSION, Analysis, Build, CompiledFlow, Timing
from ccc_dsl.compiler.timing import flow_timing
from ccc_dsl.diagnostics import Diagnostic, has_errors, sorted_diagnostics
from ccc_dsl.grammar import ast
from ccc_dsl.grammar.parser import MAX_FLOW_BYTES, parse_file
from ccc_dsl.manifest.loader import LoadResult
from ccc_dsl.manifest.model import Model
from ccc_dsl.util import paused_gc

INDEX_FORMAT = 4
"""Bump when what the incremental index holds changes."""

_Flow = tuple[FlowSummary, Timing, bytes | None, str | None, int]
"""A flow of a record: its summary, time to agent, image (None: not verified when built), the
image's sha256, and where the pack holds the image (-1: not yet)."""


@dataclass
class _FileRecord:
    """One flow file of the last build: its input key, its context key, the diagnostics found
    in it (parse, names, analyses) and per flow its summary, time to agent and image."""

    key: str
    context: str
    diagnostics: list[Diagnostic]
    flows: dict[str, _Flow]
    line: bytes | None = field(default=None, compare=False)
    """The index line it was read from: kept as is when the index is written again (encoding
    2,000 records took longer than compiling the one that changed)."""

    def encoded(self, file: str) -> bytes:
        """Its index line: `[file, key, context, diagnostics, flows]` as compact JSON, each
        flow's image as [sha256, length, offset in the pack]."""
        if self.line is None:
            self.line = json.dumps([file, self.key, self.context,
                                    diagnostics_to_data(self.diagnostics), {
                name: [list(s.calls), sorted(s.own_writes), s.asks, s.returns, timing_data(t),
                       None if image is None else [sha, len(image), at]]
                for name, (s, t, image, sha, at) in self.flows.items()}],
                separators=(",", ":")).encode("ascii")
        return self.line

    def placed(self, offsets: dict[str, int]) -> _FileRecord:
        """The record with its images where the pack holds them now (`offsets` by flow)."""
        return _FileRecord(self.key, self.context, self.diagnostics, {
            name: (s, t, image, sha, offsets.get(name, at))
            for name, (s, t, image, sha, at) in self.flows.items()})


_STR = frozenset({str})


def _strings(value: Any) -> bool:
    return type(value) is list and set(map(type, value)) <= _STR


def _record(item: Any, pack: bytes) -> _FileRecord | bool | None:
    """A record back from `_FileRecord.encoded` (its images sliced from `pack`, each checked
    against its sha256); None for a record with a damaged or missing image, False for one of
    any other shape (the whole index is then a miss)."""
    if not (type(item) is list and len(item) == 5 and type(item[0]) is str
            and type(item[1]) is str and type(item[2]) is str and type(item[4]) is dict):
        return False
    diagnostics = [] if item[3] == [] else diagnostics_from_data(item[3])  # nearly every file
    if diagnostics is None:
        return False
    flows: dict[str, _Flow] = {}
    intact = True
    for name, data in item[4].items():
        if not (type(data) is list and len(data) == 6 and _strings(data[0])
                and _strings(data[1]) and type(data[2]) is bool and type(data[3]) is bool):
            return False
        timing = timing_of(data[4])
        ref = data[5]
        if timing is None:
            return False
        image = sha = None
        at = -1
        if ref is not None:
            if not (type(ref) is list and len(ref) == 3 and type(ref[0]) is str
                    and type(ref[1]) is int and type(ref[2]) is int
                    and ref[1] >= 0 and ref[2] >= _PACK_HEAD):
                return False
            image, sha, at = pack[ref[2]:ref[2] + ref[1]], ref[0], ref[2]
            intact = intact and len(image) == ref[1] and image_hash(image) == sha
        flows[name] = (FlowSummary(tuple(data[0]), frozenset(data[1]), data[2], data[3]),
                       timing, image, sha, at)
    return _FileRecord(item[1], item[2], diagnostics, flows) if intact else None


def _index_path(base: Path, root: Path, env: str | None) -> Path:
    digest = hashlib.blake2b(f"{root.resolve()}\0{env}\0{COMPILER_VERSION}".encode(
        "utf-8", "surrogateescape"), digest_size=16).hexdigest()
    return base / "incremental" / f"{digest}.json"


_PACK_MAGIC = b"ccc-pack 1 "
_PACK_HEAD = len(_PACK_MAGIC) + 32 + 1
"""A pack starts with its magic and its generation (32 hex digits, new each time the pack is
written whole), then holds images as they are, appended."""


@dataclass(frozen=True)
class _Pack:
    """The pack as the index was read with it: its generation and size."""

    generation: str
    size: int


def _load_index(path: Path) -> tuple[dict[str, _FileRecord], _Pack | None]:
    """The index and its pack. The index file: the size of its header, then the header,
    sealed: the format, the pack's generation, one line per flow file (kept raw, see
    `_FileRecord.line`). The images are in the pack beside it (`path` with .pack), appended
    as they are built: after one edit, one image is written, not 2,000 (nor base64 in JSON,
    which took longer to read than the one flow to compile)."""
    try:
        blob = path.read_bytes()
        pack = path.with_suffix(".pack").read_bytes()
    except OSError:
        return {}, None
    size, sep, rest = blob.partition(b"\n")
    if not sep or not size.isdigit() or int(size) != len(rest):
        return {}, None
    parts = unseal(rest, lazy=max(rest.count(b"\n") - 3, 0))  # every part but two
    if not parts or len(parts) < 2 or parts[0] != INDEX_FORMAT or not isinstance(parts[1], str) \
            or pack[:_PACK_HEAD] != _PACK_MAGIC + parts[1].encode("ascii", "replace") + b"\n":
        return {}, None
    lines: list[bytes] = parts[2:]
    try:  # one parse for every line (a call per line cost more than the parsing)
        items = json.loads(b"[" + b",".join(lines) + b"]")
    except (ValueError, RecursionError):
        return {}, None
    if len(items) != len(lines):
        return {}, None
    out = {}
    for line, item in zip(lines, items, strict=True):
        record = _record(item, pack)
        if record is False:
            return {}, None
        if isinstance(record, _FileRecord):
            record.line = line
            out[item[0]] = record
    return out, _Pack(parts[1], len(pack))


def _hash(*parts: str) -> str:
    digest = hashlib.blake2b(digest_size=20)
    for part in parts:
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    return digest.hexdigest()


def _read(path: Path) -> bytes | None:
    try:
        with path.open("rb") as handle:
            return handle.read(MAX_FLOW_BYTES + 1)
    except OSError:
        return None


@dataclass
class Incremental:
    """An incremental build: the `Build`, the flows whose images came from the index (decoded
    and verified when they were built, with the same manifests and flow names: `ccc compile`
    need not decode them again), and the index to keep once the bundle is verified."""

    build: Build
    reused: frozenset[str]
    _path: Path
    _records: dict[str, _FileRecord]
    _old: dict[str, _FileRecord]
    _fresh: frozenset[str]
    """The files built this time (the others' records are the index's, verified before)."""
    _pack: _Pack | None
    """The pack as the index was read with it (None: no index was read)."""

    def keep(self, verified: bool) -> tuple[Path, dict[str, tuple[int, int, str]]] | None:
        """Write the index when a file's record changed; the images built this time are kept
        only when the bundle was `verified` (so an image is never taken for a verified one
        when it was not). The other records are the index's own, written back as read. New
        images are appended to the pack; it is written whole (a new generation) when it has
        none yet or holds more than twice what the index names. Where the pack holds each
        flow's image now: (the pack, flow -> offset, length, sha256), for the whole-build
        entry to name them instead of holding a second copy (compiler/cache.py checks each
        against its sha256); None when they aren't kept."""
        records = {file: r if file not in self._fresh else self._as_kept(file, r, verified)
                   for file, r in self._records.items()}
        pack_path = self._path.with_suffix(".pack")
        if self._pack is not None and records.keys() == self._old.keys() and all(
                records[file] == self._old[file] for file in self._fresh):
            records = self._old  # as the files hold them
        else:
            placed = _placed(records, pack_path, self._pack)
            if placed is None:
                return None
            records, generation = placed
            try:
                header = seal(INDEX_FORMAT, generation,
                              *(r.encoded(f) for f, r in records.items()))
            except ValueError:  # what JSON can't hold: simply not kept
                return None
            write_atomic(self._path, b"%d\n" % len(header) + header)
        return pack_path, {name: (at, len(image), sha) for r in records.values()
                           for name, (_, _, image, sha, at) in r.flows.items()
                           if image is not None and sha is not None}


    def _as_kept(self, file: str, record: _FileRecord, verified: bool) -> _FileRecord:
        """A record built this time as the index keeps it: without its images when the
        bundle wasn't verified, else each image the pack already holds for that flow (the
        file built again but the image the same: a caller of an edited flow) where it is."""
        if not verified:
            return _FileRecord(record.key, record.context, record.diagnostics, {
                n: (s, t, None, None, -1) for n, (s, t, _, _, _) in record.flows.items()})
        old = self._old.get(file)
        if old is None:
            return record
        same = {name: old.flows[name][4] for name, (_, _, image, _, _) in record.flows.items()
                if image is not None and name in old.flows and old.flows[name][2] == image}
        return record.placed(same) if same else record


def _placed(records: dict[str, _FileRecord], path: Path,
            pack: _Pack | None) -> tuple[dict[str, _FileRecord], str] | None:
    """`records` with every image in the pack at `path`, and the pack's generation: the new
    images appended to the pack as it was read, or every image in a new pack; None when the
    pack can't be written."""
    new = {name: image for r in records.values()
           for name, (_, _, image, _, at) in r.flows.items() if image is not None and at < 0}
    live = sum(len(image) for r in records.values()
               for _, _, image, _, _ in r.flows.values() if image is not None)
    grown = 0 if pack is None else pack.size + sum(map(len, new.values()))
    if pack is not None and grown <= 2 * live + (1 << 20):
        blob = b"".join(new.values())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
            try:  # O_APPEND: the file's end, even if another build appended meanwhile
                wrote = os.write(fd, blob) if blob else 0
                end = os.lseek(fd, 0, os.SEEK_CUR)
            finally:
                os.close(fd)
        except OSError:
            return None
        if wrote != len(blob):
            return None
        at = end - len(blob)
        offsets = {}
        for name, data in new.items():
            offsets[name] = at
            at += len(data)
        return {file: r.placed(offsets) if any(n in new for n in r.flows) else r
                for file, r in records.items()}, pack.generation
    generation = os.urandom(16).hex()
    chunks = [_PACK_MAGIC + generation.encode() + b"\n"]
    offsets = {}
    at = _PACK_HEAD
    for r in records.values():
        for name, (_, _, image, _, _) in r.flows.items():
            if image is not None:
                offsets[name] = at
                chunks.append(image)
                at += len(image)
    write_atomic(path, b"".join(chunks))
    try:
        with path.open("rb") as written:
            if written.read(_PACK_HEAD) != chunks[0]:
                return None
    except OSError:  # not written (write_atomic skips a read-only or full cache)
        return None
    return {file: r.placed(offsets) for file, r in records.items()}, generation


def incremental_build(loaded: LoadResult, env: str | None,
                      snapshot: Snapshot | None = None) -> Incremental | None:
    """Compile the repo of `loaded` (its manifests, as `load_repo` gave them) reusing, per
    flow file, what the last build found when the file's inputs are unchanged: its bytes, the
    manifests (every non-flow file under the root), the environment and the compiler (the
    file's key), and what its flows' analyses read of other flows: the sources of the sub-flows
    they reach, the variables their callers may set, whether they have callers, and the names
    of every flow (the context key). Everything else is parsed, lowered, analysed and emitted
    again. None when the repo needs the cold path: no cache, a manifest or a flow that can't
    be read, or a flow name defined twice. `snapshot`: the repo's files as read for the build
    key (each file is then read once)."""
    base = cache_dir()
    model = loaded.model
    if base is None or model is None or any(
            d.code in NAMES_UNKNOWN and d.is_error for d in loaded.diagnostics):
        return None
    root = Path(model.root)
    files = {str(p): p for p in loaded.flow_files}
    model_key = result_key(root, env, skip=frozenset(files), snapshot=snapshot)
    read = {path: data for path, _, data in snapshot or () if path in files}
    texts: dict[str, bytes] = {}
    for file, path in files.items():
        data = read.get(file) or _read(path)
        if data is None or len(data) > MAX_FLOW_BYTES:
            return None
        texts[file] = data
    sources = _sources(files, root)
    shas = {file: hashlib.sha256(text).hexdigest() for file, text in texts.items()}
    keys = {file: _hash(model_key, sources[file], shas[file]) for file in files}
    index_path = _index_path(base, root, env)
    old, pack = _load_index(index_path)
    reused = {file: old[file] for file in files if file in old and old[file].key == keys[file]
              and all(image is not None for _, _, image, _, _ in old[file].flows.values())}
    parsed: dict[str, ast.Module] = {}
    parse_diagnostics: dict[str, list[Diagnostic]] = {}
    irs: dict[str, FlowIR] = {}
    routing = _routing(model)

    def lower(file: str) -> bool:
        result = parse_file(files[file])
        if result.module is None:
            return False
        parsed[file] = result.module
        parse_diagnostics[file] = result.diagnostics
        for flow in result.module.flows:
            irs[flow.name] = lower_flow(flow, result.module.file, routing)
        return True

    with paused_gc():
        for file in files:
            if file not in reused and not lower(file):
                return None
        owner: dict[str, str] = {}
        summaries: dict[str, FlowSummary] = {}
        timings: dict[str, Timing] = {}
        probe = Program(irs, model, root)
        for file in files:
            names = ([f.name for f in parsed[file].flows] if file in parsed
                     else list(reused[file].flows))
            for name in names:
                if name in owner:
                    return None  # R512 and which one wins: the cold path decides
                owner[name] = file
                if file in parsed:
                    summaries[name] = probe.summary(name)
                else:
                    summary, timing, _, _, _ = reused[file].flows[name]
                    summaries[name], timings[name] = summary, timing
        context = _contexts(files, keys, owner, summaries, root, model)
        stale = [file for file in files if file not in reused
                 or reused[file].context != context[file]]
        for file in stale:
            if file not in parsed and not lower(file):
                return None
        reused = {file: record for file, record in reused.items() if file not in parsed}
        return _finish(loaded, files, texts, shas, sources, keys, context, reused, parsed,
                       parse_diagnostics, irs, summaries, timings, index_path, old, pack)


def _sources(files: Iterable[str], root: Path) -> dict[str, str]:
    """Each file's path relative to `root` (as `driver._relative` gives it), by slicing off the
    root where the path starts with it (relpath made absolute paths of both, per file)."""
    base = str(root)
    prefix = "" if base == "." else base.rstrip("/") + "/"
    out = {}
    for file in files:
        rest = file[len(prefix):] if file.startswith(prefix) else ""
        plain = rest and os.path.normpath(rest) == rest and not rest.startswith("..")
        out[file] = rest if plain else _relative(file, root)
    return out


def _contexts(files: dict[str, Path], keys: dict[str, str], owner: dict[str, str],
              summaries: dict[str, FlowSummary], root: Path, model: Model) -> dict[str, str]:
    """Each file's context key: its own key and what its flows' analyses read of others."""
    graph = Program({}, model, root, summaries=summaries)
    names = _hash(*(f"{name}={owner[name]}" for name in sorted(owner)))
    owned: dict[str, list[str]] = {file: [] for file in files}
    for name in sorted(owner):
        owned[owner[name]].append(name)
    out = {}
    for file in files:
        parts = [keys[file], names]
        for name in owned[file]:
            reach = sorted(graph.reach(name))
            parts += [name, str(bool(graph.callers.get(name))),
                      ",".join(sorted(graph.inherited_of(name))),
                      ",".join(f"{d}@{keys[owner[d]] if d in owner else '-'}" for d in reach)]
        out[file] = _hash(*parts)
    return out


def _resolved_by_file(parsed: dict[str, ast.Module], model: Model,
                      known: set[str]) -> dict[str, list[Diagnostic]]:
    """Each parsed file's R5xx diagnostics: one `resolve_names` over all of them (each call
    sets up the repo's names again: 0.4 s against 0.1 s for 2,000 files), given to the file
    whose flow they are at (the same lists as one call per file); per file when a diagnostic
    names no parsed file."""
    owner = {module.file: file for file, module in parsed.items()}
    out: dict[str, list[Diagnostic]] = {file: [] for file in parsed}
    for diagnostic in resolve_names(list(parsed.values()), model, known_flows=known,
                                    bindings=False):
        file = owner.get(diagnostic.span.file) if diagnostic.span is not None else None
        if file is None:
            return {file: resolve_names([module], model, known_flows=known, bindings=False)
                    for file, module in parsed.items()}
        out[file].append(diagnostic)
    return out


def _finish(loaded: LoadResult, files: dict[str, Path], texts: dict[str, bytes],
            shas: dict[str, str], sources: dict[str, str], keys: dict[str, str],
            context: dict[str, str],
            reused: dict[str, _FileRecord], parsed: dict[str, ast.Module],
            parse_diagnostics: dict[str, list[Diagnostic]], irs: dict[str, FlowIR],
            summaries: dict[str, FlowSummary], timings: dict[str, Timing],
            index_path: Path, old: dict[str, _FileRecord], pack: _Pack | None) -> Incremental:
    """Analyse and emit the parsed files against the reused ones' summaries."""
    model = loaded.model
    assert model is not None
    root = Path(model.root)
    program = Program(irs, model, root,
                      summaries={n: s for n, s in summaries.items() if n not in irs})
    for name, timing in timings.items():
        if name not in irs:
            program.memo[("timing", name)] = timing
    known = set(summaries)
    diagnostics = [*loaded.diagnostics, *resolve_names([], model, known_flows=known)]
    names_found = _resolved_by_file(parsed, model, known)
    found: dict[str, list[Diagnostic]] = {}
    for file in files:
        module = parsed.get(file)
        if module is None:
            found[file] = reused[file].diagnostics
        else:
            found[file] = parse_diagnostics[file] + names_found[file]
            for flow in module.flows:
                found[file] += run_analyses(irs[flow.name], program)
        diagnostics += found[file]
    diagnostics = sorted_diagnostics(diagnostics)
    names = {flow.name: file for file, module in parsed.items() for flow in module.flows}
    analysis = Analysis(program, diagnostics,
                        {name: sources[file] for name, file in names.items()})
    compiled: dict[str, CompiledFlow] = {}
    kept: set[str] = set()
    if not has_errors(diagnostics):
        compiled = emit_all(analysis, texts)
        for file, record in reused.items():
            for name, (_, timing, image, sha, _) in record.flows.items():
                assert image is not None and sha is not None  # else never reused
                compiled[name] = CompiledFlow(name, sources[file], image, sha, shas[file],
                                              timing)
                kept.add(name)
    records = dict(reused)
    for file, module in parsed.items():
        records[file] = _FileRecord(keys[file], context[file], found[file], {
            flow.name: (summaries[flow.name], flow_timing(program, flow.name),
                        *((compiled[flow.name].image, compiled[flow.name].sha256)
                          if flow.name in compiled else (None, None)), -1)
            for flow in module.flows})
    return Incremental(Build(dict(sorted(compiled.items())), diagnostics, analysis),
                       frozenset(kept), index_path, records, old, frozenset(parsed), pack)

