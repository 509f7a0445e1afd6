"""Benchmark: a CI flow-test run of 1,000 tests (goal: under 2 s), and simulated calls per
second through the example flows.

Copies the example repo to a temporary folder, writes its tests/ again and again until there
are N tests, and times:
  - the whole `ccc test` command in a fresh process (interpreter start, compile, all tests,
    coverage) - what CI pays;
  - `run_tests` in process, and its parts: compiling the repo, running the calls;
  - the calls alone (already prepared cases, one event loop): simulated calls per second and
    interpreter steps per second through the example flows.
Prints the figures; not a timed test.

    .venv/bin/python bench/bench_flowtests.py [--tests 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_repo(Path(tmp), args.tests)
        ccc = [sys.executable, "-m", "ccc_dsl", "test", str(repo), "--min-coverage", "100"]
        walls, summary = [], ""
        for _ in range(args.runs):
            started = time.perf_counter()
            done = subprocess.run(ccc, capture_output=True, text=True, check=False)
            walls.append(time.perf_counter() - started)
            summary = done.stdout.strip().splitlines()[-1]
            if done.returncode != 0:
                print(done.stdout[-2000:], done.stderr[-2000:])
                raise SystemExit("the flow tests failed")
        print(f"{'ccc test (process)':24} {summary}; wall {statistics.median(walls):.2f} s "
              f"(median of {args.runs})")

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
