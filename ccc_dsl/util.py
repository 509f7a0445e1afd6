"""Small helpers that every stage shares (and that belong to no stage)."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import re
from collections.abc import Callable, Iterator
from json.encoder import encode_basestring as _quote
from pathlib import Path
from typing import Any

SECRET_WORDS = re.compile(r"pass|pwd|token|secret|auth|cookie|api[-_]?key|credential",
                          re.IGNORECASE)
"""Words that mark a YAML key, tag or line as one that may hold a secret: such a line is never
shown in a diagnostic's excerpt, nor its value in a message (docs/security.md)."""


def did_you_mean(word: str, choices: list[str] | set[str]) -> str | None:
    """A hint naming the closest choice, if any is close."""
    from difflib import get_close_matches  # imported when needed: a warm `ccc plan` never is

    close = get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector: building a big repo's model, bundle or plan
    makes millions of small objects and no cycles worth collecting, and every collection
    would rescan all of them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextlib.contextmanager
def paused_gc_for_good() -> Iterator[None]:
    """`paused_gc` for a one-shot command (`ccc compile`), which then exits: what it made is
    frozen (`gc.freeze`) when it ends, since it lives until the process does and every
    collection after the pause would rescan it (on a cold compile of 2,009 flows 0.3 s of 5.3 s
    CPU went to collections that found nothing). Not for a long-lived process such as the
    language server: a frozen cycle is never collected."""
    with paused_gc():
        try:
            yield
        finally:
            gc.freeze()


class _Unusual(Exception):
    """A value `json_indented`'s fast path leaves to the json module (a key that is not a str,
    a subclass of dict or list, a type JSON has no form for)."""


def json_indented(doc: Any) -> str:
    """`json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False)`, the same text: with an
    indent the json module takes its pure-Python encoder, which spent 0.06-0.08 s on a
    10,000-resource bundle.json (a cold `ccc plan`'s); this walks plain dicts, lists and
    scalars with the C string quoting and hands anything else to json.dumps."""
    try:
        return _indented(doc, "")
    except (_Unusual, RecursionError, TypeError):  # json.dumps words the error, if any
        return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False)


def _indented(value: Any, indent: str) -> str:
    kind = type(value)
    if kind is dict:
        if not value:
            return "{}"
        inner = indent + "  "
        parts = []
        for key, item in sorted(value.items()):  # as json's sort_keys: the items sorted
            if type(key) is not str:
                raise _Unusual
            of = type(item)
            parts.append(_quote(key) + ": " + (
                _quote(item) if of is str
                else _indented(item, inner) if of is dict or of is list else _scalar(item)))
        return "{\n" + inner + (",\n" + inner).join(parts) + "\n" + indent + "}"
    if kind is list or kind is tuple:
        if not value:
            return "[]"
        inner = indent + "  "
        return "[\n" + inner + (",\n" + inner).join(
            [_quote(item) if type(item) is str else _indented(item, inner) for item in value]
        ) + "\n" + indent + "]"
    if isinstance(value, dict | list | tuple):
        raise _Unusual
    return _scalar(value)


def _scalar(value: Any) -> str:
    """A scalar as json's encoder writes it (its order of checks, its float words)."""
    if isinstance(value, str):
        return _quote(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return float.__repr__(value)
    raise _Unusual


def fork_helper(task: Callable[[], object]) -> int | None:
    """Fork a helper process that runs `task` in the background and exits 0: its standard
    streams on /dev/null and what it inherited frozen for the collector (never garbage: don't
    scan or copy it), so nothing it does reaches the caller's output or exit code. Its pid, or
    None when the system can't fork."""
    try:
        pid = os.fork()
    except OSError:
        return None
    if pid == 0:
        try:
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            gc.freeze()
            task()
        finally:
            os._exit(0)
    return pid


def cores() -> int:
    """The cores this process may run on (1 when unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def write_file_atomic(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Replace `path` with `data` as a whole: a temp file in the same folder, fsynced, renamed
    over it (a kill leaves the old file or the new one, never half of one); an existing file
    keeps its mode. `durable=False` skips the fsyncs (caches: atomic is enough). OSError if it
    can't be written."""
    import tempfile  # with shutil and random: not on the paths that write nothing

    path = path.resolve() if path.is_symlink() else path  # write the file, keep the link
    try:
        mode: int | None = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.chmod(tmp, mode if mode is not None else 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if not durable:
        return
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
