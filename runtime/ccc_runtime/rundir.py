"""The runtime directory: where deployed bundles live and which one answers calls.

```
RUNTIME_DIR/
  bundles/<digest>/      one complete bundle per content digest (bundle.json, *.ccb, prompts/,
                         build.json, manifest.json); written whole, never changed afterwards
  current -> bundles/<digest>   a symlink, switched atomically (rename over the old link)
```
`ccc compile -o DIR` writes the same bundle folder; `ccc apply` (local target) installs it here
and switches `current`; `ccc serve` loads `current` for new calls. Layout: docs/runtime.md.
Every write goes through `write_tree`: a staging folder renamed into place, so a crash at any
moment leaves either the old folder or the new one, never a mixture.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Collection, Mapping
from pathlib import Path

from .digest import bundle_digest

BUNDLES = "bundles"
CURRENT = "current"
_DIGEST = re.compile(r"[0-9a-f]{64}")
_STAGING_PREFIX = ".ccc-staging."
_OLD_PREFIX = ".ccc-old."


def _fsync(path: Path | str) -> None:
    """fsync a file or a folder (its names)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE), so `b` is never absent;
    False where the system can't (then the caller renames in two steps)."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EPERM, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _safe_relative(rel: str) -> bool:
    """A path inside the folder (as `Path(rel).parts` reads it, without a Path per file)."""
    parts = [part for part in rel.split("/") if part not in ("", ".")]
    return bool(parts) and not rel.startswith("/") and ".." not in parts and "\0" not in rel


def _same_bytes(name: str, folder_fd: int, data: bytes) -> bool:
    """Whether the regular file `name` in the folder `folder_fd` holds `data` (read with one
    call past its length: a longer file differs; no Python file object per file)."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder_fd)
    except OSError:
        return False
    try:
        return os.read(fd, len(data) + 1) == data
    except OSError:
        return False
    finally:
        os.close(fd)


def _held(files: Mapping[str, bytes], dest: Path) -> tuple[set[str], bool]:
    """The `files` that `dest` holds with the same bytes (regular files, not links), and
    whether it holds exactly `files` and nothing else (a folder that can't be listed is not)."""
    same: set[str] = set()
    other = False
    folders = [("", str(dest))]
    while folders:
        prefix, folder = folders.pop()
        try:
            folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            other = True
            continue
        try:
            with os.scandir(folder) as entries:
                listed = list(entries)
            for entry in listed:
                rel = prefix + entry.name
                try:
                    if entry.is_dir(follow_symlinks=False):
                        folders.append((rel + "/", entry.path))
                        continue
                    data = files.get(rel)
                    if data is not None and entry.is_file(follow_symlinks=False) \
                            and _same_bytes(entry.name, folder_fd, data):
                        same.add(rel)
                        continue
                except OSError:
                    pass
                other = True
        except OSError:
            other = True
        finally:
            os.close(folder_fd)
    return same, not other and len(same) == len(files)


FSYNC_EACH = 16
"""Up to this many new files are fsynced one by one; more, and the file system is flushed in one
call (`_syncfs`): a cold `ccc compile` of 2,000 flows spent 0.7-20 s in fsyncs alone."""


def _syncfs(folder: Path) -> bool:
    """Flush the file system holding `folder` in one call (Linux syncfs: every file written, the
    names and links in every folder), or False where the system can't."""
    syncfs = getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)
    if syncfs is None:
        return False
    fd = os.open(folder, os.O_RDONLY)
    try:
        if syncfs(fd) == 0:
            return True
    finally:
        os.close(fd)
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EPERM, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(folder))


