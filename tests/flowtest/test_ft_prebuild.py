"""`ccc test -n N`: the repo is built by a forked helper while the test files are read
(flowtest/prebuild.py). The run must be the same with the helper, without it, and when the
helper dies; the helper must really leave the bundle in the build cache. The runs with a helper
are processes of their own: pytest's timeout thread rules out a fork in this one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from ft_helpers import examples_copy

from ccc_dsl.flowtest import prebuild
from ccc_dsl.pipeline import cached_bundle

SCRIPT = """
import json, os, sys
from pathlib import Path
import ccc_dsl.pipeline
from ccc_dsl.flowtest import prebuild, runner

repo, cache, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
prebuild.cores = lambda: 2
found = []
real_join, real_build, parent = prebuild.join, ccc_dsl.pipeline.cached_bundle, os.getpid()

def join(pid):
    real_join(pid)
    found.append(sum(1 for p in cache.rglob("*") if p.is_file()))  # before this process builds

def build(*args, **kwargs):
    if mode == "dies" and os.getpid() != parent:
        os._exit(3)
    return real_build(*args, **kwargs)

prebuild.join = join
ccc_dsl.pipeline.cached_bundle = runner.cached_bundle = build
report = runner.run_tests(repo, prebuild=mode != "serial")
print(json.dumps({"helper_left": found, "seen": [
    [[r.case.id, [m.describe() for m in r.mismatches], r.result.outcome.describe(), r.log,
      [u.describe() for u in r.result.prompts], sorted(r.result.edges)] for r in report.results],
    [c.as_json() for c in report.coverage], [str(d) for d in report.diagnostics]]}))
"""


def _run(repo: Path, cache: Path, mode: str) -> dict[str, object]:
    env = {**os.environ, "CCC_CACHE_DIR": str(cache)}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(repo), str(cache), mode],
                          capture_output=True, text=True, env=env, timeout=120, check=True)
    out: dict[str, object] = json.loads(done.stdout)
    return out


@pytest.fixture(scope="module")
def serial(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    repo = examples_copy(tmp_path_factory.mktemp("prebuild") / "repo")
    return repo, _run(repo, repo.parent / "serial-cache", "serial")["seen"]


def test_the_helper_builds_into_the_cache_and_the_run_is_the_same(
        serial: tuple[Path, object], tmp_path: Path) -> None:
    repo, seen = serial
    run = _run(repo, tmp_path / "cache", "helper")
    assert run["seen"] == seen
    left = run["helper_left"]
    assert isinstance(left, list) and len(left) == 1 and left[0] > 0


def test_a_helper_that_dies_changes_nothing(serial: tuple[Path, object],
                                            tmp_path: Path) -> None:
    repo, seen = serial
    run = _run(repo, tmp_path / "cache", "dies")
    assert run["seen"] == seen and run["helper_left"] == [0]


def _cli(repo: Path, cache: Path, *options: str) -> object:
    """`ccc test REPO --format json` in a process of its own, without its timings."""
    env = {**os.environ, "CCC_CACHE_DIR": str(cache)}
    done = subprocess.run([sys.executable, "-m", "ccc_dsl", "test", str(repo), "--format",
                           "json", *options], capture_output=True, text=True, env=env,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]

    def timeless(value: object) -> object:
        if isinstance(value, dict):
            return {k: timeless(v) for k, v in value.items() if k != "seconds"}
        return [timeless(v) for v in value] if isinstance(value, list) else value

    return timeless(json.loads(done.stdout))


def test_ccc_test_n2_forks_the_helper_first_and_reports_as_n1(
        serial: tuple[Path, object], tmp_path: Path) -> None:
    repo, _ = serial
    """The CLI forks the helper before it imports the test machinery (start_early)."""
    assert _cli(repo, tmp_path / "n2", "-n", "2") == _cli(repo, tmp_path / "n1", "-n", "1")


def test_a_helper_only_for_a_build_not_kept_yet(monkeypatch: pytest.MonkeyPatch,
                                                 serial: tuple[Path, object],
                                                 tmp_path: Path) -> None:
    repo, _ = serial
    forks: list[int] = []
    monkeypatch.setattr(os, "fork", lambda: forks.append(1) or 4242)  # no child is made
    monkeypatch.setattr(prebuild, "cores", lambda: 2)
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    monkeypatch.setenv("CCC_CACHE_DIR", str(tmp_path / "cache"))
    assert prebuild.start(repo, None) == 4242 and forks == [1]  # cold: the helper would build
    cached_bundle(repo, None)
    assert prebuild.start(repo, None) is None and forks == [1]  # kept: nothing to build ahead


def test_no_helper_without_a_cache_a_second_core_or_with_threads(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    forks: list[int] = []
    monkeypatch.setattr(os, "fork", lambda: forks.append(1) or 1 // 0)
    monkeypatch.setattr(prebuild, "cores", lambda: 1)
    assert prebuild.start(tmp_path, None) is None
    monkeypatch.setattr(prebuild, "cores", lambda: 2)
    blocker = threading.Event()
    thread = threading.Thread(target=blocker.wait)
    thread.start()
    try:
        assert prebuild.start(tmp_path, None) is None  # another thread runs: no fork
    finally:
        blocker.set()
        thread.join()
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    monkeypatch.setenv("CCC_NO_CACHE", "1")
    assert prebuild.start(tmp_path, None) is None
    assert forks == []
