"""Benchmark `ccc plan` on a generated repo of 10,000 resources in 100 files against a state of
the same size (one apply to a local target), with 1 % of the resources changed since: cold
(empty validate cache) and warm (the cache holds every file's parsed YAML), both without
refresh, then warm with refresh. Then the same plan in process, phase by phase, to show where
the time goes (`--profile` adds the top functions). Prints the figures; not a timed test.

    python bench/bench_plan.py [--repo DIR] [--resources 10000] [--runs 5] [--profile]

Goals (issue 9): under 1 s without refresh cold, under 0.3 s when the repo's validate cache is
warm, for the whole command on this machine.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_manifests import generate

ENV = "bench"
TARGET = "    target: {type: local, path: .ccc/runtime/bench}\n"
T = TypeVar("T")


def _ccc(repo: Path, args: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)) -> str:
    done = subprocess.run([sys.executable, "-m", "ccc_dsl", *args], cwd=repo, env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    if done.returncode not in ok:
        raise SystemExit(f"ccc {' '.join(args)} failed ({done.returncode}):\n"
                         f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


def _timed(repo: Path, args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one command; the CPU (user + system) counts the YAML helper
    process a cold run forks, so on a loaded machine it says what the wall time can't."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    _ccc(repo, args, env, ok=(0, 2))
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


EDITS = [(re.compile(r"(display_name: Agent \d+)\n"), r"\1 (renamed)\n"),
         (re.compile(r'(en: \{tts: "Prompt number \d+)"'), r'\1, changed"'),
         (re.compile(r"(outbound_concurrency: )(1?\d)\n"), None)]
"""What a change is: an agent renamed, a prompt's text, a number's concurrency (None: +1)."""


def prepare(repo: Path, resources: int, files: int, env: dict[str, str]) -> int:
    """Generate the repo, apply it once (the state), then change 1 % of the resources (spread
    over agents, prompts and numbers). Returns how many were changed."""
    generate(repo, resources, files)
    root = repo / "ccc.yaml"
    text = root.read_text(encoding="utf-8")
    root.write_text(text.replace("  bench:\n", "  bench:\n" + TARGET, 1), encoding="utf-8")
    _ccc(repo, ["apply", ".", "--env", ENV, "--auto-approve"], env)
    paths = sorted((repo / "resources").glob("*.yaml"))
    texts = {path: path.read_text(encoding="utf-8") for path in paths}
    candidates = sum(len(p.findall(t)) for t in texts.values() for p, _ in EDITS)
    every = max(1, candidates // max(1, resources // 100))
    seen = changed = 0

    def one(match: re.Match[str], replacement: str | None) -> str:
        nonlocal seen, changed
        seen += 1
        if seen % every:
            return match.group(0)
        changed += 1
        if replacement is None:
            return f"{match.group(1)}{(int(match.group(2)) + 1) % 20}\n"
        return match.expand(replacement)

    for path, content in texts.items():
        for pattern, replacement in EDITS:
            content = pattern.sub(lambda m, r=replacement: one(m, r), content)
        path.write_text(content, encoding="utf-8")
    return changed


def _phase(name: str, work: Callable[[], T], phases: list[tuple[str, float]]) -> T:
    start = time.perf_counter()
    result = work()
    phases.append((name, time.perf_counter() - start))
    return result


def in_process(repo: Path, profile: bool) -> list[tuple[str, float]]:
    """One plan without refresh in this process, timed phase by phase: warm (the desired
    state from the cache), then cold (built from the repo, as on a cache miss)."""
    phases: list[tuple[str, float]] = []
    _phase("import ccc_dsl.deploy.apply", lambda: __import__("ccc_dsl.deploy.apply"), phases)
    from ccc_dsl.deploy.apply import env_of
    from ccc_dsl.deploy.desired import Desired, build_desired, load_desired
    from ccc_dsl.deploy.plan import make_plan
    from ccc_dsl.views.plan_text import render_text

    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()

    def plan_with(desired: Desired, label: str) -> None:
        opened = env_of(repo, desired.env, desired.target)
        assert not isinstance(opened, Diagnostic), opened
        state = _phase(f"{label}: state load", opened.backend.load, phases)
        plan = _phase(f"{label}: make_plan (diff, order)", lambda: make_plan(
            desired.resources, state, None, opened.hosts, env=desired.env,
            target=opened.target_label, digest=desired.digest, root=repo,
            pictures=desired.picture, immutable=desired.immutable), phases)
        _phase(f"{label}: render_text", lambda: render_text(plan, color=False), phases)

    from ccc_dsl.diagnostics import Diagnostic

    warm = _phase("warm: load_desired (cache hit)", lambda: load_desired(repo, ENV), phases)
    assert isinstance(warm, Desired), warm
    plan_with(warm, "warm")
    cold = _phase("cold: build_desired (load, compile, bundle, resources)",
                  lambda: build_desired(repo, ENV), phases)
    assert isinstance(cold, Desired), cold
    plan_with(cold, "cold")
    if profiler is not None:
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        print(out.getvalue())
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repo", type=Path, help="use this (new) folder for the repo")
    parser.add_argument("--resources", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print the top functions")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo = args.repo or Path(tmp) / "repo"
        env = dict(os.environ, NO_COLOR="1", CCC_CACHE_DIR=str(Path(tmp) / "warm-cache"))
        env.pop("CCC_NO_CACHE", None)
        changed = prepare(repo, args.resources, args.files, env)
        plan = ["plan", ".", "--env", ENV, "--refresh=false"]
        summary = [line for line in _ccc(repo, plan, env, ok=(0,)).splitlines()  # warms too
                   if line.startswith("Plan:")]
        print(f"{args.resources} resources in {args.files} files, {changed} changed since the "
              f"last apply; {summary[0] if summary else 'no summary line'}")
        cold = []
        for i in range(args.runs):
            cold.append(_timed(repo, plan, {**env, "CCC_CACHE_DIR": str(Path(tmp) / f"c{i}")}))
        warm = [_timed(repo, plan, env) for _ in range(args.runs)]
        refreshed = [_timed(repo, plan[:-1], env) for _ in range(args.runs)]
        os.environ["CCC_CACHE_DIR"] = env["CCC_CACHE_DIR"]
        os.chdir(repo)  # as the commands ran: the cache key spells the repo's files as found
        phases = in_process(Path("."), args.profile)
        os.chdir(tmp)

    def line(label: str, runs: list[tuple[float, float]]) -> str:
        values = [wall for wall, _ in runs]
        cpu = statistics.median(c for _, c in runs)
        return (f"{label}: median {statistics.median(values):.2f} s (min {min(values):.2f}, "
                f"max {max(values):.2f}) over {len(values)} runs; CPU median {cpu:.2f} s")

    print(line("ccc plan --refresh=false, cold cache", cold))
    print(line("ccc plan --refresh=false, warm cache", warm))
    print(line("ccc plan (refresh), warm cache", refreshed))
    print("in process, by phase:")
    for name, seconds in phases:
        print(f"  {name:<58} {seconds:6.3f} s")


if __name__ == "__main__":
    main()
