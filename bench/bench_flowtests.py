"""Benchmark: a CI flow-test run of 1,000 tests (goal: under 2 s), and simulated calls per
second through the example flows.

Copies the example repo to a temporary folder, writes its tests/ again and again until there
are N tests, and times:
  - the whole `ccc test` command in a fresh process (interpreter start, compile, all tests,
    coverage) - what CI pays: cold (an empty cache, as in CI) serially and with `-n auto`,
    rounds interleaved so both see the same machine; then warm with `--changed` after one
    sub-flow edit (only the tests whose calls ran through it). Wall seconds, and the CPU
    seconds of the command and every process it forked (on a loaded machine the wall time is
    noise, the CPU time much less so);
  - `run_tests` in process, and its parts: compiling the repo, running the calls;
  - the calls alone (already prepared cases, one event loop): simulated calls per second and
    interpreter steps per second through the example flows.
Prints the figures; not a timed test.

    .venv/bin/python bench/bench_flowtests.py [--tests 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ccc_dsl.flowtest.model import load_test_file
from ccc_dsl.flowtest.runner import Case, prepare, run_cases, run_tests
from ccc_dsl.pipeline import build_bundle
from ccc_dsl.util import cores

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def make_repo(folder: Path, count: int) -> Path:
    """The example repo with `count` tests: copies of its own test files, renamed."""
    repo = folder / "examples"
    shutil.copytree(EXAMPLES, repo)
    sources = sorted((repo / "tests").glob("*.yaml"))
    per_copy = 0
    for path in sources:
        model = load_test_file(path).model
        assert model is not None, path
        per_copy += len(model.tests)
    copies = -(-count // per_copy)
    for i in range(1, copies):
        for source in sources:
            text = source.read_text(encoding="utf-8").replace("  - name: ", f"  - name: copy{i} ")
            (repo / "tests" / f"{source.stem}_{i}.yaml").write_text(text, encoding="utf-8")
    return repo


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _ccc_test(repo: Path, cache: Path, *options: str) -> tuple[float, float, str]:
    """One `ccc test` in a fresh process: wall seconds, CPU seconds (its own and its forked
    helpers') and its summary line."""
    env = {**os.environ, "CCC_CACHE_DIR": str(cache)}
    env.pop("CCC_NO_CACHE", None)
    cpu = _cpu()
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "ccc_dsl", "test", str(repo), *options],
                          capture_output=True, text=True, check=False, env=env)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1) or not done.stdout.strip():  # 1: a test failed (timed too)
        print(done.stdout[-2000:], done.stderr[-2000:])
        raise SystemExit("ccc test did not run")
    return wall, _cpu() - cpu, done.stdout.strip().splitlines()[-1]


def cli_rounds(repo: Path, tmp: Path, runs: int) -> None:
    """`ccc test` cold, serially and with -n auto (interleaved), then --changed after an edit."""
    names = ("cold, serial", "cold, -n auto", "--changed, one sub-flow edited")
    walls: dict[str, list[float]] = {name: [] for name in names}
    cpus: dict[str, list[float]] = {name: [] for name in names}
    summary = ""
    sub = repo / "flows" / "after_hours.ivr"
    for round_ in range(runs):
        for name, workers in (("cold, serial", "1"), ("cold, -n auto", "auto")):
            wall, cpu, summary = _ccc_test(repo, tmp / f"cache-{round_}-{workers}", "-n",
                                           workers, "--min-coverage", "100")
            walls[name].append(wall)
            cpus[name].append(cpu)
        cache = tmp / f"cache-{round_}-1"  # the serial run's record
        sub.write_text(sub.read_text(encoding="utf-8") + f"// edit {round_}\n", encoding="utf-8")
        wall, cpu, changed = _ccc_test(repo, cache, "--changed", "--min-coverage", "100")
        walls[names[2]].append(wall)
        cpus[names[2]].append(cpu)
    print(f"ccc test in a fresh process ({cores()} core(s) for -n auto), "
          f"median of {runs}; {summary}; load average {os.getloadavg()[0]:.1f}")
    for name, values in walls.items():
        print(f"  {name:<32} {statistics.median(values):6.2f} s  "
              f"({min(values):.2f}-{max(values):.2f})  CPU {statistics.median(cpus[name]):.2f} s")
    print(f"  --changed said: {changed}")
    serial, parallel = (statistics.median(walls[k]) for k in ("cold, serial", "cold, -n auto"))
    print(f"  -n auto / serial: {parallel / serial:.2f}  (goal: 1,000 tests under 2 s cold)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_repo(Path(tmp), args.tests)
        cli_rounds(repo, Path(tmp), args.runs)

        report = run_tests(repo)
        print(f"{'run_tests in process':24} {len(report.results)} tests in "
              f"{report.seconds:.3f} s")

        started = time.perf_counter()
        built = build_bundle(repo, None)
        compile_s = time.perf_counter() - started
        bundle = built.bundle
        assert bundle is not None, built.diagnostics
        print(f"{'  compile again (warm)':24} {compile_s:.3f} s")
        cases: list[Case] = []
        for path in sorted((repo / "tests").glob("*.yaml")):
            found, _ = prepare(load_test_file(path), bundle)
            cases += found
        times, steps = [], 0
        for _ in range(args.runs):
            started = time.perf_counter()
            results = asyncio.run(run_cases(bundle, cases))
            times.append(time.perf_counter() - started)
            steps = sum(r.result.steps for r in results)
        best = statistics.median(times)
        print(f"{'  calls only':24} {len(cases)} calls, {steps} steps in {best:.3f} s: "
              f"{len(cases) / best:,.0f} calls/s, {steps / best:,.0f} steps/s, "
              f"{best / len(cases) * 1e6:.0f} us per test")


if __name__ == "__main__":
    main()
