"""Small helpers that every stage shares (and that belong to no stage)."""

from __future__ import annotations

import contextlib
import gc
import os
import re
from collections.abc import Iterator
from pathlib import Path

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
