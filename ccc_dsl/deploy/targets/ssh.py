"""The ssh target: runtime directories on one or more hosts, reached with asyncssh over SFTP.

Each host is handled on its own, all in parallel; a host's failure becomes its
`HostResult.error` (one line) and never stops the others. A deploy to one host:

1. connect with known_hosts checking always on: an unknown or changed host key aborts that host
   with a message that says which (the key is never accepted automatically);
2. read what the host has: `current`, and the manifests of the bundles already there;
3. unless `bundles/<digest>` is already there whole, build it in a staging folder
   `bundles/.ccc-staging.<digest>.<rand>/`: a file whose content some bundle on the host already
   holds is hard-linked from it (bundles never change once written), only the rest is uploaded;
   then the staging folder is renamed to `bundles/<digest>`;
4. create a new symlink and rename it over `current` (SFTP posix-rename, or `mv -T`);
5. ask `ccc serve` there to reload (SIGHUP to the pid in `serve.pid`, when /proc says that pid
   is ccc), best effort: the switch of `current` alone is enough, the runtime also checks it
   on its own;
6. prune old bundles: `current`, the bundle it replaced and the `keep_bundles` newest others
   stay (best effort too: a bundle left over harms nothing).

A crash or a cut connection at any step leaves the old `current` or the new one, each pointing
at a whole bundle; a leftover staging folder is removed by the next deploy of that bundle.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import hashlib
import json
import os
import posixpath
import secrets
import shlex
import stat
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import asyncssh
from ccc_runtime.digest import MANIFEST_FILE, bundle_digest
from ccc_runtime.rundir import (  # one layout: the names RuntimeDir itself uses
    _DIGEST,
    _OLD_PREFIX,
    _STAGING_PREFIX,
    BUNDLES,
    CURRENT,
    _safe_relative,
)

from ccc_dsl.deploy.targets.base import (
    REFRESH_FILES,
    SERVE_PID_FILE,
    HostResult,
    HostStatus,
    Progress,
)

MAX_REFRESH_FILE = 64 << 20
MAX_MANIFEST = 16 << 20
MAX_LISTING = 10_000
MAX_REUSED_BUNDLES = 16
"""Bounds on what a host sends back: a broken or hostile host can't exhaust memory or time."""
UPLOADS_AT_ONCE = 8
HOSTS_AT_ONCE = 16
"""Hosts worked on in parallel; the others wait their turn (their time limit starts then)."""


@dataclass(frozen=True, slots=True)
class SshHost:
    """One host of an ssh target: where to log in and its runtime directory (absolute, or
    relative to the login's home)."""

    host: str
    path: str
    user: str | None = None
    """None: the local user name, as ssh does."""
    port: int = 22

    @property
    def label(self) -> str:
        return self.host if self.port == 22 else f"{self.host}:{self.port}"


class _HostError(Exception):
    """A problem on one host, said in one line for that host's result."""


@dataclass
class _Job:
    """What is known about one host while an operation runs on it."""

    say: Callable[[str], None]
    step: str = "connecting"
    running: str | None = None
    known: bool = False
    """Whether `current` was read: until then `running` says nothing."""
    uploaded: int = 0
    pruned: tuple[str, ...] = ()

    def at(self, step: str) -> None:
        self.step = step
        self.say(step)


