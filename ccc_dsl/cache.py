"""The on-disk cache: where it lives, atomic writes, diagnostics as plain data, and the
whole-result cache of `ccc validate`.

The cache lives outside the config repo (`$CCC_CACHE_DIR`, else `$XDG_CACHE_HOME/ccc-dsl`, else
`~/.cache/ccc-dsl`) so it never shows up in `git status`; `CCC_NO_CACHE=1` turns it off. A damaged
or unwritable cache is never an error: the work is simply done again.

Entries are JSON behind a checksum (`seal`/`unseal`): a cache folder is just files, and any of
them may be truncated, flipped or hand-made. A damaged or wrongly shaped entry is a miss, never a
crash: marshal or pickle would crash the interpreter (or worse) on such bytes.

`ccc validate` on an unchanged repo is run many times a day (editor saves, pre-commit hooks, CI
re-runs), so its diagnostics are kept per repo fingerprint: every file under the root (path and
content), the environment, and ccc's own code. A hit skips loading the manifests, the
parser and the compiler altogether, which is what makes a warm run fast. This module is imported
on that path, so it imports nothing heavy.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import Any

from ccc_dsl import __version__
from ccc_dsl.diagnostics import Diagnostic, Severity, Span
from ccc_dsl.util import write_file_atomic

RESULT_FORMAT = 2
"""Bump when what a validate result holds changes."""

CONTENT_HASH_LIMIT = 1 << 20
"""Files up to this size are fingerprinted by content (an edit within the file system's clock
tick still counts); larger ones (prompt audio) by size and modification time."""


def cache_dir() -> Path | None:
    if os.environ.get("CCC_NO_CACHE"):
        return None
    explicit = os.environ.get("CCC_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ccc-dsl"


def write_atomic(target: Path, blob: bytes) -> None:
    """Write through a temp file and a rename, so a reader never sees half an entry; a
    read-only or full cache is silently skipped."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_file_atomic(target, blob, durable=False)
    except OSError:
        return


def keep_newest(folder: Path, keep: int) -> None:
    """Remove all but the newest `keep` entries of a cache folder (entries that hold a whole
    bundle or desired state would fill the disk one save at a time); another process may race:
    harmless."""
    try:
        entries = sorted((e.stat().st_mtime_ns, e.path) for e in os.scandir(folder)
                         if e.name.endswith(".json"))
    except OSError:
        return
    for _, path in entries[:-keep]:
        with contextlib.suppress(OSError):
            os.unlink(path)


_MAGIC = b"ccc-cache 1\n"
_DIGEST_SIZE = 16


def seal(*parts: Any) -> bytes:
    """An entry: a magic line, a checksum line, then each part as one line of JSON (compact
    JSON has no raw line breaks; a bytes part is JSON already). ValueError for what JSON
    can't hold."""
    body = b"\n".join(part if isinstance(part, bytes) else json.dumps(
        part, separators=(",", ":"), allow_nan=True).encode("ascii") for part in parts)
    return _MAGIC + hashlib.blake2b(body, digest_size=_DIGEST_SIZE).hexdigest().encode() + (
        b"\n" + body)


def unseal(blob: bytes, lazy: int = 0) -> list[Any] | None:
    """The parts of an entry, or None when it is damaged: a wrong magic or checksum, or JSON
    that doesn't parse. The last `lazy` parts stay raw bytes, decoded only when needed."""
    if not blob.startswith(_MAGIC):
        return None
    head, sep, body = blob[len(_MAGIC):].partition(b"\n")
    if not sep or head != hashlib.blake2b(body, digest_size=_DIGEST_SIZE).hexdigest().encode():
        return None
    raw = body.split(b"\n")
    try:
        return [json.loads(part) for part in raw[:len(raw) - lazy]] + raw[len(raw) - lazy:]
    except (ValueError, RecursionError):  # a hand-made entry with a valid checksum
        return None


def read_entry(path: Path, lazy: int = 0) -> list[Any] | None:
    """`unseal` of a cache file; None when it is missing or unreadable."""
    try:
        return unseal(path.read_bytes(), lazy)
    except OSError:
        return None


def diagnostics_to_data(diagnostics: Iterable[Diagnostic]) -> list[tuple[Any, ...]]:
    """Diagnostics as tuples of plain values (for `seal`)."""
    return [
        (str(d.severity), d.code, d.message,
         (d.span.file, d.span.line, d.span.column, d.span.end_line, d.span.end_column)
         if d.span else None, d.hint)
        for d in diagnostics
    ]


def _is_span(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 5 and isinstance(value[0], str)
            and all(type(v) is int for v in value[1:]))


def diagnostics_from_data(data: Any) -> list[Diagnostic] | None:
    """Diagnostics back from `diagnostics_to_data`, or None when `data` has another shape."""
    if not isinstance(data, list):
        return None
    out = []
    severities = {str(s) for s in Severity}
    for item in data:
        if not (isinstance(item, list) and len(item) == 5 and item[0] in severities
                and isinstance(item[1], str) and isinstance(item[2], str)
                and (item[3] is None or _is_span(item[3]))
                and (item[4] is None or isinstance(item[4], str))):
            return None
        severity, code, message, span, hint = item
        out.append(Diagnostic(Severity(severity), code, message, Span(*span) if span else None,
                              hint))
    return out


Positions = dict[tuple[str | int, ...], tuple[int, int, int, int]]


def encode_positions(values: Positions, keys: Positions) -> bytes:
    """Both position maps of a parsed YAML file as JSON (tuple keys become pair lists)."""
    return json.dumps([list(values.items()), list(keys.items())],
                      separators=(",", ":")).encode("ascii")


