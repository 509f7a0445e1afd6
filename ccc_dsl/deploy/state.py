"""The state: what ccc last deployed to an environment, as a versioned JSON document.

```
{"format_version": 1, "serial": 4, "lineage": "<uuid>", "env": "staging", "ccc_version": "...",
 "bundle_digest": "<the bundle the resources describe>",
 "hosts": {"local": {"digest": "<what that host runs>", "error": null, "time": "..."}},
 "resources": [{"address": "skill_group.sales", "attributes": {...}, "hashes": {...}, ...}]}
```
`lineage` is fixed when a state is first written and `serial` grows with every write, so a saved
plan can tell whether the state moved under it (stale plan). Secrets are never in a state: the
attributes hold references (`{"env": "NAME"}`) only.

The document is written with one resource per line, each in its canonical form (resources.py),
and the rest of the document on the first line. Loading splits the lines and decodes only the
resources that are read (a plan reads the ones whose line differs from the desired one); a
document in any other layout (hand-formatted, or written by an older ccc) is decoded whole.

Backends (`StateBackend`) load, write, lock and unlock; the local file is the default. It writes
atomically (temp file, fsync, rename, fsync of the folder), keeps the previous state as
`<file>.backup`, and locks with `<file>.lock` (owner, pid, host, time, id). The interface is
what a PostgreSQL backend with advisory locks needs too: callers only see `lock()` returning a
`LockInfo` and `unlock(id)`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ccc_dsl import __version__
from ccc_dsl.deploy.resources import Resource, Resources, lines_by_address

FORMAT_VERSION = 1
MAX_STATE_BYTES = 256 * 1024 * 1024
"""A state file larger than this is refused (hostile or broken input is bounded)."""


class StateError(Exception):
    """The state can't be read or written; the message says why and what to do."""


class LockError(StateError):
    """The state is locked by someone else; `info` says who."""

    def __init__(self, message: str, info: LockInfo | None) -> None:
        super().__init__(message)
        self.info = info


def now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass
class HostRecord:
    """What one host of the target runs, as far as the last apply or destroy knows."""

    digest: str | None
    time: str
    error: str | None = None
    known: bool = True
    """False when the last operation could not read the host (unreachable, a refused login or
    host key): `digest` is then the last digest known, not necessarily what it runs."""


_HEAD_END = b',"resources":['
_TAIL = b"\n]}\n"


@dataclass
class State:
    lineage: str
    serial: int
    env: str | None
    bundle_digest: str | None = None
    hosts: dict[str, HostRecord] = field(default_factory=dict)
    resources: Resources = field(default_factory=Resources)
    ccc_version: str = __version__

    @classmethod
    def new(cls, env: str | None) -> State:
        """An empty state with a new lineage (serial 0: never written)."""
        return cls(str(uuid.uuid4()), 0, env)

    def _head(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION, "serial": self.serial, "lineage": self.lineage,
            "env": self.env, "ccc_version": self.ccc_version,
            "bundle_digest": self.bundle_digest,
            "hosts": {h: {"digest": r.digest, "time": r.time, "error": r.error,
                          "known": r.known} for h, r in sorted(self.hosts.items())},
        }

    def to_bytes(self) -> bytes:
        """The document: the head on the first line, then one canonical resource a line."""
        head = json.dumps(self._head(), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False).encode("utf-8")
        lines = [self.resources.line(addr) for addr in sorted(self.resources)]
        return head[:-1] + _HEAD_END + b"\n" + b",\n".join(lines) + _TAIL

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> State:
        """A state document; StateError when it is not one."""
        fast = _split_lines(data)
        if fast is not None:
            head, lines = fast
            return cls._from_parts(head, lines, where)
        try:
            doc = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise StateError(f"{where}: the state is not valid JSON ({exc}); restore its "
                             ".backup if that is intact") from None
        if not isinstance(doc, dict):
            raise StateError(f"{where}: not a state (expected a JSON object)")
        try:
            objects = [Resource.from_json(r) for r in doc.get("resources", ())]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StateError(f"{where}: not a valid state ({exc})") from None
        return cls._from_parts(doc, Resources(objects=objects), where)

    @classmethod
    def _from_parts(cls, doc: dict[str, Any], resources: Resources, where: str) -> State:
        version = doc.get("format_version")
        if version != FORMAT_VERSION:
            raise StateError(f"{where}: state format {version!r}; this ccc reads format "
                             f"{FORMAT_VERSION} (upgrade ccc, or restore the .backup)")
        try:
            if "resources" in doc and not isinstance(doc["resources"], list):
                raise TypeError("resources")
            hosts = {str(h): HostRecord(r.get("digest"), str(r.get("time", "")), r.get("error"),
                                        bool(r.get("known", True)))
                     for h, r in dict(doc.get("hosts", {})).items()}
            serial = doc["serial"]
            if not isinstance(serial, int) or isinstance(serial, bool) or serial < 0:
                raise TypeError("serial")
            return cls(str(doc["lineage"]), serial, doc.get("env"), doc.get("bundle_digest"),
                       hosts, resources, str(doc.get("ccc_version", "")))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StateError(f"{where}: not a valid state ({exc})") from None