class SshTarget:
    """Runtime directories on hosts over SSH (see the module docstring for one deploy)."""

    def __init__(self, name: str, hosts: Sequence[SshHost], *,
                 known_hosts: Path | None = None, identity_file: Path | None = None,
                 connect_timeout: float = 15.0, host_timeout: float = 600.0,
                 keep_bundles: int = 3) -> None:
        if not hosts:
            raise ValueError("an ssh target needs at least one host")
        labels = [h.label for h in hosts]
        self.name = name
        self._hosts = list(hosts)
        self._labels = [lbl if labels.count(lbl) == 1 else f"{lbl}:{h.path}"
                        for lbl, h in zip(labels, hosts, strict=True)]
        self.known_hosts = (known_hosts if known_hosts is not None
                            else Path("~/.ssh/known_hosts").expanduser())
        self.identity_file = identity_file
        self.connect_timeout = connect_timeout
        self.host_timeout = host_timeout
        self.keep_bundles = keep_bundles

    @property
    def hosts(self) -> list[str]:
        return list(self._labels)

    # -- the three operations ------------------------------------------------------------

    async def refresh(self) -> list[HostStatus]:
        """What each host runs: the digest of `current` and its REFRESH_FILES."""
        slots = asyncio.Semaphore(HOSTS_AT_ONCE)
        return list(await asyncio.gather(*(
            self._refresh_one(host, label, slots) for host, label in self._pairs())))

    async def deploy(self, files: Mapping[str, bytes], digest: str,
                     progress: Progress | None = None) -> list[HostResult]:
        """Ship the bundle `files` (manifest.json among them) to every host and switch
        `current` to it there."""
        if not _DIGEST.fullmatch(digest) or bundle_digest(files) != digest:
            raise ValueError(f"{digest!r} is not the digest of these bundle files")
        bad = sorted(rel for rel in files if not _safe_relative(rel))
        if bad:
            raise ValueError(f"bundle paths outside the folder: {', '.join(bad)}")
        step = partial(_deploy, files=files, digest=digest, keep=self.keep_bundles)
        slots = asyncio.Semaphore(HOSTS_AT_ONCE)
        return list(await asyncio.gather(*(
            self._run(host, label, progress, step, slots) for host, label in self._pairs())))

    async def destroy(self, progress: Progress | None = None) -> list[HostResult]:
        """Remove `current` on every host (bundles stay, so a later deploy is quick)."""
        slots = asyncio.Semaphore(HOSTS_AT_ONCE)
        return list(await asyncio.gather(*(
            self._run(host, label, progress, _destroy, slots) for host, label in self._pairs())))

    # -- per host ------------------------------------------------------------------------

    def _pairs(self) -> list[tuple[SshHost, str]]:
        return list(zip(self._hosts, self._labels, strict=True))

    async def _run(self, host: SshHost, label: str, progress: Progress | None,
                   work: _Step, slots: asyncio.Semaphore) -> HostResult:
        """One operation on one host, in its own session and time limit; its failure becomes
        that host's result (a cancel, e.g. Ctrl-C, goes on up)."""
        job = _Job(partial(progress, label) if progress else (lambda _message: None))
        try:
            async with slots, asyncio.timeout(self.host_timeout):
                job.at("connecting")
                async with self._session(host) as (conn, sftp):
                    await work(_Remote(conn, sftp, host), job)
        except Exception as exc:
            message = await self._explain(exc, host, job)
            job.say(f"failed: {message}")
            return HostResult(label, job.running, error=message, uploaded=job.uploaded,
                              known=job.known)
        job.say("done: " + (f"runs {job.running[:12]}" if job.running else "runs nothing"))
        return HostResult(label, job.running, uploaded=job.uploaded, pruned=job.pruned)

    async def _refresh_one(self, host: SshHost, label: str,
                           slots: asyncio.Semaphore) -> HostStatus:
        job = _Job(lambda _message: None, step="reading current")
        try:
            async with (slots, asyncio.timeout(self.host_timeout),
                        self._session(host) as (conn, sftp)):
                remote = _Remote(conn, sftp, host)
                digest = await _read_current(remote)
                job.step = "reading the current bundle"
                files = {} if digest is None else await _read_refresh_files(remote, digest)
                return HostStatus(label, digest, files)
        except Exception as exc:
            return HostStatus(label, None, {}, error=await self._explain(exc, host, job))

    @contextlib.asynccontextmanager
    async def _session(self, host: SshHost) -> AsyncIterator[
            tuple[asyncssh.SSHClientConnection, asyncssh.SFTPClient]]:
        if not self.known_hosts.is_file():
            raise _HostError(f"known_hosts file {self.known_hosts} does not exist: host keys "
                             "are always checked; add the host's key there (ssh-keyscan)")
        keys: list[asyncssh.SSHKey] | None = None
        if self.identity_file is not None:
            try:
                keys = [asyncssh.read_private_key(str(self.identity_file))]
            except (OSError, asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else str(exc)
                raise _HostError(f"can't use identity file {self.identity_file}: "
                                 f"{reason}") from None
        conn = await asyncssh.connect(
            host.host, host.port, username=host.user if host.user is not None else (),
            known_hosts=str(self.known_hosts), client_keys=keys if keys is not None else (),
            agent_path=None if keys is not None else (), config=[], password_auth=False,
            kbdint_auth=False, preferred_auth="publickey",
            connect_timeout=self.connect_timeout, login_timeout=self.connect_timeout,
            keepalive_interval=15)
        try:
            async with conn.start_sftp_client() as sftp:
                yield conn, sftp
        finally:
            conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), 5)

    async def _explain(self, exc: BaseException, host: SshHost, job: _Job) -> str:
        """One line for a host's failure; never a secret (we hold none but the key file)."""
        while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
            exc = exc.exceptions[0]
        if isinstance(exc, _HostError):
            text = str(exc)
        elif isinstance(exc, asyncssh.HostKeyNotVerifiable):
            text = await self._host_key_problem(host)
        elif isinstance(exc, asyncssh.PermissionDenied):
            key = self.identity_file or "the default keys"
            text = (f"login refused for user {host.user or getpass.getuser()} with {key} "
                    "(is the public key in the host's authorized_keys?)")
        elif isinstance(exc, TimeoutError):
            text = f"timed out while {job.step}"
        elif isinstance(exc, asyncssh.SFTPError):
            text = f"{job.step}: {exc.reason or type(exc).__name__}"
        elif isinstance(exc, asyncssh.Error):
            text = f"ssh: {exc.reason}"
        elif isinstance(exc, OSError):
            reason = (os.strerror(exc.errno) if exc.errno and exc.errno > 0
                      else exc.strerror or type(exc).__name__)
            text = f"can't reach {host.host} port {host.port}: {reason}"
        else:
            text = f"{job.step}: {type(exc).__name__}: {exc}"
        return " ".join(text.split())

    async def _host_key_problem(self, host: SshHost) -> str:
        """Say plainly whether the host's key is unknown or has changed."""
        port = host.port if host.port != 22 else None
        try:
            entries = asyncssh.read_known_hosts(str(self.known_hosts))
            known = any(entries.match(host.host, host.host, port)[:2])
        except (OSError, ValueError):
            known = False
        offered = ""
        with contextlib.suppress(Exception):
            key = await asyncio.wait_for(
                asyncssh.get_server_host_key(host.host, host.port, config=[]),
                self.connect_timeout)
            if key is not None:
                offered = f" (it offers {key.get_fingerprint()})"
        where = f"[{host.host}]:{host.port}" if port else host.host
        if known:
            return (f"HOST KEY CHANGED for {host.label}{offered}: it does not match "
                    f"{self.known_hosts}; nothing was done on this host. Someone may be "
                    "intercepting the connection, or the host was re-installed: check the "
                    f"fingerprint, then replace its line (ssh-keygen -R '{where}' -f "
                    f"{self.known_hosts})")
        return (f"UNKNOWN HOST KEY for {host.label}{offered}: the host is not in "
                f"{self.known_hosts}; nothing was done on this host. Check the fingerprint, "
                f"then add it (ssh-keyscan -p {host.port} {host.host} >> {self.known_hosts})")