def decode_positions(blob: bytes) -> tuple[Positions, Positions]:
    """The maps back from `encode_positions`; empty maps for anything else (spans then fall
    back to the file's start: a located diagnostic, never a crash)."""
    try:
        tables = json.loads(blob)
        out: list[Positions] = []
        for table in tables:
            decoded: Positions = {}
            for path, pos in table:
                if not (isinstance(path, list) and all(type(p) in (str, int) for p in path)
                        and isinstance(pos, list) and len(pos) == 4
                        and all(type(v) is int for v in pos)):
                    return {}, {}
                decoded[tuple(path)] = (pos[0], pos[1], pos[2], pos[3])
            out.append(decoded)
        values, keys = out
    except (ValueError, TypeError, RecursionError):
        return {}, {}
    return values, keys


def _files(folder: Path, everything: bool = False) -> Iterator[os.DirEntry[str]]:
    """Every regular file below `folder`, hidden folders (.git, .venv) left out, sorted; with
    `everything`, every other entry too (folders, devices, dangling links): the loader reports
    a `dir.yaml` folder or a link to /dev/zero, so they decide a result as files do."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        try:
            is_dir, is_file = entry.is_dir(follow_symlinks=False), entry.is_file()
        except OSError:  # a symlink loop or a vanished entry: not a file the loader can read
            is_dir = is_file = False
        if is_dir:
            if not entry.name.startswith("."):
                if everything:
                    yield entry
                yield from _files(Path(entry.path), everything)
        elif is_file or everything:
            yield entry


def tool_fingerprint() -> bytes:
    """ccc's own code and the phone-number metadata decide results too: a changed checkout or
    upgrade must not reuse old answers."""
    digest = hashlib.blake2b(f"{__version__}\0{RESULT_FORMAT}".encode(), digest_size=16)
    roots = [Path(__file__).parent]
    for name in ("ccc_runtime", "phonenumbers"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin is not None:
            roots.append(Path(spec.origin).parent)
    for root in roots:
        for entry in _files(root):
            if entry.name.endswith((".py", ".lark", ".yaml")):
                stat = entry.stat()
                digest.update(f"{entry.path}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.digest()


Snapshot = list[tuple[str, bytes, bytes | None]]
"""Every entry under a repo root as `result_key` sees it: (path, what identifies it, its
content when that was read)."""


def repo_snapshot(root: Path) -> Snapshot:
    """The repo's entries as they are now, each file read once: `ccc compile` keys the whole
    repo and each flow file from the same read."""
    out: Snapshot = []
    folder = root if root.is_dir() else root.parent  # `ccc validate repo/ccc.yaml`
    for entry in _files(folder, everything=True):
        name = entry.path.encode("utf-8", "surrogateescape")
        try:
            if not entry.is_file():
                kind = b"dir" if entry.is_dir(follow_symlinks=False) else b"other"
                out.append((entry.path, name + b"\0" + kind + b"\0", None))
                continue
            stat = entry.stat()
        except OSError:
            out.append((entry.path, name + b"\0unreadable\0", None))
            continue
        head = name + f"\0{stat.st_size}\0".encode()
        if stat.st_size <= CONTENT_HASH_LIMIT:
            try:
                data = Path(entry.path).read_bytes()
            except OSError:
                out.append((entry.path, head + b"\0unreadable\0", None))
                continue
            out.append((entry.path, head + data + b"\0", data))
        else:
            out.append((entry.path, head + f"{stat.st_mtime_ns}\0".encode(), None))
    return out


def result_key(root: Path, env: str | None, skip: Collection[str] = frozenset(),
               snapshot: Snapshot | None = None) -> str:
    """The fingerprint of a validate run: the repo's files as they are now (or as
    `snapshot` read them), env, and ccc. Files whose path (as found below `root`) is in `skip`
    are left out: the incremental build (ccc_dsl/compiler/cache.py) keys each flow file on its
    own."""
    digest = hashlib.blake2b(tool_fingerprint(), digest_size=20)
    digest.update(f"\0{root.resolve()}\0{env}\0".encode("utf-8", "surrogateescape"))
    for path, identity, _ in repo_snapshot(root) if snapshot is None else snapshot:
        if path not in skip:
            digest.update(identity)
    return digest.hexdigest()


def _result_path(base: Path, key: str) -> Path:
    return base / "validate" / f"{key}.json"


def load_result(key: str) -> list[Diagnostic] | None:
    base = cache_dir()
    if base is None:
        return None
    parts = read_entry(_result_path(base, key))
    if parts is None or len(parts) != 2 or parts[0] != RESULT_FORMAT:
        return None
    return diagnostics_from_data(parts[1])


def store_result(key: str, diagnostics: Iterable[Diagnostic]) -> None:
    base = cache_dir()
    if base is not None:
        write_atomic(_result_path(base, key),
                     seal(RESULT_FORMAT, diagnostics_to_data(diagnostics)))


def cached_diagnostics(root: Path, env: str | None, compute: Callable[[], list[Diagnostic]],
                       snapshot: Snapshot | None = None) -> list[Diagnostic]:
    """The diagnostics of validating `root` for `env`: from the cache when nothing changed,
    else computed and stored (`snapshot`: the repo as the caller read it for its own use)."""
    if cache_dir() is None:
        return compute()
    key = result_key(root, env, snapshot=snapshot)
    cached = load_result(key)
    if cached is not None:
        return cached
    diagnostics = compute()
    store_result(key, diagnostics)
    return diagnostics
