"""A cache of parsed YAML files, keyed by a hash of the file's name and bytes.

Composing YAML is the slow part of `ccc validate` on a large repo; the parsed form (plain data,
position maps, diagnostics) is JSON-able and parses quickly. It lives in ccc's cache folder
(ccc_dsl/cache.py), outside the config repo, behind a checksum; a damaged or wrongly shaped
entry is a miss: the file is parsed again and the entry rewritten.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from ccc_dsl.cache import (
    cache_dir,
    diagnostics_from_data,
    diagnostics_to_data,
    read_entry,
    seal,
    write_atomic,
)
from ccc_dsl.manifest.parsed import ParsedFile, PathKey

FORMAT = 7
"""Bump when the parsed form or the YAML rules change, so old entries are not reused."""


def entry_key(file: str, raw: bytes) -> str:
    digest = hashlib.blake2b(raw, digest_size=20)
    digest.update(b"\0" + file.encode("utf-8", "surrogateescape") + f"\0{FORMAT}".encode())
    return digest.hexdigest()


def _entry_path(base: Path, key: str) -> Path:
    return base / "yaml" / key[:2] / f"{key}.json"


def _var_paths(value: Any) -> list[PathKey] | None:
    if not isinstance(value, list):
        return None
    out: list[PathKey] = []
    for path in value:
        if not (isinstance(path, list) and all(type(p) in (str, int) for p in path)):
            return None
        out.append(tuple(path))
    return out


def load(file: str, raw: bytes) -> ParsedFile | None:
    """The cached parse of `raw` as `file`, or None (no cache, no entry, a bad entry)."""
    base = cache_dir()
    if base is None:
        return None
    parts = read_entry(_entry_path(base, entry_key(file, raw)), lazy=1)
    if parts is None or len(parts) != 5 or parts[0] != FORMAT:
        return None
    _, data, diags, var_paths, positions = parts
    diagnostics, paths = diagnostics_from_data(diags), _var_paths(var_paths)
    if diagnostics is None or paths is None:
        return None
    return ParsedFile(file, data, positions=positions, diagnostics=diagnostics, var_paths=paths)


def parse(file: str, raw: bytes) -> ParsedFile:
    """`raw` parsed as `file`: from the cache, else parsed (and stored). ruamel.yaml is only
    imported for a file the cache lacks."""
    cached = load(file, raw)
    if cached is not None:
        return cached
    from ccc_dsl.manifest.yamlsafe import parse_yaml

    parsed = parse_yaml(file, raw)
    store(raw, parsed)
    return parsed


def has(file: str, raw: bytes) -> bool:
    """Whether an entry for `raw` as `file` exists (whether it is sound, `load` finds out)."""
    base = cache_dir()
    return base is not None and _entry_path(base, entry_key(file, raw)).is_file()


_helper_stores = False
"""True in a process whose prefetch helper runs (manifest/prefetch.py): the helper writes an
entry for every file, so this process skips encoding and writing its own (a quarter of what
parsing a file costs it)."""


def leave_stores_to_helper(on: bool) -> None:
    global _helper_stores
    _helper_stores = on


def store(raw: bytes, parsed: ParsedFile) -> None:
    base = cache_dir()
    if base is None or _helper_stores:
        return
    try:  # the position maps go last, so that loading can leave them undecoded
        blob = seal(FORMAT, parsed.data, diagnostics_to_data(parsed.diagnostics),
                    parsed.var_paths, parsed.positions_blob())
    except (ValueError, TypeError):  # something JSON can't hold: don't cache it
        return
    write_atomic(_entry_path(base, entry_key(parsed.file, raw)), blob)


@lru_cache(maxsize=1)
def _phonenumbers_version() -> str:
    """The installed phonenumbers' version, read from its `__init__.py` (where the package
    declares it) rather than by importing it: the import takes 15 ms, and a compile whose phone
    facts all come from this cache needs nothing else of it."""
    spec = importlib.util.find_spec("phonenumbers")
    found = None
    if spec is not None and spec.origin is not None:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            found = re.search(r'^__version__ = "([^"]+)"$', Path(spec.origin).read_text("utf-8"),
                              re.MULTILINE)
    if found is None:  # another layout: ask the package itself
        import phonenumbers

        return str(phonenumbers.__version__)
    return found.group(1)


def _phones_path(base: Path) -> Path:
    return base / f"phones-{FORMAT}-{_phonenumbers_version()}.json"


def _is_phone_fact(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)
        and isinstance(value[1], bool) and isinstance(value[2], str))


def load_phones() -> dict[str, Any]:
    """Memoized phone-number facts (valid for this phonenumbers version's metadata); only the
    entries of the right shape."""
    base = cache_dir()
    if base is None:
        return {}
    parts = read_entry(_phones_path(base))
    memo = parts[0] if parts is not None and len(parts) == 1 else None
    if not isinstance(memo, dict):
        return {}
    return {key: tuple(value) if isinstance(value, list) else value
            for key, value in memo.items() if "\0" in key and _is_phone_fact(value)}


def store_phones(memo: dict[str, Any]) -> None:
    """Write the memo file when it lacks some of `memo` (atomically; failures are ignored)."""
    base = cache_dir()
    if base is None:
        return
    stored = load_phones()
    if memo.keys() <= stored.keys():
        return
    try:
        blob = seal({**stored, **memo})
    except (ValueError, TypeError):
        return
    write_atomic(_phones_path(base), blob)