# -- the steps on one host ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Remote:
    """One host's open session: the connection (for commands) and its SFTP client."""

    conn: asyncssh.SSHClientConnection
    sftp: asyncssh.SFTPClient
    host: SshHost

    def path(self, *parts: str) -> str:
        return posixpath.join(self.host.path, *parts)


_Step = Callable[[_Remote, _Job], Awaitable[None]]


async def _deploy(remote: _Remote, job: _Job, *, files: Mapping[str, bytes],
                  digest: str, keep: int) -> None:
    job.step = "reading current"
    job.running = await _read_current(remote)
    job.known = True
    previous = job.running
    job.say("connected; runs " + (job.running[:12] if job.running else "nothing"))
    job.step = "creating the bundles folder"
    await remote.sftp.makedirs(remote.path(BUNDLES), exist_ok=True)
    hashes = {rel: hashlib.sha256(data).hexdigest() for rel, data in files.items()}
    if await _is_whole(remote, digest, files):
        job.at("the bundle is already on the host")
    else:
        await _upload(remote, job, files, hashes, digest)
    if job.running != digest:
        job.step = "switching current"
        await _switch(remote, f"{BUNDLES}/{digest}")
        job.running = digest
        job.at(f"switched current to {digest[:12]}")
        await _reload(remote, job)
    await _prune(remote, job, keep, {digest, *([previous] if previous else [])})


