"""The local target: a runtime directory on this machine (docs/runtime.md).

Deploy installs the bundle under `bundles/<digest>/` (written whole, or left as it is when it is
already there whole), then switches `current` to it atomically, then asks a running `ccc serve`
to reload: SIGHUP to the pid in `serve.pid` when that file names a live ccc process. The switch
alone is enough: the runtime also notices a changed `current` by itself, and calls in progress
finish on the bundle they started on. Last, old bundles are pruned: `current`, the bundle it
replaced (calls in progress may still play its prompts) and the `keep_bundles` newest others
stay.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Mapping
from pathlib import Path

from ccc_runtime.bundle import BundleError
from ccc_runtime.rundir import RuntimeDir

from ccc_dsl.deploy.targets.base import (
    LOCAL_HOST,
    REFRESH_FILES,
    SERVE_PID_FILE,
    HostResult,
    HostStatus,
    Progress,
)

MAX_REFRESH_BYTES = 64 * 1024 * 1024
HOST = LOCAL_HOST


class LocalTarget:
    """A runtime directory on this machine; one host, called `local`."""

    def __init__(self, path: Path, name: str = "local", keep_bundles: int = 3) -> None:
        self.name = name
        self.rundir = RuntimeDir(path)
        self.keep_bundles = keep_bundles

    @property
    def hosts(self) -> list[str]:
        return [HOST]

    async def refresh(self) -> list[HostStatus]:
        digest = self.rundir.current()
        if digest is None:
            return [HostStatus(HOST, None, {})]
        folder = self.rundir.bundle_path(digest)
        files: dict[str, bytes] = {}
        for name in REFRESH_FILES:
            try:
                with open(folder / name, "rb") as handle:
                    files[name] = handle.read(MAX_REFRESH_BYTES)
            except FileNotFoundError:
                continue
            except OSError as exc:
                return [HostStatus(HOST, digest, files, f"can't read {name}: {exc.strerror}")]
        return [HostStatus(HOST, digest, files)]

    async def deploy(self, files: Mapping[str, bytes], digest: str,
                     progress: Progress | None = None) -> list[HostResult]:
        say = progress or (lambda host, message: None)
        running = self.rundir.current()
        try:
            say(HOST, f"installing bundle {digest[:12]} in {self.rundir.path}")
            uploaded = 0 if self.rundir.has(digest) else len(files)
            installed = self.rundir.install(files)
            if installed != digest:
                raise ValueError(f"the files have digest {installed}, not {digest}")
            say(HOST, f"switching current to {digest[:12]}")
            self.rundir.activate(digest)
        except (OSError, ValueError, BundleError) as exc:
            say(HOST, f"failed: {_one_line(exc)}")
            return [HostResult(HOST, self.rundir.current() or running, _one_line(exc))]
        if notify_serve(self.rundir.path):
            say(HOST, "asked ccc serve to reload")
        protect = {running} if running is not None else set()
        try:
            pruned = tuple(self.rundir.prune(self.keep_bundles, protect))
        except OSError as exc:  # the deploy is done; an old bundle left over harms nothing
            say(HOST, f"could not prune old bundles: {_one_line(exc)}")
            pruned = ()
        if pruned:
            say(HOST, f"pruned {len(pruned)} old bundle(s)")
        say(HOST, f"done: runs {digest[:12]}")
        return [HostResult(HOST, digest, uploaded=uploaded, pruned=pruned)]

    async def destroy(self, progress: Progress | None = None) -> list[HostResult]:
        say = progress or (lambda host, message: None)
        try:
            say(HOST, f"removing current in {self.rundir.path}")
            self.rundir.deactivate()
        except OSError as exc:
            say(HOST, f"failed: {_one_line(exc)}")
            return [HostResult(HOST, self.rundir.current(), _one_line(exc))]
        notify_serve(self.rundir.path)
        say(HOST, "done: runs nothing")
        return [HostResult(HOST, None)]


def _one_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def notify_serve(rundir: Path) -> bool:
    """SIGHUP the `ccc serve` whose pid is in `serve.pid`, if it is alive and is ccc (a stale
    pid file must not signal another program). Best effort: True when signalled."""
    try:
        pid = int((rundir / SERVE_PID_FILE).read_text(encoding="ascii")[:32].strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()[:4096]
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    if pid <= 1 or b"ccc" not in cmdline:
        return False
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGHUP)
        return True
    return False