def write_tree(files: Mapping[str, bytes], dest: Path, reuse: bool = False) -> bool:
    """Make `dest` a folder holding exactly `files` (relative path -> bytes), as a whole.

    The files are written and fsynced in a staging folder beside `dest`, then renamed into
    place; an existing `dest` is first renamed aside and removed after. Leftovers of an earlier
    interrupted write (staging and old folders) are removed first.

    With `reuse`, a `dest` holding exactly `files` already is left as it is (False comes
    back), and the files it holds with the same bytes are hard-linked into the staging folder
    instead of written and fsynced again (a link shares data made durable when it was first
    written): `ccc compile` after one edit writes one image, not thousands, and still switches
    the whole folder in one rename.
    """
    bad = sorted(rel for rel in files if not _safe_relative(rel))
    if bad:
        raise ValueError(f"paths outside the folder: {', '.join(bad)}")
    parent = dest.parent
    parent.mkdir(parents=True, exist_ok=True)
    ours = (f"{_STAGING_PREFIX}{dest.name}.", f"{_OLD_PREFIX}{dest.name}.")
    with os.scandir(parent) as entries:  # not Path.glob: it compiles a pattern per call
        leftovers = [entry.path for entry in entries if entry.name.startswith(ours)]
    for leftover in leftovers:
        shutil.rmtree(leftover, ignore_errors=True)
    if dest.exists() and not dest.is_dir():
        raise NotADirectoryError(f"{dest} exists and is not a folder")
    same: set[str] = set()
    if reuse and dest.is_dir():
        same, whole = _held(files, dest)
        if whole:
            return False
    staging = Path(tempfile.mkdtemp(prefix=f"{_STAGING_PREFIX}{dest.name}.", dir=parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # a folder as mkdir makes it, not mkdtemp's 0700
    try:
        base = str(staging)
        folders = {""}  # relative to the staging folder ("": itself)
        written: list[str] = []
        old_fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY) if same else -1
        staging_fd = os.open(staging, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for rel, data in sorted(files.items()):
                folder, _, _ = rel.rpartition("/")
                if folder and folder not in folders:
                    os.makedirs(os.path.join(base, folder), exist_ok=True)
                    folders.add(folder)
                if rel in same:  # linked by paths relative to both folders: no joins
                    try:
                        os.link(rel, rel, src_dir_fd=old_fd, dst_dir_fd=staging_fd,
                                follow_symlinks=False)
                        continue
                    except OSError:  # no hard links here: write it
                        pass
                target = os.path.join(base, rel)
                with open(target, "wb") as handle:
                    handle.write(data)
                written.append(target)
        finally:
            os.close(staging_fd)
            if old_fd >= 0:
                os.close(old_fd)
        # the files, links and names durable before the switch makes them the tree
        if len(written) <= FSYNC_EACH or not _syncfs(staging):
            for target in written:
                _fsync(target)
            for folder in folders:
                _fsync(os.path.join(base, folder))
        old: Path | None = None
        if dest.exists() and _exchange(staging, dest):
            old = staging  # it holds the previous tree now
        else:
            if dest.exists():
                old = Path(tempfile.mkdtemp(prefix=f"{_OLD_PREFIX}{dest.name}.", dir=parent))
                os.replace(dest, old / "tree")
            os.replace(staging, dest)
        _fsync(parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return True


class RuntimeDir:
    """One runtime directory. Safe against crashes at any point; not a lock (apply holds one)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def bundles(self) -> Path:
        return self.path / BUNDLES

    def bundle_path(self, digest: str) -> Path:
        if not _DIGEST.fullmatch(digest):
            raise ValueError(f"not a bundle digest: {digest!r}")
        return self.bundles / digest

    def has(self, digest: str) -> bool:
        """Whether `bundles/<digest>` holds a whole bundle with that digest."""
        from .bundle import BundleError, read_manifest  # pydantic: not to write a tree

        try:
            return read_manifest(self.bundle_path(digest)).digest == digest
        except (BundleError, ValueError):
            return False

    def install(self, files: Mapping[str, bytes]) -> str:
        """Write a bundle (its files, manifest.json among them) under bundles/; return its
        digest. A bundle already there whole is left as it is."""
        digest = bundle_digest(files)
        if not self.has(digest):
            write_tree(files, self.bundle_path(digest))
        return digest

    def activate(self, digest: str) -> None:
        """Point `current` at an installed bundle, atomically (new link renamed over the old)."""
        if not self.has(digest):
            from .bundle import BundleError

            raise BundleError(str(self.bundle_path(digest)), ["no whole bundle with that digest"])
        self.path.mkdir(parents=True, exist_ok=True)
        link = self.path / f".{CURRENT}.{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        os.symlink(Path(BUNDLES) / digest, link)
        os.replace(link, self.path / CURRENT)
        _fsync(self.path)

    def deactivate(self) -> None:
        """Remove `current`: the runtime directory then answers no calls (`ccc destroy`)."""
        with contextlib.suppress(FileNotFoundError):
            (self.path / CURRENT).unlink()
            _fsync(self.path)

    def current(self) -> str | None:
        """The digest `current` points at, or None when nothing is deployed."""
        try:
            target = os.readlink(self.path / CURRENT)
        except OSError:
            return None
        name = Path(target).name
        return name if _DIGEST.fullmatch(name) and Path(target).parent == Path(BUNDLES) else None

    def current_path(self) -> Path | None:
        digest = self.current()
        return None if digest is None else self.bundle_path(digest)

    def prune(self, keep: int = 3, protect: Collection[str] = ()) -> list[str]:
        """Remove old bundles, keeping `current`, the digests in `protect` and the `keep` most
        recently installed others. Each is first renamed aside (one step), so a crash never
        leaves part of a bundle under its digest; a leftover is removed by the next write of
        that bundle (write_tree)."""
        if not self.bundles.is_dir():
            return []
        spared = {self.current(), *protect}
        entries = sorted((p for p in self.bundles.iterdir()
                          if _DIGEST.fullmatch(p.name) and p.name not in spared),
                         key=lambda p: p.stat().st_mtime, reverse=True)
        removed = []
        for entry in entries[keep:]:
            aside = entry.with_name(f"{_OLD_PREFIX}{entry.name}.pruned")
            os.replace(entry, aside)
            shutil.rmtree(aside, ignore_errors=True)
            removed.append(entry.name)
        return removed