async def _prune(remote: _Remote, job: _Job, keep: int, protect: set[str]) -> None:
    """Remove old bundles: all but `protect` and the `keep` newest others (as
    RuntimeDir.prune does locally). Best effort: a failure is said and ignored."""
    job.step = "pruning old bundles"
    try:
        entries = [n for n in await _listing(remote, BUNDLES)
                   if _DIGEST.fullmatch(n) and n not in protect]
        old = entries[keep:]
        for name in old:  # renamed aside first: never part of a bundle under its digest
            aside = remote.path(BUNDLES, f"{_OLD_PREFIX}{name}.{secrets.token_hex(4)}")
            await _replace(remote, remote.path(BUNDLES, name), aside)
            await remote.sftp.rmtree(aside, ignore_errors=True)
    except (asyncssh.Error, _HostError, OSError) as exc:
        job.say(f"could not prune old bundles: {getattr(exc, 'reason', None) or exc}")
        return
    job.pruned = tuple(old)
    if old:
        job.at(f"pruned {len(old)} old bundle(s)")


async def _destroy(remote: _Remote, job: _Job) -> None:
    job.step = "reading current"
    job.running = await _read_current(remote)
    job.known = True
    if job.running is None:
        job.at("nothing deployed")
        return
    job.step = "removing current"
    with contextlib.suppress(asyncssh.SFTPNoSuchFile):
        await remote.sftp.remove(remote.path(CURRENT))
    job.running = None
    job.at("removed current")
    await _reload(remote, job)


async def _upload(remote: _Remote, job: _Job, files: Mapping[str, bytes],
                  hashes: Mapping[str, str], digest: str) -> None:
    """Build bundles/<digest> in a staging folder (hard links for content the host has,
    uploads for the rest) and rename it into place."""
    sftp = remote.sftp
    job.step = "reading the bundles on the host"
    entries = await _listing(remote, BUNDLES)
    for name in entries:  # leftovers of an interrupted deploy of this same bundle
        if name.startswith((f"{_STAGING_PREFIX}{digest}.", f"{_OLD_PREFIX}{digest}.")):
            await sftp.rmtree(remote.path(BUNDLES, name), ignore_errors=True)
    have = await _content_on_host(remote, entries, job.running, digest)
    reuse = {rel: have[sha] for rel, sha in hashes.items()
             if rel != MANIFEST_FILE and sha in have}
    job.at(f"uploading {len(files) - len(reuse)} of {len(files)} files "
           f"({len(reuse)} already on the host)")
    staging = remote.path(BUNDLES, f"{_STAGING_PREFIX}{digest}.{secrets.token_hex(4)}")
    slots = asyncio.Semaphore(UPLOADS_AT_ONCE)

    async def place(rel: str) -> None:
        async with slots:
            target = posixpath.join(staging, rel)
            source = reuse.get(rel)
            if source is not None and await _link_same(sftp, source, target, len(files[rel])):
                return
            async with sftp.open(target, "wb") as handle:
                await handle.write(files[rel])
                with contextlib.suppress(asyncssh.SFTPOpUnsupported):
                    await handle.fsync()
            job.uploaded += 1

    try:
        await sftp.mkdir(staging)
        for folder in sorted({posixpath.dirname(rel) for rel in files} - {""}):
            await sftp.makedirs(posixpath.join(staging, folder), exist_ok=True)
        job.step = "uploading"
        async with asyncio.TaskGroup() as group:
            for rel in sorted(files):
                group.create_task(place(rel))
        job.step = "moving the bundle into place"
        dest = remote.path(BUNDLES, digest)
        if await sftp.exists(dest):  # a damaged copy (_is_whole said no): set it aside first
            aside = remote.path(BUNDLES, f"{_OLD_PREFIX}{digest}.{secrets.token_hex(4)}")
            await _replace(remote, dest, aside)
            await sftp.rmtree(aside, ignore_errors=True)
        await _replace(remote, staging, dest)
    except BaseException:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(sftp.rmtree(staging, ignore_errors=True), 10)
        raise
    job.at(f"uploaded {job.uploaded} file(s)")


