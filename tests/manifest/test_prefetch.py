"""The helper process that parses a big repo's YAML ahead (ccc_dsl/manifest/prefetch.py): it
fills the per-file cache with exactly what the loader would store, last file first, stops at
the first file the loader has cached, starts only where it pays, and changes no output."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from mf_helpers import REPO

from ccc_dsl.cache import repo_snapshot
from ccc_dsl.manifest import cache, prefetch
from ccc_dsl.manifest.yamlsafe import parse_yaml

sys.path.insert(0, str(REPO / "bench"))
from gen_manifests import generate


def _yaml_files(repo: Path) -> list[Path]:
    """The root file and the included files, as the loader spells them."""
    return [repo / "ccc.yaml", *sorted((repo / "resources").glob("*.yaml"))]


def _same_as_parsed(path: Path) -> bool:
    """The cached entry of `path` holds what parsing it gives."""
    raw = path.read_bytes()
    cached, parsed = cache.load(str(path), raw), parse_yaml(str(path), raw)
    return cached is not None and (cached.data, cached.diagnostics, cached.var_paths,
                                   cached.positions_blob()) == (
        parsed.data, parsed.diagnostics, parsed.var_paths, parsed.positions_blob())


def test_the_forked_helper_fills_the_cache_with_what_the_loader_would(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    generate(repo, resources=200, files=6)
    (repo / "resources" / "agents-broken.yaml").write_text("agents:\n  x: [1, 2\n")
    env = {**os.environ, "CCC_CACHE_DIR": str(tmp_path / "cache")}
    script = (  # a process of its own: pytest's timeout thread rules out a fork in this one
        "import os, sys\n"
        "from pathlib import Path\n"
        "from ccc_dsl.cache import repo_snapshot\n"
        "from ccc_dsl.manifest import prefetch\n"
        "prefetch.PREFETCH_MIN_BYTES = 0\n"
        f"root = Path({str(repo)!r})\n"
        "prefetch.start(repo_snapshot(root))\n"
        "assert prefetch._helper is not None, 'not started'\n"
        "pid, status = os.waitpid(prefetch._helper[0], 0)  # let it run to its end\n"
        "print('exit', status)\n")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "exit 0\n"  # and nothing of the helper's reached the output
    monkeypatch.setenv("CCC_CACHE_DIR", env["CCC_CACHE_DIR"])
    files = _yaml_files(repo)
    assert len(files) == 8 and any(f.name == "agents-broken.yaml" for f in files)
    assert all(_same_as_parsed(f) for f in files)  # the broken file's diagnostics too


def test_the_helper_parses_what_is_not_cached_and_leaves_the_rest(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    generate(repo, resources=200, files=6)
    files = _yaml_files(repo)
    raw = files[-3].read_bytes()
    cache.store(raw, parse_yaml(str(files[-3]), raw))  # the loader got there first
    entry = cache._entry_path(Path(os.environ["CCC_CACHE_DIR"]),
                              cache.entry_key(str(files[-3]), raw))
    os.utime(entry, ns=(1, 1))
    stop_read, stop_write = os.pipe()
    try:
        prefetch._helper_main(repo_snapshot(repo), stop_read)  # here, not forked
    finally:
        os.close(stop_read)
        os.close(stop_write)
    assert all(_same_as_parsed(f) for f in files)
    assert entry.stat().st_mtime_ns == 1  # not parsed nor written again


def test_while_a_helper_runs_this_process_leaves_the_entries_to_it(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    generate(repo, resources=50, files=2)
    path = _yaml_files(repo)[0]
    raw = path.read_bytes()
    cache.leave_stores_to_helper(True)
    try:
        cache.store(raw, parse_yaml(str(path), raw))
        assert not cache.has(str(path), raw)
    finally:
        cache.leave_stores_to_helper(False)
    cache.store(raw, parse_yaml(str(path), raw))
    assert cache.has(str(path), raw)


def test_it_starts_only_where_it_pays(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    generate(repo, resources=3000, files=10)
    big = repo_snapshot(repo)
    small = big[:4]
    assert sum(len(d or b"") for _, _, d in big) >= prefetch.PREFETCH_MIN_BYTES
    assert not prefetch._worth_it(small)
    blocker = threading.Event()
    thread = threading.Thread(target=blocker.wait)
    thread.start()
    try:
        assert not prefetch._worth_it(big)  # another thread runs: forking is unsafe
    finally:
        blocker.set()
        thread.join()
    prefetch.start(small)
    assert prefetch._helper is None


def test_a_cold_validate_prints_the_same_with_and_without_the_helper(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    generate(repo, resources=2600, files=20)  # just over PREFETCH_MIN_BYTES of YAML
    size = sum(p.stat().st_size for p in (repo / "resources").glob("*.yaml"))
    assert size >= prefetch.PREFETCH_MIN_BYTES
    for name in ("part002.yaml", "part017.yaml"):  # errors early and late in the order
        with (repo / "resources" / name).open("a", encoding="utf-8") as out:
            out.write('trunks:\n  "bad name!": {}\n')

    def validate(**extra: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "NO_COLOR": "1", **extra}
        env.pop("CCC_NO_CACHE", None)
        return subprocess.run([sys.executable, "-m", "ccc_dsl", "validate", "repo"],
                              cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300, check=False)

    plain = validate(CCC_NO_CACHE="1")
    helped = validate(CCC_CACHE_DIR=str(tmp_path / "cold"))
    assert plain.returncode == helped.returncode == 1
    assert "bad name!" in plain.stdout
    assert (helped.stdout, helped.stderr) == (plain.stdout, plain.stderr)
