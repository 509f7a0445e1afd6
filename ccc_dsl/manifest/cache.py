"""A cache of parsed YAML files, keyed by a hash of the file's name and bytes.

Composing YAML is the slow part of `ccc validate` on a large repo; the parsed form (plain data,
position maps, diagnostics) is plain Python and marshals quickly. It lives in ccc's cache folder
(ccc_dsl/cache.py), outside the config repo; a damaged entry is ignored.
"""

from __future__ import annotations

import hashlib
import marshal
from pathlib import Path
from typing import Any

from ccc_dsl.cache import cache_dir, diagnostics_from_data, diagnostics_to_data, write_atomic
from ccc_dsl.manifest.yamlsafe import ParsedFile

FORMAT = 4
"""Bump when the parsed form or the YAML rules change, so old entries are not reused."""


def entry_key(file: str, raw: bytes) -> str:
    digest = hashlib.blake2b(raw, digest_size=20)
    digest.update(b"\0" + file.encode("utf-8", "surrogateescape") + f"\0{FORMAT}".encode())
    return digest.hexdigest()


def _entry_path(base: Path, key: str) -> Path:
    return base / "yaml" / key[:2] / f"{key}.marshal"


def load(file: str, raw: bytes) -> ParsedFile | None:
    base = cache_dir()
    if base is None:
        return None
    try:
        blob = _entry_path(base, entry_key(file, raw)).read_bytes()
        fmt, data, positions, diags, var_paths = marshal.loads(blob)
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if fmt != FORMAT:
        return None
    parsed = ParsedFile(file, data, positions=positions, var_paths=var_paths)
    parsed.diagnostics.extend(diagnostics_from_data(diags))
    return parsed


def store(raw: bytes, parsed: ParsedFile) -> None:
    base = cache_dir()
    if base is None:
        return
    try:
        blob = marshal.dumps((FORMAT, parsed.data, parsed.positions_blob(),
                              diagnostics_to_data(parsed.diagnostics), parsed.var_paths))
    except ValueError:  # something marshal can't hold: don't cache it
        return
    write_atomic(_entry_path(base, entry_key(parsed.file, raw)), blob)


def _phones_path(base: Path) -> Path:
    import phonenumbers

    return base / f"phones-{FORMAT}-{phonenumbers.__version__}.marshal"


def load_phones() -> dict[str, Any]:
    """Memoized phone-number facts (valid for this phonenumbers version's metadata)."""
    base = cache_dir()
    if base is None:
        return {}
    try:
        memo = marshal.loads(_phones_path(base).read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return {}
    return memo if isinstance(memo, dict) else {}


def store_phones(memo: dict[str, Any]) -> None:
    """Write the memo file when it lacks some of `memo` (atomically; failures are ignored)."""
    base = cache_dir()
    if base is None:
        return
    stored = load_phones()
    if memo.keys() <= stored.keys():
        return
    try:
        blob = marshal.dumps({**stored, **memo})
    except ValueError:
        return
    write_atomic(_phones_path(base), blob)