async def _switch(remote: _Remote, link_target: str) -> None:
    """Point `current` at `link_target`: a new symlink renamed over the old one."""
    temporary = remote.path(f".{CURRENT}.{secrets.token_hex(4)}")
    await remote.sftp.symlink(link_target, temporary)
    try:
        await _replace(remote, temporary, remote.path(CURRENT))
    except BaseException:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(remote.sftp.remove(temporary), 10)
        raise


async def _replace(remote: _Remote, source: str, dest: str) -> None:
    """rename(2) over `dest`: SFTP posix-rename, or `mv -T` where the server lacks it."""
    try:
        await remote.sftp.posix_rename(source, dest)
    except asyncssh.SFTPOpUnsupported:
        done = await remote.conn.run(f"mv -T -- {shlex.quote(source)} {shlex.quote(dest)}",
                                     check=False, timeout=30)
        if done.exit_status != 0:
            raise _HostError(f"can't rename {source} to {dest}: "
                             f"{_first_line(done.stderr)}") from None


async def _reload(remote: _Remote, job: _Job) -> None:
    """Ask a running `ccc serve` to take the new `current` now; best effort (it also checks
    `current` on its own), so nothing here fails the deploy."""
    job.step = "asking the runtime to reload"
    try:
        raw = await _read_small(remote.sftp, remote.path(SERVE_PID_FILE), 32)
    except _HostError:
        raw = b"?"
    if raw is None:
        job.say(f"no ccc serve running there (no {SERVE_PID_FILE})")
        return
    text = raw.strip()
    if not text.isdigit() or not 1 < int(text) < 1 << 22:
        job.say(f"{SERVE_PID_FILE} holds no pid: not signalled")
        return
    pid = int(text)
    try:  # a stale pid file must not signal another program (SIGHUP ends most)
        cmdline = await _read_small(remote.sftp, f"/proc/{pid}/cmdline", 4096)
    except _HostError:
        cmdline = None
    if cmdline is None or b"ccc" not in cmdline:
        job.say(f"pid {pid} in {SERVE_PID_FILE} is not a running ccc serve: not signalled")
        return
    try:
        done = await remote.conn.run(f"kill -HUP {pid}", check=False, timeout=10)
        sent, reason = done.exit_status == 0, _first_line(done.stderr)
    except (asyncssh.Error, OSError, TimeoutError) as exc:
        sent, reason = False, _first_line(getattr(exc, "reason", "") or type(exc).__name__)
    job.say(f"asked ccc serve (pid {pid}) to reload" if sent else
            f"could not signal ccc serve (pid {pid}): {reason}; it takes `current` "
            "on its next check")


# -- reading the host, bounded ------------------------------------------------------------

async def _read_small(sftp: asyncssh.SFTPClient, path: str, limit: int) -> bytes | None:
    """A remote file's bytes (None when it doesn't exist); refused above `limit` bytes."""
    try:
        async with sftp.open(path, "rb") as handle:
            data = await handle.read(limit + 1)
    except asyncssh.SFTPNoSuchFile:
        return None
    if not isinstance(data, bytes):
        raise _HostError(f"{path}: unexpected reply")
    if len(data) > limit:
        raise _HostError(f"{path} is larger than {limit >> 20} MiB")
    return data


async def _read_current(remote: _Remote) -> str | None:
    """The digest `current` points at, None when there is no `current`."""
    where = remote.path(CURRENT)
    try:
        target = str(await remote.sftp.readlink(where))
    except asyncssh.SFTPNoSuchFile:
        return None
    except asyncssh.SFTPError as exc:
        raise _HostError(f"{where} is not a symlink: {exc.reason}") from None
    parent, name = posixpath.split(posixpath.normpath(target))
    if parent != BUNDLES or not _DIGEST.fullmatch(name):
        raise _HostError(f"{where} points at {target[:200]!r}, not at {BUNDLES}/<digest>")
    return name


