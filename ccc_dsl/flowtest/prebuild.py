"""`ccc test -n N` (N >= 2): the repo is built on a second core while this process reads the
test files.

A cold run's start-up is two independent jobs one after the other: building the repo's bundle
(the compiler's imports and analyses, and the phone number geocoder its outbound checks load)
and reading the test files (YAML, validation). `start` forks a helper that builds the bundle
into the build cache (`pipeline.cached_bundle`) while this process reads the test files; after
`join`, this process takes the bundle from the cache, or builds it itself when the helper left
nothing there (it died, or was slow to start). The helper only fills the cache, whose entries
are keyed by every input and checked on load, so the bundle, and the run, are the same with or
without it. It runs only where it pays and is safe: a second core, the cache on and no build of
the repo as it is in it yet (a kept build takes this process a few milliseconds), and no other
thread in this process (forking one that has threads is unsafe).

While the helper still builds, `join` imports the geocoder here too: the calls need it as
soon as one transfers to an outside number (the outbound guard asks for the number's region),
and this core would otherwise wait idle. `ccc test` forks it first thing (`start_early`), so
that its own imports of the interpreter and the test file model overlap the build.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from pathlib import Path

from ccc_dsl.cache import cache_dir, repo_snapshot
from ccc_dsl.commands.common import repo_path
from ccc_dsl.compiler.cache import build_key, has_build
from ccc_dsl.pipeline import find_repo_root
from ccc_dsl.util import cores, fork_helper

_early: tuple[Path, str | None, int] | None = None
"""The helper `start_early` forked: (the repo root, the environment, its pid)."""


def _safe_to_fork() -> bool:
    threading = sys.modules.get("threading")
    return (hasattr(os, "fork") and cores() >= 2 and cache_dir() is not None
            and (threading is None or threading.active_count() == 1))


def start(root: Path, env: str | None) -> int | None:
    """Fork the helper that builds the bundle of the repo at `root` into the build cache (its
    pid), or None when it would not pay or is not safe; the one `start_early` forked for this
    repo, if it did."""
    global _early
    if _early is not None:
        early, _early = _early, None
        if early[:2] == (root, env):
            return early[2]
        _reap(early[2])
    if not _safe_to_fork() or has_build(build_key(root, env, repo_snapshot(root))):
        return None
    from ccc_dsl.pipeline import cached_bundle

    return fork_helper(lambda: cached_bundle(root, env))


def start_early(path: Path, env: str | None) -> None:
    """Fork the helper for the repo `ccc test PATH` will run, before the caller imports the
    test machinery; `start` hands it over."""
    global _early
    if find_repo_root(path) is None:
        return  # runner.discover reports it
    root = repo_path(path if path.is_dir() else path.parent)  # as runner.discover spells it
    pid = start(root, env)
    if pid is not None:
        _early = root, env, pid


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, InterruptedError):
        os.waitpid(pid, 0)


def join(pid: int) -> None:
    """Wait for the helper to finish; meanwhile import the geocoder the calls will need."""
    with contextlib.suppress(ChildProcessError, InterruptedError):
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            return
        importlib.import_module("phonenumbers.geocoder")
        os.waitpid(pid, 0)
