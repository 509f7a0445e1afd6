"""End-to-end compile throughput (parse, resolve, analyse, emit) on the generated corpus.

    .venv/bin/python bench/bench_compile.py [--flows 2000] [--seed 42] [--repeat 3] [--cpu]
    .venv/bin/python bench/bench_compile.py --cli [--flows 2000] [--runs 3]
    .venv/bin/python bench/bench_compile.py --phases [--flows 2000] [--runs 7]

The corpus is bench/gen_flows.py's `generate_corpus` (about 25 lines per flow, the example
call center's names) plus the six example flows they call; names resolve against the example
manifests (loaded once, not timed).
Pinned to one core. Each stage is timed over the whole corpus; the best of --repeat rounds is
reported, with each stage's share. Goal: >= 1,000 flows/s end to end. --cpu: CPU seconds
instead of wall seconds (on a loaded machine wall times say how long others held the core).

With --cli: the corpus written into a copy of the example repo (flows/gen/), and the whole
`ccc compile` command timed in fresh processes, rounds interleaved: cold (empty cache), warm
(unchanged repo: the build cache, ccc_dsl/compiler/cache.py) and one flow edited (the
incremental build, ccc_dsl/compiler/incremental.py); then in process, alternately, the cold
`compile_repo` and the incremental build after editing one flow (best of --runs each; the
manifests loaded once, not timed).

With --phases: the data work of `ccc compile` after one edit that grows with the repo, in
process, each round after appending a comment to one generated flow: reading the incremental
index, writing it (`Incremental.keep`), writing the whole-build entry (`store_build`) and the
output folder (`write_tree(reuse=True)`), as `pipeline.cached_bundle` and `ccc compile` run
them one after the other (medians). It also runs against an older checkout put first on
PYTHONPATH (keep then returns nothing and store_build takes no image places).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gen_flows import generate_corpus

from ccc_dsl.compiler.emit import emit
from ccc_dsl.compiler.incremental import incremental_build
from ccc_dsl.compiler.ir import lower_flow
from ccc_dsl.compiler.passes import analyse, optimize
from ccc_dsl.compiler.program import Program
from ccc_dsl.compiler.resolve import resolve_names
from ccc_dsl.compiler.results import COMPILER_VERSION
from ccc_dsl.diagnostics import Diagnostic
from ccc_dsl.grammar import ast
from ccc_dsl.grammar.parser import parse_text
from ccc_dsl.manifest.loader import load_repo
from ccc_dsl.pipeline import compile_repo
from ccc_dsl.util import paused_gc

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
STAGES = ("parse", "resolve", "analyse", "emit")


def one_round(corpus: list[tuple[str, str]], model: object,
              clock: Callable[[], float] = time.perf_counter,
              ) -> tuple[dict[str, float], list[Diagnostic], int]:
    modules: list[ast.Module] = []
    with paused_gc():  # as pipeline.check_repo, driver.analyse and driver.emit_all do
        t0 = clock()
        for name, text in corpus:
            parsed = parse_text(text, name)
            if parsed.module is not None:
                modules.append(parsed.module)
        t1 = clock()
        diagnostics = resolve_names(modules, model)  # type: ignore[arg-type]
        t2 = clock()
        flows = {f.name: lower_flow(f, m.file) for m in modules for f in m.flows}
        program = Program(flows, model, EXAMPLES)  # type: ignore[arg-type]
        for ir in flows.values():
            diagnostics += analyse(ir, program)
        t3 = clock()
        broken = {d.span.file for d in diagnostics if d.is_error and d.span is not None}
        images = [emit(optimize(ir), "0" * 64, COMPILER_VERSION, ir.file)
                  for ir in flows.values()
                  if ir.file not in broken]  # as `ccc compile`: flows with errors aren't emitted
        t4 = clock()
    times = dict(zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True))
    return times, diagnostics, len(images)


def _ccc_compile(repo: Path, cache: Path) -> float:
    """One `ccc compile` in a fresh process, wall seconds."""
    env = {**os.environ, "CCC_CACHE_DIR": str(cache)}
    env.pop("CCC_NO_CACHE", None)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ccc_dsl", "compile", str(repo), "-o",
                    str(repo.parent / "out")], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def cli_rounds(flows: int, seed: int, runs: int) -> None:
    """`ccc compile` of the corpus on disk: cold, warm, one flow edited (medians)."""
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        shutil.copytree(EXAMPLES, repo, ignore=shutil.ignore_patterns("build"))
        gen = repo / "flows" / "gen"
        gen.mkdir()
        for i, (_, text) in enumerate(generate_corpus(flows, seed)):
            (gen / f"g{i:05d}.ivr").write_text(text, encoding="utf-8")
        edited = gen / "g00000.ivr"
        times: dict[str, list[float]] = {"cold": [], "warm": [], "one flow edited": []}
        for round_ in range(runs):
            cache = Path(tmp) / f"cache{round_}"
            times["cold"].append(_ccc_compile(repo, cache))
            times["warm"].append(_ccc_compile(repo, cache))
            edited.write_text(edited.read_text(encoding="utf-8") + f"// edit {round_}\n",
                              encoding="utf-8")
            times["one flow edited"].append(_ccc_compile(repo, cache))
        cold_best = incr_best = float("inf")
        loaded = load_repo(repo, None)
        os.environ["CCC_CACHE_DIR"] = str(Path(tmp) / "cache-in-process")
        first = incremental_build(loaded, None)
        assert first is not None
        first.keep(verified=True)  # the index to start from
        for round_ in range(runs):
            start = time.perf_counter()
            compile_repo(repo, None, loaded)
            cold_best = min(cold_best, time.perf_counter() - start)
            edited.write_text(edited.read_text(encoding="utf-8") + f"// again {round_}\n",
                              encoding="utf-8")
            start = time.perf_counter()
            built = incremental_build(loaded, None)
            incr_best = min(incr_best, time.perf_counter() - start)
            assert built is not None and built.build.analysis is not None
            assert len(built.build.analysis.program.flows) == 1  # only the edited flow again
            built.keep(verified=True)
        n = flows + 6
        print(f"in process, best of {runs}: cold compile_repo {cold_best:.3f} s, "
              f"incremental build after one edit {incr_best:.3f} s "
              f"({cold_best / incr_best:.1f}x faster)")
        print(f"`ccc compile` of {n} flows on disk, median of {runs} (fresh processes):")
        for name, values in times.items():
            med = statistics.median(values)
            print(f"  {name:<16} {med:6.2f} s  ({min(values):.2f}-{max(values):.2f})  "
                  f"{n / med:6.0f} flows/s")
        print("goal: one flow edited < 0.5 s")


def phase_rounds(flows: int, seed: int, runs: int) -> None:
    """The four phases of `ccc compile` after one edit that read or write the whole repo's
    images (medians of `runs` edits, each after a first cold build)."""
    from ccc_runtime.rundir import write_tree

    from ccc_dsl.cache import repo_snapshot
    from ccc_dsl.compiler import cache, incremental
    from ccc_dsl.pipeline import build_bundle

    with tempfile.TemporaryDirectory() as tmp:
        repo, out = Path(tmp) / "repo", Path(tmp) / "out"
        shutil.copytree(EXAMPLES, repo, ignore=shutil.ignore_patterns("build"))
        gen = repo / "flows" / "gen"
        gen.mkdir()
        for i, (_, text) in enumerate(generate_corpus(flows, seed)):
            (gen / f"g{i:05d}.ivr").write_text(text, encoding="utf-8")
        os.environ["CCC_CACHE_DIR"] = str(Path(tmp) / "cache")
        _ccc_compile(repo, Path(tmp) / "cache")
        (index,) = (Path(tmp) / "cache" / "incremental").glob("*.json")
        edited = gen / "g00000.ivr"
        times: dict[str, list[float]] = {
            "read the index": [], "write the index": [], "whole-build entry": [],
            "output folder": []}
        for round_ in range(runs):
            edited.write_text(edited.read_text(encoding="utf-8") + f"// edit {round_}\n",
                              encoding="utf-8")
            with paused_gc():
                snapshot = repo_snapshot(repo)
                key = cache.build_key(repo, None, snapshot)
                start = time.perf_counter()
                incremental._load_index(index)
                times["read the index"].append(time.perf_counter() - start)
                built = incremental_build(load_repo(repo, None), None, snapshot)
                assert built is not None
                bundle = build_bundle(repo, None, built.build, built.reused)
                start = time.perf_counter()
                images = built.keep(verified=bundle.ok)
                times["write the index"].append(time.perf_counter() - start)
                start = time.perf_counter()
                if images is None:
                    cache.store_build(key, bundle.build, bundle.files, bundle.diagnostics)
                else:
                    cache.store_build(key, bundle.build, bundle.files, bundle.diagnostics,
                                      images)
                times["whole-build entry"].append(time.perf_counter() - start)
            start = time.perf_counter()
            write_tree(bundle.files, out, reuse=True)
            times["output folder"].append(time.perf_counter() - start)
        print(f"`ccc compile` after one edit of {flows + 6} flows, in process, "
              f"median of {runs} edits:")
        for name, values in times.items():
            print(f"  {name:<18} {1000 * statistics.median(values):6.1f} ms  "
                  f"({1000 * min(values):.1f}-{1000 * max(values):.1f})")
        total = sum(statistics.median(v) for v in times.values())
        print(f"  {'together':<18} {1000 * total:6.1f} ms  (goal <= 60 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cli", action="store_true", help="time `ccc compile` on disk")
    parser.add_argument("--phases", action="store_true",
                        help="time the index, cache and output-folder writes after one edit")
    parser.add_argument("--runs", type=int, default=3, help="rounds of --cli or --phases")
    parser.add_argument("--cpu", action="store_true",
                        help="time the stages in CPU seconds (process_time): a loaded machine")
    args = parser.parse_args()
    if args.cli:
        cli_rounds(args.flows, args.seed, args.runs)
        return
    if args.phases:
        phase_rounds(args.flows, args.seed, args.runs)
        return
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    loaded = load_repo(EXAMPLES, None)
    # The generated flows call the example flows (`call flow survey`): compile them along.
    corpus = [*generate_corpus(args.flows, args.seed),
              *((str(p), p.read_text(encoding="utf-8")) for p in loaded.flow_files)]
    lines = sum(text.count("\n") for _, text in corpus)
    one_round(corpus[:50] + corpus[-6:], loaded.model)  # warm up: grammar cache, imports
    best: dict[str, float] | None = None
    for _ in range(args.repeat):
        times, diagnostics, emitted = one_round(
            corpus, loaded.model, time.process_time if args.cpu else time.perf_counter)
        if best is None or sum(times.values()) < sum(best.values()):
            best = times
    assert best is not None
    total = sum(best.values())
    print(f"corpus: {len(corpus)} flows, {lines} lines ({lines / len(corpus):.1f} lines/flow), "
          f"seed {args.seed}; {emitted} images emitted (flows with errors are not)")
    for stage in STAGES:
        print(f"  {stage:<8} {best[stage]:7.3f} s  {100 * best[stage] / total:5.1f} %  "
              f"{len(corpus) / best[stage]:8.0f} flows/s")
    print(f"end to end: {total:.3f} s  {len(corpus) / total:.0f} flows/s  (goal >= 1,000)")
    codes = Counter(d.code for d in diagnostics)
    print("diagnostics in the corpus: " + (", ".join(f"{c} x{n}" for c, n in sorted(
        codes.items())) or "none"))


if __name__ == "__main__":
    main()
