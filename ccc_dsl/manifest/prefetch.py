"""Parse a large repo's YAML files on a second core while this process does the rest.

Composing the YAML of a big repo (1.1 MB in 100 files for 10,000 resources) is most of a cold
`ccc validate` or `ccc plan`, and it is one file after another on one core. `running()` forks a
helper process that parses the repo's YAML files from the last one backwards into the
per-file cache (manifest/cache.py), straight from the bytes the cache key just read, while
this process imports the compiler and then reads the files from the first one forwards: every
file it finds cached (the helper got there first) is loaded instead of parsed. The two meet
in the middle. This process writes no entries while
the helper runs (`leave_stores_to_helper`): the helper goes on past the middle and writes the
entries of the files this process parsed itself, while this process validates and compiles.

Nothing depends on the helper: it only fills the cache, whose entries are keyed by each file's
path (spelt as the loader spells it) and bytes and checked on load, so the results are the
same with or without it, in the same order; if it dies or is slow, this process parses what
is missing itself. It takes every YAML file under the root rather than asking the loader which
are included (that would import pydantic first): a file no pattern includes is parsed for
nothing, on the other core. It is started
only where it pays: a second core, no other thread in this process (forking one that has
threads is unsafe), and at least PREFETCH_MIN_BYTES of YAML; and only by callers that have
the cache on (they found no result in it), since the cache is how the two share work.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from ccc_dsl.manifest import cache
from ccc_dsl.manifest.parsed import MAX_FILE_BYTES
from ccc_dsl.manifest.yamlsafe import parse_yaml
from ccc_dsl.util import cores, fork_helper

Snapshot = Sequence[tuple[str, bytes, bytes | None]]
"""ccc_dsl.cache.Snapshot: (path, identity, content) of every entry under the root."""

PREFETCH_MIN_BYTES = 256 * 1024
"""Below this much YAML under the root parsing it takes a few tens of milliseconds: not worth a
process (and a test suite runs many commands on small repos)."""

_helper: tuple[int, int] | None = None
"""(pid, the write end of its stop pipe) of the running helper, in the process that forked it."""


def _worth_it(snapshot: Snapshot) -> bool:
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        return False
    if not hasattr(os, "fork") or cores() < 2:
        return False
    return sum(len(data) for _, _, data in _yaml_files(snapshot)) >= PREFETCH_MIN_BYTES


def _yaml_files(snapshot: Snapshot) -> list[tuple[str, bytes, bytes]]:
    return [(path, identity, data) for path, identity, data in snapshot
            if data is not None and path.endswith((".yaml", ".yml"))]


def _helper_main(snapshot: Snapshot, stop: int) -> None:
    """In the helper: parse every YAML file of `snapshot` that is not cached yet into the
    cache, last first, until done or the caller is."""
    for path, _, data in sorted(_yaml_files(snapshot), reverse=True):
        if select.select([stop], [], [], 0)[0]:
            return
        file = str(Path(path))  # as the loader spells it: root / relative path
        raw = data[:MAX_FILE_BYTES + 1]  # as much as it reads
        if not cache.has(file, raw):
            cache.store(raw, parse_yaml(file, raw))


def start(snapshot: Snapshot) -> None:
    """Fork the helper for the repo that `snapshot` read (ccc_dsl.cache.repo_snapshot, as the
    caller's cache key read it), when it pays (see the module's docstring)."""
    global _helper
    if _helper is not None or not _worth_it(snapshot):
        return
    stop_read, stop_write = os.pipe()

    def helper() -> None:
        os.close(stop_write)
        _helper_main(snapshot, stop_read)

    pid = fork_helper(helper)
    os.close(stop_read)
    if pid is None:
        os.close(stop_write)
        return
    _helper = (pid, stop_write)
    cache.leave_stores_to_helper(True)


def finish() -> None:
    """Stop the helper, if one runs, and wait for it (it stops between two files; entries
    it didn't write yet are written by the next run that parses those files)."""
    global _helper
    if _helper is None:
        return
    pid, stop_write = _helper
    _helper = None
    cache.leave_stores_to_helper(False)
    os.close(stop_write)
    with contextlib.suppress(ChildProcessError, InterruptedError):
        os.waitpid(pid, 0)


@contextlib.contextmanager
def running(snapshot: Snapshot) -> Iterator[None]:
    """The helper runs (when it pays) during the block, and is gone after it."""
    start(snapshot)
    try:
        yield
    finally:
        finish()
