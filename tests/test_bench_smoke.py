"""The benchmarks still run (tiny sizes, no timings asserted): a benchmark that rots unnoticed
reports nothing the next time someone needs its figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"

CASES = {
    "bench_parse.py": (["--flows", "20", "--repeat", "1"], "ratio ccc / bare"),
    "bench_compile.py": (["--flows", "20", "--repeat", "1"], "end to end"),
    "bench_flowtests.py": (["--tests", "60", "--runs", "1"], "-n auto / serial"),
    "bench_vm.py": (["--calls", "20"], "steps/s"),
    "bench_sip_load.py": (["--targets", "ours", "--calls", "2", "--ramp", "10",
                           "--extra-hold-ms", "1200", "--latency-calls", "2",
                           "--latency-hold-ms", "1500"], "all digits heard"),
}


@pytest.mark.parametrize("script", sorted(CASES))
def test_benchmark_runs_and_prints_its_figures(script: str) -> None:
    args, marker = CASES[script]
    done = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert marker in done.stdout


def test_compile_benchmark_on_disk_times_cold_warm_and_one_edit() -> None:
    done = subprocess.run([sys.executable, str(BENCH / "bench_compile.py"), "--cli", "--flows",
                           "10", "--runs", "1"], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "one flow edited" in done.stdout and "warm" in done.stdout


def test_compile_benchmark_times_the_writes_after_one_edit() -> None:
    done = subprocess.run([sys.executable, str(BENCH / "bench_compile.py"), "--phases",
                           "--flows", "10", "--runs", "2"], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "read the index" in done.stdout and "together" in done.stdout


def test_validate_benchmark_on_a_small_generated_repo(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    subprocess.run([sys.executable, str(BENCH / "gen_manifests.py"), str(repo),
                    "--resources", "300", "--files", "5"], check=True, capture_output=True,
                   timeout=120)
    done = subprocess.run([sys.executable, str(BENCH / "bench_validate.py"), "--repo", str(repo),
                           "--runs", "1"], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "warm cache, one file edited" in done.stdout


def test_plan_benchmark_on_a_small_generated_repo(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(BENCH / "bench_plan.py"), "--repo",
                           str(tmp_path / "repo"), "--resources", "100", "--files", "2",
                           "--runs", "1"], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "1 changed since the last apply; Plan: 0 to add, 1 to change" in done.stdout
    assert "ccc plan --refresh=false, warm cache" in done.stdout
