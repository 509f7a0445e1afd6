"""`ccc compile` after one edit does the work of one flow: only the images built this time are
decoded and checked (the others were when they were built, and the index says so), and only
files whose bytes changed are written (the rest hard-linked from the old folder), while the
folder is still switched as a whole."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ccc_runtime import bundle as runtime_bundle
from ccc_runtime.bundle import read_manifest
from ccc_runtime.rundir import write_tree
from click.testing import CliRunner
from repos import copy_examples

from ccc_dsl.cli import cli
from ccc_dsl.compiler import cache, incremental
from ccc_dsl.manifest.loader import load_repo
from ccc_dsl.pipeline import build_bundle, cached_bundle

pytestmark = pytest.mark.usefixtures("pinned_tool")


def _compile(repo: Path, out: Path) -> None:
    result = CliRunner().invoke(cli, ["compile", str(repo), "-o", str(out)])
    assert result.exit_code == 0, result.output


def _inodes(out: Path) -> dict[str, int]:
    return {p.relative_to(out).as_posix(): p.stat().st_ino for p in out.rglob("*")
            if p.is_file()}


def _edit_main(repo: Path, n: int = 0) -> None:
    main = repo / "flows" / "main.ivr"
    main.write_text(main.read_text(encoding="utf-8") + f"// edit {n}\n", encoding="utf-8")


def test_one_edit_decodes_only_the_images_built_again(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    repo, out = tmp_path / "repo", tmp_path / "out"
    copy_examples(repo)
    _compile(repo, out)
    decoded: list[str] = []
    real = runtime_bundle.decode

    def counting(data: bytes) -> Any:
        image = real(data)
        decoded.append(image.name)
        return image

    monkeypatch.setattr(runtime_bundle, "decode", counting)
    _edit_main(repo)
    _compile(repo, out)
    assert decoded == ["main"]  # nobody calls main: the other images were verified before
    read_manifest(out)
    assert out.joinpath("main.ccb").read_bytes() == build_bundle(repo, None).files["main.ccb"]


def test_one_edit_writes_only_the_files_that_changed(tmp_path: Path) -> None:
    repo, out = tmp_path / "repo", tmp_path / "out"
    copy_examples(repo)
    _compile(repo, out)
    before = _inodes(out)
    _edit_main(repo)
    _compile(repo, out)
    after = _inodes(out)
    assert after.keys() == before.keys()
    written = {rel for rel in after if after[rel] != before[rel]}
    # main's image (its source hash), build.json and manifest.json: nothing else
    assert written == {"main.ccb", "build.json", "manifest.json"}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".ccc-")] == []
    files = build_bundle(repo, None).files
    assert {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*")
            if p.is_file()} == files


def test_write_tree_reuse_links_the_same_bytes_and_rewrites_the_rest(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    write_tree({"a": b"1", "sub/b": b"2", "c": b"3", "gone": b"4"}, dest)
    old = {p.name: p.stat().st_ino for p in dest.rglob("*") if p.is_file()}
    (dest / "c").write_bytes(b"x")  # changed by hand: must not be kept
    os.symlink(dest / "a", dest / "sub" / "link")
    assert write_tree({"a": b"1", "sub/b": b"2", "c": b"3", "new": b"5"}, dest, reuse=True)
    found = {p.relative_to(dest).as_posix(): p for p in dest.rglob("*") if not p.is_dir()}
    assert sorted(found) == ["a", "c", "new", "sub/b"]
    assert {rel: p.read_bytes() for rel, p in found.items()} == {
        "a": b"1", "c": b"3", "new": b"5", "sub/b": b"2"}
    assert found["a"].stat().st_ino == old["a"] and found["sub/b"].stat().st_ino == old["b"]
    assert found["c"].stat().st_ino != old["c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_write_tree_reuse_leaves_a_folder_that_holds_exactly_the_files(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    write_tree({"a": b"1", "sub/b": b"2"}, dest)
    stamp = dest.stat().st_ino, (dest / "a").stat().st_mtime_ns
    assert not write_tree({"a": b"1", "sub/b": b"2"}, dest, reuse=True)
    assert (dest.stat().st_ino, (dest / "a").stat().st_mtime_ns) == stamp
    (dest / "extra").write_bytes(b"")
    assert write_tree({"a": b"1", "sub/b": b"2"}, dest, reuse=True)  # an extra file: rewritten
    assert sorted(p.name for p in dest.rglob("*")) == ["a", "b", "sub"]


@pytest.mark.parametrize("syncfs", [True, False], ids=["syncfs", "no-syncfs"])
def test_write_tree_makes_many_files_durable_in_one_flush_or_one_by_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syncfs: bool) -> None:
    """Many new files: one flush of the file system where it can (Linux syncfs), else every
    file and folder fsynced; a few: fsynced one by one. The tree is whole either way."""
    from ccc_runtime import rundir

    synced: list[str] = []
    flushed: list[Path] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def flush(folder: Path) -> bool:
        flushed.append(folder)
        os.sync()
        return syncfs

    monkeypatch.setattr(rundir.os, "fsync", fsync)
    monkeypatch.setattr(rundir, "_syncfs", flush)
    many = {f"d{i % 3}/f{i}": str(i).encode() for i in range(rundir.FSYNC_EACH + 1)}
    dest = tmp_path / "out"
    write_tree(many, dest)
    assert {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*")
            if p.is_file()} == many
    assert len(flushed) == 1
    assert len([name for name in synced if name in {os.path.basename(r) for r in many}]) == (
        0 if syncfs else len(many))
    synced.clear()
    few = {"a": b"1", "sub/b": b"2"}
    write_tree(few, dest)
    assert len(flushed) == 1  # not asked for two files
    assert sorted(name for name in synced if name in ("a", "b")) == ["a", "b"]


def test_syncfs_flushes_a_real_folder(tmp_path: Path) -> None:
    from ccc_runtime import rundir

    assert rundir._syncfs(tmp_path) is True  # Linux: the call exists and succeeds


def test_images_of_a_bundle_that_failed_verification_are_not_kept(tmp_path: Path) -> None:
    """`keep(verified=False)`: the next build makes those images again (and checks them)
    instead of taking them for verified ones."""
    repo = tmp_path / "repo"
    copy_examples(repo)
    loaded = load_repo(repo, None)
    first = incremental.incremental_build(loaded, None)
    assert first is not None and first.reused == frozenset()
    first.keep(verified=False)
    second = incremental.incremental_build(loaded, None)
    assert second is not None and second.reused == frozenset()  # nothing taken as verified
    second.keep(verified=True)
    third = incremental.incremental_build(loaded, None)
    assert third is not None and third.reused == frozenset(third.build.flows)
    assert third.build.flows == build_bundle(repo, None).build.flows


def test_ccc_test_after_an_incremental_compile_gets_a_whole_verified_bundle(
        tmp_path: Path) -> None:
    repo, out = tmp_path / "repo", tmp_path / "out"
    copy_examples(repo)
    _compile(repo, out)
    _edit_main(repo)
    built = cached_bundle(repo, None)  # not `ccc compile`'s verify=False: every image decoded
    assert built.bundle is not None
    assert sorted(built.bundle.flows) == sorted(built.build.flows)


def test_only_the_newest_whole_builds_are_kept(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Each entry holds a whole bundle: one per edit would fill the disk of an editor that
    compiles on every save."""
    monkeypatch.setenv("CCC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "KEEP_BUILDS", 2)
    repo = tmp_path / "repo"
    copy_examples(repo)
    for n in range(4):
        _edit_main(repo, n)
        cached_bundle(repo, None)
    assert len(list((tmp_path / "cache" / "build").iterdir())) == 2
    assert cached_bundle(repo, None).build.analysis is None  # the newest is still a hit


def _compile_then(repo: Path, out: Path, line: str) -> str:
    """A Python script that runs `ccc compile REPO -o OUT` in its process, then `line`."""
    return ("import sys\n"
            "from ccc_dsl.cli import cli\n"
            "try:\n"
            f"    cli.main(['compile', {str(repo)!r}, '-o', {str(out)!r}])\n"
            "except SystemExit as exc:\n"
            "    assert not exc.code, exc.code\n"
            f"{line}\n")


HEAVY = ("pydantic", "networkx", "lark", "jinja2", "ruamel", "asyncio", "phonenumbers",
         "ccc_dsl.grammar", "ccc_dsl.manifest", "ccc_dsl.compiler.driver",
         "ccc_dsl.compiler.incremental", "ccc_dsl.compiler.passes", "ccc_runtime.bundle")


def test_compile_of_an_unchanged_repo_imports_nothing_heavy(tmp_path: Path) -> None:
    """A hit of the whole-build entry writes the kept files: no parser, compiler, manifest
    model or bundle validation is imported (they were most of the command's time)."""
    repo = copy_examples(tmp_path / "repo")
    heavy = f"sorted(m for m in sys.modules if m.startswith({HEAVY!r}))"
    script = _compile_then(repo, tmp_path / "out", f"print('HEAVY', {heavy})")
    env = {**os.environ, "CCC_CACHE_DIR": str(tmp_path / "cache")}
    for _ in range(4):  # the first run keeps the build; ccc's code edited meanwhile: again
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              timeout=300, check=False, env=env)
        assert done.returncode == 0, done.stderr
        if done.stdout.strip().splitlines()[-1] == "HEAVY []":
            break
    assert done.stdout.strip().splitlines()[-1] == "HEAVY []"
    assert "compiled 9 flow(s)" in done.stdout



def test_regions_of_outside_numbers_are_memoized_on_disk(tmp_path: Path) -> None:
    """A compile after editing a flow that transfers to an outside number (the policy blocks
    regions) takes the number's region from the phone memo: the geocoder, 0.3 s to import, is
    not imported, and the result is the cold one."""
    repo = copy_examples(tmp_path / "repo")
    script = _compile_then(repo, tmp_path / "out",
                           "print('GEOCODER', 'phonenumbers.geocoder' in sys.modules)")
    env = {**os.environ, "CCC_CACHE_DIR": str(tmp_path / "cache")}

    def compile_once() -> str:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              timeout=300, check=False, env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    assert compile_once() == "GEOCODER True"  # cold: the region looked up once
    flow = repo / "flows" / "vip_routing.ivr"
    flow.write_text(flow.read_text(encoding="utf-8") + "// edited\n", encoding="utf-8")
    assert compile_once() == "GEOCODER False"
    assert read_manifest(tmp_path / "out").digest == build_bundle(repo, None).digest