def _split_lines(data: bytes) -> tuple[dict[str, Any], Resources] | None:
    """(head, resources as lines) of a document in State.to_bytes's layout; None for any
    other layout (the caller then decodes it whole). A resource line is only decoded when it
    is read, and then checked (Resources raises ResourceError naming it)."""
    first = data.find(b"\n")
    if first < 0 or not data.startswith(_HEAD_END, first - len(_HEAD_END)) \
            or not data.endswith(_TAIL):
        return None
    try:
        head = json.loads(data[:first - len(_HEAD_END)] + b"}")
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(head, dict):
        return None
    body = data[first + 1:len(data) - len(_TAIL)]
    by_address = lines_by_address(body.split(b",\n")) if body else {}
    if by_address is None:
        return None
    return head, Resources(by_address)


@dataclass(frozen=True)
class LockInfo:
    """Who holds a state's lock (Terraform's lock info, in short)."""

    id: str
    operation: str
    owner: str
    pid: int
    host: str
    time: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "operation": self.operation, "owner": self.owner,
                "pid": self.pid, "host": self.host, "time": self.time}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> LockInfo:
        return cls(str(doc["id"]), str(doc.get("operation", "")), str(doc.get("owner", "")),
                   int(doc.get("pid", 0)), str(doc.get("host", "")), str(doc.get("time", "")))

    def describe(self) -> str:
        return (f"lock {self.id}: {self.operation} by {self.owner} (pid {self.pid} on "
                f"{self.host}) since {self.time}")


class StateBackend(Protocol):
    """Where an environment's state lives. Every method may raise StateError."""

    @property
    def location(self) -> str:
        """For messages: where the state is (a path, a database table)."""
        ...

    def load(self) -> State | None:
        """The current state, or None when none was written yet."""
        ...

    def load_backup(self) -> State | None:
        """The state before the last write, if kept."""
        ...

    def write(self, state: State) -> None:
        """Replace the state as a whole (atomic: a crash leaves the old or the new one)."""
        ...

    def lock(self, operation: str) -> LockInfo:
        """Take the lock; LockError (with who holds it) when someone else does."""
        ...

    def unlock(self, lock_id: str) -> None:
        """Release the lock with this id (also how `ccc state unlock ID` forces it)."""
        ...

    def lock_info(self) -> LockInfo | None:
        ...


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp.{os.getpid()}")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalBackend:
    """The state as a local JSON file, with `.backup` and `.lock` files beside it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.backup_path = path.with_name(path.name + ".backup")
        self.lock_path = path.with_name(path.name + ".lock")

    @property
    def location(self) -> str:
        return str(self.path)

    def _read(self, path: Path) -> State | None:
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_STATE_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"{path}: can't read the state: {exc.strerror or exc}") from None
        if len(data) > MAX_STATE_BYTES:
            raise StateError(f"{path}: the state is larger than {MAX_STATE_BYTES} bytes")
        return State.from_bytes(data, str(path))

    def load(self) -> State | None:
        return self._read(self.path)

    def load_backup(self) -> State | None:
        return self._read(self.backup_path)

    def write(self, state: State) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                _write_atomic(self.backup_path, self.path.read_bytes())
            _write_atomic(self.path, state.to_bytes())
            _fsync_dir(self.path.parent)
        except OSError as exc:
            raise StateError(f"{self.path}: can't write the state: {exc.strerror or exc}") \
                from None

    def lock_info(self) -> LockInfo | None:
        try:
            raw = self.lock_path.read_bytes()[:65536]
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"{self.lock_path}: can't read the lock: {exc.strerror}") from None
        try:
            return LockInfo.from_json(json.loads(raw))
        except (ValueError, KeyError, TypeError):
            # Written half when a process died between create and write: nobody holds it.
            return LockInfo("unknown", "", "", 0, _host(), "")

    def lock(self, operation: str) -> LockInfo:
        info = LockInfo(str(uuid.uuid4()), operation, _owner(), os.getpid(), _host(), now())
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"{self.path.parent}: can't create: {exc.strerror}") from None
        for _ in range(2):
            try:
                fd = os.open(self.lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                held = self.lock_info()
                if held is not None and held.host == info.host and not _pid_alive(held.pid):
                    # Its process died on this host (a crash, a kill -9): take it over.
                    with contextlib.suppress(FileNotFoundError):
                        self.lock_path.unlink()
                    continue
                raise LockError(f"the state {self.path} is locked: "
                                f"{held.describe() if held else 'by someone'}", held) from None
            except OSError as exc:
                raise StateError(f"{self.lock_path}: can't lock: {exc.strerror}") from None
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(info.to_json(), handle)
                handle.flush()
                os.fsync(handle.fileno())
            return info
        raise LockError(f"the state {self.path} is locked and could not be taken over", None)

    def unlock(self, lock_id: str) -> None:
        held = self.lock_info()
        if held is None:
            raise StateError(f"the state {self.path} is not locked")
        if held.id != lock_id:
            raise LockError(f"the state's lock has id {held.id}, not {lock_id}", held)
        with contextlib.suppress(FileNotFoundError):
            self.lock_path.unlink()


def _host() -> str:
    import socket  # only to lock: a plan without refresh doesn't

    return socket.gethostname()


def _owner() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def state_path(root: Path, env: str | None, configured: str | None) -> Path:
    """Where an environment's state file lives: the target's `state:` setting (relative to the
    repo root) or `<repo>/.ccc/state/<env>.json`."""
    if configured:
        path = Path(configured).expanduser()
        return path if path.is_absolute() else root / path
    return root / ".ccc" / "state" / f"{env or 'default'}.json"
