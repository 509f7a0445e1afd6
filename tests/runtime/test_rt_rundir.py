"""The runtime directory: bundles installed whole by digest, `current` switched atomically."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ccc_runtime.bundle import BundleError
from ccc_runtime.digest import MANIFEST_FILE, bundle_digest, manifest_bytes
from ccc_runtime.rundir import RuntimeDir, write_tree


def bundle_files(text: bytes) -> dict[str, bytes]:
    files = {"bundle.json": text, "prompts/a.wav": b"RIFF"}
    return {**files, MANIFEST_FILE: manifest_bytes(files)}


def test_write_tree_replaces_the_folder_as_a_whole(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    write_tree({"a": b"1", "sub/b": b"2"}, dest)
    write_tree({"c": b"3"}, dest)
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*")) == ["c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging left


def test_write_tree_refuses_paths_outside_and_a_file_in_the_way(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="outside"):
        write_tree({"../x": b""}, tmp_path / "out")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        write_tree({"a": b""}, tmp_path / "file")
    assert (tmp_path / "file").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_write_tree_cleans_up_an_interrupted_write(tmp_path: Path) -> None:
    (tmp_path / ".ccc-staging.out.abc").mkdir()
    (tmp_path / ".ccc-old.out.def").mkdir()
    write_tree({"a": b"1"}, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_install_activate_and_current(tmp_path: Path) -> None:
    rundir = RuntimeDir(tmp_path / "rt")
    assert rundir.current() is None
    first = rundir.install(bundle_files(b"{}"))
    assert first == bundle_digest(bundle_files(b"{}")) and rundir.has(first)
    rundir.activate(first)
    assert rundir.current() == first
    assert os.readlink(tmp_path / "rt" / "current") == f"bundles/{first}"
    second = rundir.install(bundle_files(b"[]"))
    rundir.activate(second)
    assert rundir.current() == second and rundir.current_path() == rundir.bundles / second
    assert rundir.install(bundle_files(b"[]")) == second  # already there: nothing rewritten
    rundir.deactivate()
    assert rundir.current() is None


def test_a_bundle_changed_by_hand_is_not_whole(tmp_path: Path) -> None:
    rundir = RuntimeDir(tmp_path)
    digest = rundir.install(bundle_files(b"{}"))
    (rundir.bundle_path(digest) / "prompts" / "a.wav").write_bytes(b"changed")
    assert not rundir.has(digest)
    with pytest.raises(BundleError, match="no whole bundle"):
        rundir.activate(digest)
    assert rundir.install(bundle_files(b"{}")) == digest and rundir.has(digest)  # repaired


def test_digests_are_checked_and_old_bundles_pruned(tmp_path: Path) -> None:
    rundir = RuntimeDir(tmp_path)
    with pytest.raises(ValueError, match="not a bundle digest"):
        rundir.bundle_path("../../etc")
    digests = [rundir.install(bundle_files(str(i).encode())) for i in range(5)]
    for i, digest in enumerate(digests):
        os.utime(rundir.bundle_path(digest), (i, i))
    rundir.activate(digests[0])
    removed = rundir.prune(keep=2)
    assert sorted(removed) == sorted(digests[1:3])
    assert {p.name for p in rundir.bundles.iterdir()} == {digests[0], digests[3], digests[4]}
