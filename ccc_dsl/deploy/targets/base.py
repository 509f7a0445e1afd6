"""The target interface: what plan and apply ask of a place that runs bundles.

A target is one or more hosts, each with a runtime directory (docs/runtime.md). Refresh reads
what each host really runs (the small JSON files of its `current` bundle), so that a hand edit
shows as drift; deploy ships a bundle (only what a host lacks), switches `current` atomically
and asks the runtime there to reload; destroy removes `current`. A failure on one host is
reported for that host; the others are carried out and stay consistent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

REFRESH_FILES = ("bundle.json", "build.json", "manifest.json")
"""The files of the current bundle that refresh reads back."""
LOCAL_HOST = "local"
"""The one host of a local target."""
SERVE_PID_FILE = "serve.pid"
"""Where `ccc serve` may write its pid in a runtime directory (read for a reload signal)."""


@dataclass(frozen=True, slots=True)
class HostStatus:
    """What one host runs: the digest `current` points at (None: nothing deployed) and the
    REFRESH_FILES of that bundle; `error` when the host could not be read."""

    host: str
    digest: str | None
    files: Mapping[str, bytes]
    error: str | None = None


@dataclass(frozen=True, slots=True)
class HostResult:
    """What one host runs after a deploy or destroy; `error` when that host failed (then
    `digest` is what it still runs, as far as known)."""

    host: str
    digest: str | None
    error: str | None = None
    uploaded: int = 0
    """Files sent (a host that already had the bundle gets none)."""
    known: bool = True
    """False when the host could not be read at all (unreachable, login or host key refused):
    `digest` is then None and says nothing about what the host runs."""
    pruned: tuple[str, ...] = ()
    """Old bundles removed after the switch (`keep_bundles`)."""


Progress = Callable[[str, str], None]
"""progress(host, message): a step done on a host (for a progress display and the log)."""


class Target(Protocol):
    """A deploy target. Methods never raise for a host's failure: they report it."""

    name: str

    @property
    def hosts(self) -> list[str]: ...

    async def refresh(self) -> list[HostStatus]: ...

    async def deploy(self, files: Mapping[str, bytes], digest: str,
                     progress: Progress | None = None) -> list[HostResult]: ...

    async def destroy(self, progress: Progress | None = None) -> list[HostResult]: ...