async def _read_refresh_files(remote: _Remote, digest: str) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for name in REFRESH_FILES:
        data = await _read_small(remote.sftp, remote.path(BUNDLES, digest, name),
                                 MAX_REFRESH_FILE)
        if data is not None:
            files[name] = data
    return files


async def _listing(remote: _Remote, folder: str) -> list[str]:
    """The names in a remote folder, newest first (at most MAX_LISTING)."""
    found: list[tuple[int, str]] = []
    async for entry in remote.sftp.scandir(remote.path(folder)):
        if len(found) >= MAX_LISTING:
            raise _HostError(f"{remote.path(folder)} holds more than {MAX_LISTING} entries")
        name = str(entry.filename)
        if name not in (".", ".."):
            found.append((entry.attrs.mtime or 0, name))
    return [name for _, name in sorted(found, reverse=True)]


def _manifest_files(data: bytes | None) -> tuple[str | None, dict[str, str]]:
    """(digest, path -> sha256) of a remote manifest.json; (None, {}) when it isn't one."""
    try:
        doc = json.loads(data or b"")
    except (ValueError, UnicodeDecodeError):
        return None, {}
    files = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(files, dict):
        return None, {}
    clean = {rel: sha for rel, sha in files.items() if isinstance(rel, str)
             and isinstance(sha, str) and _DIGEST.fullmatch(sha) and _safe_relative(rel)}
    digest = doc.get("digest")
    return (digest if isinstance(digest, str) else None), clean


async def _is_whole(remote: _Remote, digest: str, files: Mapping[str, bytes]) -> bool:
    """Whether the host's bundles/<digest> is this bundle: its manifest is ours and every file
    is there with its size. Bundles are written whole and renamed into place; this catches a
    damaged copy without downloading it."""
    folder = remote.path(BUNDLES, digest)
    data = await _read_small(remote.sftp, posixpath.join(folder, MANIFEST_FILE), MAX_MANIFEST)
    if data is None or data != files.get(MANIFEST_FILE):
        return False
    for rel, content in files.items():
        try:
            attrs = await remote.sftp.lstat(posixpath.join(folder, rel))
        except asyncssh.SFTPNoSuchFile:
            return False
        if not _regular(attrs, len(content)):
            return False
    return True


async def _content_on_host(remote: _Remote, entries: list[str], running: str | None,
                           digest: str) -> dict[str, str]:
    """sha256 -> a remote file with that content, from the manifests of the bundles on the
    host (`current`'s first, then the newest; at most MAX_REUSED_BUNDLES)."""
    names = [n for n in entries if _DIGEST.fullmatch(n) and n != digest]
    if running in names:
        names.remove(running)
        names.insert(0, running)
    found: dict[str, str] = {}
    for name in names[:MAX_REUSED_BUNDLES]:
        folder = remote.path(BUNDLES, name)
        claimed, hashes = _manifest_files(await _read_small(
            remote.sftp, posixpath.join(folder, MANIFEST_FILE), MAX_MANIFEST))
        if claimed != name:
            continue
        for rel, sha in hashes.items():
            found.setdefault(sha, posixpath.join(folder, rel))
    return found


async def _link_same(sftp: asyncssh.SFTPClient, source: str, target: str, size: int) -> bool:
    """Hard-link `source` to `target` when it is a regular file of the expected size; False
    when it isn't or can't be (then the file is uploaded)."""
    try:
        if not _regular(await sftp.lstat(source), size):
            return False
        await sftp.link(source, target)
    except asyncssh.SFTPError:
        return False
    return True


def _regular(attrs: asyncssh.SFTPAttrs, size: int) -> bool:
    return (attrs.permissions is not None and stat.S_ISREG(attrs.permissions)
            and attrs.size == size)


def _first_line(text: object) -> str:
    lines = str(text or "").strip().splitlines()
    return lines[0][:200] if lines else "no reason given"
