"""Issue 11 item 3: outputs are all-or-nothing. `ccc compile -o DIR` switches the whole
bundle folder in one step (a kill leaves the old bundle or the new one, each whole), never
replaces a folder that is no bundle, and `ccc fmt` replaces each source file atomically with
its mode kept. The kill tests kill real `ccc` processes at random moments."""

from __future__ import annotations

import os
import random
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ccc_runtime.bundle import read_manifest
from ccc_runtime.digest import MANIFEST_FILE
from click.testing import CliRunner
from repos import copy_examples

from ccc_dsl.cli import cli
from ccc_dsl.util import write_file_atomic

CCC = str(Path(sys.executable).parent / "ccc")


def repo_copy(dest: Path) -> Path:
    copy_examples(dest)
    return dest


def test_a_folder_that_is_no_bundle_is_refused_and_left_alone(tmp_path: Path) -> None:
    """The issue's reproducer (`mkdir -p OUT/build.json`), and the worse case of -o naming a
    folder of the user's own: nothing is written, nothing deleted."""
    repo = repo_copy(tmp_path / "repo")
    out = tmp_path / "OUT"
    (out / "build.json").mkdir(parents=True)
    result = CliRunner().invoke(cli, ["compile", str(repo), "-o", str(out)])
    assert result.exit_code == 1
    assert "no bundle folder" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["build.json"]
    result = CliRunner().invoke(cli, ["compile", str(repo), "-o", str(repo)])
    assert result.exit_code == 1
    assert (repo / "ccc.yaml").is_file() and (repo / "flows" / "main.ivr").is_file()


def test_compile_replaces_its_own_bundle_and_leaves_no_staging(tmp_path: Path) -> None:
    repo = repo_copy(tmp_path / "repo")
    out = tmp_path / "OUT"
    for _ in range(2):
        result = CliRunner().invoke(cli, ["compile", str(repo), "-o", str(out)])
        assert result.exit_code == 0, result.output
    read_manifest(out)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".ccc-")] == []
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _kill_at_random(args: list[str], delay: float) -> None:
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        process.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _run_time(args: list[str]) -> float:
    """Wall seconds of one run to the end: kills are spread over about that long, so some
    come before the switch and some after, on a slow machine or a fast one."""
    start = time.perf_counter()
    subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120,
                   check=True)
    return time.perf_counter() - start


def _bundle_state(out: Path) -> str | None:
    """The digest of the whole bundle in `out` (None if absent); fails on any mixture."""
    if not out.exists():
        return None
    manifest = read_manifest(out)  # every listed file has its hash
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert on_disk == set(manifest.files) | {MANIFEST_FILE}
    return manifest.digest


def kill_compile(tmp_path: Path, kills: int, seed: int) -> set[str | None]:
    repo = repo_copy(tmp_path / "repo")
    out = tmp_path / "OUT"
    rng = random.Random(seed)
    subprocess.run([CCC, "compile", str(repo), "-o", str(out)], check=True,
                   stdout=subprocess.DEVNULL, timeout=120)
    main = repo / "flows" / "main.ivr"
    main.write_text(main.read_text(encoding="utf-8") + "// edit\n", encoding="utf-8")
    took = _run_time([CCC, "compile", str(repo), "-o", str(out)])  # as each kill's run would
    digests = {_bundle_state(out)}
    for n in range(kills):
        main.write_text(main.read_text(encoding="utf-8") + f"// edit {n}\n", encoding="utf-8")
        start = time.perf_counter()
        _kill_at_random([CCC, "compile", str(repo), "-o", str(out)], rng.uniform(0.1, 1.3) * took)
        assert time.perf_counter() - start < 60
        digests.add(_bundle_state(out))
    result = subprocess.run([CCC, "compile", str(repo), "-o", str(out)], timeout=120,
                            capture_output=True)
    assert result.returncode == 0, result.stderr
    assert _bundle_state(out) is not None
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".ccc-")] == []
    return digests


def test_killed_compiles_leave_a_whole_bundle(tmp_path: Path) -> None:
    kill_compile(tmp_path, kills=2, seed=11)


@pytest.mark.slow
def test_many_killed_compiles_leave_a_whole_bundle(tmp_path: Path) -> None:
    digests = kill_compile(tmp_path, kills=60, seed=7)
    assert len(digests) > 2  # some kills came after the switch, some before


UGLY = 'flow t "T" {\n' + "".join(
    f"  s{i}:   say    \"line {i}\"    then   s{i + 1}\n" for i in range(3000)) + \
    "  s3000: hangup\n}\n"


def kill_fmt(tmp_path: Path, kills: int, seed: int) -> set[str]:
    rng = random.Random(seed)
    flow = tmp_path / "t.ivr"
    seen: set[str] = set()
    formatted: str | None = None
    flow.write_text(UGLY, encoding="utf-8")
    took = _run_time([CCC, "fmt", str(flow)])
    for _ in range(kills):
        flow.write_text(UGLY, encoding="utf-8")
        flow.chmod(0o640)
        _kill_at_random([CCC, "fmt", str(flow)], rng.uniform(0.1, 1.3) * took)
        text = flow.read_text(encoding="utf-8")
        if text != UGLY:
            if formatted is None:
                subprocess.run([CCC, "fmt", "--check", str(flow)], timeout=60,
                               capture_output=True, check=True)  # the whole formatted text
                formatted = text
            assert text == formatted
        seen.add("new" if text != UGLY else "old")
        assert stat.S_IMODE(flow.stat().st_mode) == 0o640
    return seen


def test_killed_fmt_leaves_the_old_file_or_the_new_one(tmp_path: Path) -> None:
    kill_fmt(tmp_path, kills=2, seed=5)


@pytest.mark.slow
def test_many_killed_fmts_leave_the_old_file_or_the_new_one(tmp_path: Path) -> None:
    assert kill_fmt(tmp_path, kills=40, seed=3) == {"old", "new"}


def test_atomic_write_keeps_mode_and_follows_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real.ivr"
    real.write_text("old", encoding="utf-8")
    real.chmod(0o600)
    link = tmp_path / "link.ivr"
    link.symlink_to(real)
    write_file_atomic(link, b"new")
    assert link.is_symlink() and real.read_text(encoding="utf-8") == "new"
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.ivr", "real.ivr"]
