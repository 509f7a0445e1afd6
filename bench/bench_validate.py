"""Benchmark `ccc validate` on a generated repo of 10,000 resources in 100 files: with the cache
cold (empty), warm (nothing changed since the last run: the whole result is reused), and warm
after one file was edited (the other files' parsed YAML is reused). Prints the figures; not a
timed test.

    python bench/bench_validate.py [--repo DIR] [--runs 5]

Goal (the issue): cold under 2 s, warm under 0.5 s, for the whole command on this machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_manifests import generate


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n"
                         f"{done.stdout[:2000]}{done.stderr[:2000]}")
    return elapsed


def _in_process(repo: Path) -> float:
    from ccc_dsl.manifest.loader import load_repo

    start = time.perf_counter()
    result = load_repo(repo, None)
    elapsed = time.perf_counter() - start
    assert not result.diagnostics, result.diagnostics[:3]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repo", type=Path, help="use (or create) this repo folder")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo = args.repo or Path(tmp) / "repo"
        if not (repo / "ccc.yaml").exists():
            counts = generate(repo)
            print(f"generated {sum(counts.values())} resources in 100 files: {counts}")
        cmd = [sys.executable, "-m", "ccc_dsl", "validate", str(repo)]
        env = dict(os.environ)
        env.pop("CCC_NO_CACHE", None)
        cold, warm = [], []
        for i in range(args.runs):
            env["CCC_CACHE_DIR"] = str(Path(tmp) / f"cold-cache-{i}")
            cold.append(_timed(cmd, env))
        env["CCC_CACHE_DIR"] = str(Path(tmp) / "warm-cache")
        _timed(cmd, env)
        warm = [_timed(cmd, env) for _ in range(args.runs)]
        edited = []
        some_file = sorted(repo.glob("*.yaml"))[-1]
        for i in range(args.runs):
            with some_file.open("a", encoding="utf-8") as out:
                out.write(f"# edit {i}\n")
            edited.append(_timed(cmd, env))
        os.environ["CCC_CACHE_DIR"] = str(Path(tmp) / "in-process-cache")
        in_cold = _in_process(repo)
        in_warm = statistics.median(_in_process(repo) for _ in range(args.runs))
    print(f"ccc validate, cold cache: median {statistics.median(cold):.2f} s "
          f"(min {min(cold):.2f}, max {max(cold):.2f}) over {args.runs} runs")
    print(f"ccc validate, warm cache: median {statistics.median(warm):.2f} s "
          f"(min {min(warm):.2f}, max {max(warm):.2f})")
    print(f"ccc validate, warm cache, one file edited: median {statistics.median(edited):.2f} s "
          f"(min {min(edited):.2f}, max {max(edited):.2f})")
    print(f"load_repo in process: cold {in_cold:.2f} s, warm {in_warm:.2f} s")


if __name__ == "__main__":
    main()
