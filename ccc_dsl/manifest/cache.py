"""A cache of parsed YAML files, keyed by a hash of the file's name and bytes.

Composing YAML is the slow part of `ccc validate` on a large repo; the parsed form (plain data,
position maps, diagnostics) is plain Python and marshals quickly. The cache lives outside the
config repo (`$CCC_CACHE_DIR`, else `$XDG_CACHE_HOME/ccc-dsl`, else `~/.cache/ccc-dsl`) so it
never shows up in `git status`; `CCC_NO_CACHE=1` turns it off. A damaged entry is ignored.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import tempfile
from pathlib import Path
from typing import Any

from ccc_dsl.diagnostics import Diagnostic, Severity, Span
from ccc_dsl.manifest.yamlsafe import ParsedFile

FORMAT = 3
"""Bump when the parsed form or the YAML rules change, so old entries are not reused."""


def cache_dir() -> Path | None:
    if os.environ.get("CCC_NO_CACHE"):
        return None
    explicit = os.environ.get("CCC_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ccc-dsl"


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
    for severity, code, message, span, hint in diags:
        parsed.diagnostics.append(Diagnostic(Severity(severity), code, message,
                                             Span(*span) if span else None, hint))
    return parsed


def store(raw: bytes, parsed: ParsedFile) -> None:
    """Write an entry atomically (temp file + rename); a read-only cache is not an error."""
    base = cache_dir()
    if base is None:
        return
    diags: list[tuple[Any, ...]] = [
        (str(d.severity), d.code, d.message,
         (d.span.file, d.span.line, d.span.column, d.span.end_line, d.span.end_column)
         if d.span else None, d.hint)
        for d in parsed.diagnostics
    ]
    target = _entry_path(base, entry_key(parsed.file, raw))
    try:
        blob = marshal.dumps((FORMAT, parsed.data, parsed.positions_blob(), diags,
                              parsed.var_paths))
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as out:
            out.write(blob)
        os.replace(tmp, target)
    except (OSError, ValueError):
        return


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
    memo = {**stored, **memo}
    target = _phones_path(base)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as out:
            out.write(marshal.dumps(memo))
        os.replace(tmp, target)
    except (OSError, ValueError):
        return
