"""Parse a large repo's YAML files on a second core while this process does the rest.

Composing the YAML of a big repo (1.1 MB in 100 files for 10,000 resources) is most of a cold
`ccc validate` or `ccc plan`, and it is one file after another on one core. `running()` forks a
helper process that parses the included files from the last one backwards into the per-file
cache (manifest/cache.py) while this process imports the compiler and then reads the files
from the first one forwards: every file it finds cached (the helper got there first) is
loaded instead of parsed. The two meet in the middle: the helper stops at the first file it
finds cached.

Nothing depends on the helper: it only fills the cache, whose entries are keyed by each file's
path and bytes and checked on load, so the results are the same with or without it, in the
same order; if it dies or is slow, this process parses what is missing itself. It is started
only where it pays: a second core, no other thread in this process (forking one that has
threads is unsafe), and at least PREFETCH_MIN_BYTES of YAML; and only by callers that have
the cache on (they found no result in it), since the cache is how the two share work.
"""

from __future__ import annotations

import contextlib
import gc
import os
import select
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from ccc_dsl.util import cores

Snapshot = Sequence[tuple[str, bytes, bytes | None]]
"""ccc_dsl.cache.Snapshot: (path, identity, content) of every entry under the root."""

PREFETCH_MIN_BYTES = 256 * 1024
"""Below this much YAML under the root the helper costs more than it saves (it imports the
loader, about 0.3 s of CPU, before it parses anything)."""

_helper: tuple[int, int] | None = None
"""(pid, the write end of its stop pipe) of the running helper, in the process that forked it."""


def _worth_it(snapshot: Snapshot) -> bool:
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        return False
    if not hasattr(os, "fork") or cores() < 2:
        return False
    size = sum(len(data) for path, _, data in snapshot
               if data is not None and path.endswith((".yaml", ".yml")))
    return size >= PREFETCH_MIN_BYTES


def _helper_main(root: Path, env: str | None, stop: int) -> None:
    """In the helper: parse the included files, last first, until one is cached already
    (the loader got there), or the caller is done."""
    from ccc_dsl.manifest.loader import included_files, parse_ahead

    for path in reversed(included_files(root, env)):
        if select.select([stop], [], [], 0)[0] or not parse_ahead(path):
            return


def start(root: Path, env: str | None, snapshot: Snapshot) -> None:
    """Fork the helper for the repo at `root` (as `load_repo(root, env)` will read it), when it
    pays (see the module's docstring); `snapshot` is the repo as its cache key read it."""
    global _helper
    if _helper is not None or not _worth_it(snapshot):
        return
    stop_read, stop_write = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(stop_read)
        os.close(stop_write)
        return
    if pid == 0:  # the helper: nothing it does may reach the caller's output or exit code
        try:
            os.close(stop_write)
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            gc.freeze()  # what it inherited is never garbage: don't scan (or copy) it
            _helper_main(root, env, stop_read)
        finally:
            os._exit(0)
    os.close(stop_read)
    _helper = (pid, stop_write)


def finish() -> None:
    """Stop the helper, if one runs, and wait for it (it stops between two files)."""
    global _helper
    if _helper is None:
        return
    pid, stop_write = _helper
    _helper = None
    os.close(stop_write)
    with contextlib.suppress(ChildProcessError, InterruptedError):
        os.waitpid(pid, 0)


@contextlib.contextmanager
def running(root: Path, env: str | None, snapshot: Snapshot) -> Iterator[None]:
    """The helper runs (when it pays) during the block, and is gone after it."""
    start(root, env, snapshot)
    try:
        yield
    finally:
        finish()
