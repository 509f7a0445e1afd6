"""Parse throughput of the IVR front end on a generated corpus, against a bare Lark parse.

    .venv/bin/python bench/bench_parse.py [--flows 2000] [--seed 42] [--repeat 7] [--chunk 50]
    .venv/bin/python bench/bench_parse.py --twin     # and a bare parse with ccc's lexer loop
    .venv/bin/python bench/bench_parse.py --by-rule [--flows 1000] [--repeat 5]
    .venv/bin/python bench/bench_parse.py --instructions [--flows 200]     # needs valgrind
    .venv/bin/python bench/bench_parse.py --startup [FLOW] [--repeat 7]   # fresh processes

Both runs use the same grammar and Lark options on the same corpus in one process, pinned to
one core: "bare" is Lark's LALR parse with an empty action for every rule (no tree, no AST);
"ccc" is `parse_text`, which builds the typed AST with spans and runs the P2xx checks (a valid
flow through grammar/driver.py's generated tables, the rest through Lark). In each
round the two take turns every 50 flows (the order alternating), so that a burst of load costs
both alike; the figures are CPU times (process_time), medians over --repeat rounds, and the
median of the rounds' ratios.
`--by-rule` times every rule's action on its own, run through Lark's path (the same actions and
glue as driver.py's; each timed call adds the same overhead to both sides): where the time over
the bare parse goes. `--instructions` counts instructions per
flow under valgrind (callgrind) instead: exact, whatever the load.
`--startup` times what a process pays before its first flow is parsed: import + one parse in a
fresh interpreter, ccc against bare Lark (loading its tables pickle), interleaved.
Goals (issue 13): ccc <= 1.10x bare; start-up <= 50 ms; issue 10 holds the ratio to <= 1.3x.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lark import Lark, Transformer, Tree

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gen_flows import generate_corpus

from ccc_dsl.grammar.glue import identity_rules
from ccc_dsl.grammar.lexing import fast_lexer
from ccc_dsl.grammar.parser import (
    GRAMMAR_PATH,
    TABLES_PATH,
    lark_options,
    lark_parser,
    parse_text,
)
from ccc_dsl.grammar.transformer import AstBuilder


class EmptyActions(Transformer[Any, Tree[Any]]):
    """Every rule's action does nothing and returns a new empty tree (Lark splices, and may
    extend in place, the children of inlined `_rules`, so an action must return something with
    its own `.children` list): the cost of lexing and LALR alone."""

    def __default__(self, data: Any, children: Any, meta: Any) -> Tree[Any]:
        return Tree(data, [])


def bare_parser() -> Lark:
    """Lark's LALR parser of the same grammar with the same options, actions all empty."""
    return Lark(GRAMMAR_PATH.read_text(encoding="utf-8"), transformer=EmptyActions(),
                **lark_options())


def _rounds(corpus: list[tuple[str, str]], runs: dict[str, Callable[[str, str], object]],
            repeat: int, chunk: int = 50) -> dict[str, list[float]]:
    """Each run's CPU time over the corpus in each of `repeat` rounds. Within a round the runs
    take turns chunk by chunk (`chunk` flows each, the order alternating), so that both see the
    same load: another job slowing the core for a second costs both the same share (`chunk` 0:
the whole corpus, then the other). CPU time,
    not wall time: on a machine shared with other jobs the wall time of a run mostly measures
    how long others held the core."""
    clock = time.process_time
    names = list(runs)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        totals = dict.fromkeys(names, 0.0)
        for turn, first in enumerate(range(0, len(corpus), chunk or len(corpus))):
            part = corpus[first:first + (chunk or len(corpus))]
            for name in names if turn % 2 == 0 else names[::-1]:
                run = runs[name]
                start = clock()
                for file, text in part:
                    run(text, file)
                totals[name] += clock() - start
        for name in names:
            times[name].append(totals[name])
    return times


_Timings = dict[str, list[float]]
"""Rule (or alias) name -> [calls, seconds]."""


def _time_actions(lark: Lark) -> _Timings:
    """Wraps every rule action of a Lark parser in a timer; returns the running totals."""
    callbacks: dict[Any, Any] = lark.parser.parser.parser.callbacks
    totals: _Timings = {}
    clock = time.perf_counter
    for rule, action in list(callbacks.items()):
        if not hasattr(rule, "origin"):  # a terminal's callback
            continue
        total = totals.setdefault(str(rule.alias or rule.origin.name), [0, 0.0])

        def timed(children: list[Any], action: Any = action, total: list[float] = total) -> Any:
            start = clock()
            value = action(children)
            total[1] += clock() - start
            total[0] += 1
            return value

        callbacks[rule] = timed
    return totals


def by_rule(corpus: list[tuple[str, str]], repeat: int) -> None:
    """Prints each rule's action cost per flow, ours against the bare parse's, largest first:
    for each rule the least of its totals over `repeat` rounds (the round others disturbed
    least), with the garbage collector paused so that no action is charged a collection."""
    bare = bare_parser()
    ours = lark_parser()
    builder = ours.options.transformer
    assert isinstance(builder, AstBuilder)
    bare_t, ours_t = _time_actions(bare), _time_actions(ours)
    best_bare: dict[str, list[float]] = {}
    best_ours: dict[str, list[float]] = {}
    gc.disable()
    try:
        for _ in range(repeat):
            for totals in (bare_t, ours_t):
                for total in totals.values():
                    total[:] = [0, 0.0]
            for _, text in corpus:
                bare.parse(text)
            for name, text in corpus:  # the same actions Lark's path runs as driver.py does
                builder.reset(name)
                ours.parse(text)
            for totals, best in ((bare_t, best_bare), (ours_t, best_ours)):
                for rule, (calls, seconds) in totals.items():
                    if rule not in best or seconds < best[rule][1]:
                        best[rule] = [calls, seconds]
    finally:
        gc.enable()
    flows = len(corpus)
    extra = {k: v[1] - best_bare.get(k, [0, 0.0])[1] for k, v in best_ours.items()}
    print(f"rule actions per flow: bare {sum(v[1] for v in best_bare.values()) / flows * 1e6:.1f}"
          f" us, ccc {sum(v[1] for v in best_ours.values()) / flows * 1e6:.1f} us "
          f"({sum(v[0] for v in best_ours.values()) / flows:.1f} actions per flow; each timed "
          "call adds the timer's own cost to both)")
    print(f"{'rule':28s} {'calls/flow':>10s} {'ccc us/call':>11s} {'bare us/call':>12s} "
          f"{'extra us/flow':>13s}")
    for name in sorted(extra, key=lambda k: -extra[k]):
        calls, seconds = best_ours[name]
        if not calls or extra[name] * 1e6 / flows < 0.5:
            continue
        bare_calls, bare_seconds = best_bare.get(name, [0, 0.0])
        print(f"{name:28s} {calls / flows:10.2f} {seconds / calls * 1e6:11.2f} "
              f"{bare_seconds / max(bare_calls, 1) * 1e6:12.2f} {extra[name] / flows * 1e6:13.1f}")


_WARM_UP = 20
"""Flows parsed by both parsers before anything is measured (grammar cache, imports)."""


def _run_once(corpus: list[tuple[str, str]], which: str) -> None:
    """One process's work for --instructions: warm up both parsers, then parse the corpus
    with `which` (bare, ccc, or none: the warm-up alone, subtracted from the others)."""
    bare = bare_parser()
    for name, text in corpus[:_WARM_UP]:
        bare.parse(text)
        parse_text(text, name)
    for name, text in corpus if which != "none" else ():
        if which == "bare":
            bare.parse(text)
        else:
            parse_text(text, name)


def instructions(flows: int, seed: int) -> None:
    """Instructions per flow of each parser, counted by valgrind's callgrind in three runs of
    this script (warm-up only, bare, ccc): exact and the same on a loaded machine, where
    times are not. It misses what time also pays for: cache misses and mispredicted branches
    (`--cache-sim` shows those, at ten times the run time)."""
    counts: dict[str, int] = {}
    for which in ("none", "bare", "ccc"):
        run = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
             __file__, "--flows", str(flows), "--seed", str(seed), "--run-once", which],
            capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"},
            check=True, timeout=3600)
        found = re.search(r"Collected : (\d+)", run.stderr)
        if found is None:
            raise SystemExit(f"no instruction count from valgrind: {run.stderr[-500:]}")
        counts[which] = int(found.group(1))
    bare, ccc = counts["bare"] - counts["none"], counts["ccc"] - counts["none"]
    print(f"instructions per flow ({flows} flows, callgrind): bare {bare / flows:,.0f}, "
          f"ccc {ccc / flows:,.0f}; ratio ccc / bare: {ccc / bare:.3f}x")


_STARTUP: dict[str, str] = {
    "ccc": ("from ccc_dsl.grammar.parser import parse_file\n"
            "if parse_file(flow).module is None: raise SystemExit('not a valid flow')\n"),
    "bare": ("from lark import Lark\n"
             "grammar = Path(sys.argv[2]).read_text(encoding='utf-8')\n"
             "Lark(grammar, parser='lalr', lexer='contextual', strict=True,"
             " maybe_placeholders=True, propagate_positions=False, cache=sys.argv[3])"
             ".parse(flow.read_text(encoding='utf-8'))\n"),
}
"""What --startup times in a fresh process: importing ccc's parser and parsing one flow, or
importing Lark and parsing it with Lark's parser loaded from the same tables pickle."""


STARTUP_FLOW = Path(__file__).resolve().parent.parent / "examples/flows/connect_queue.ivr"
"""--startup's flow unless one is named: an example without a template placeholder (the first
placeholder checked imports jinja2, ~20 ms, which a one-edit compile has loaded already)."""


def startup(flow: Path, runs: int) -> None:
    """Wall time from a fresh interpreter's first line to one flow parsed, ccc's against bare
    Lark's, in interleaved runs (medians): what a one-edit `ccc compile` pays to parse."""
    times: dict[str, list[float]] = {"ccc": [], "bare": []}
    for turn in range(runs):
        for which in ("ccc", "bare") if turn % 2 == 0 else ("bare", "ccc"):
            code = ("import time\nstart = time.perf_counter()\nimport sys\n"
                    "from pathlib import Path\nflow = Path(sys.argv[1])\n" + _STARTUP[which]
                    + "print(time.perf_counter() - start)\n")
            out = subprocess.run([sys.executable, "-c", code, str(flow), str(GRAMMAR_PATH),
                                  str(TABLES_PATH)], capture_output=True, text=True,
                                 check=True, timeout=120)
            times[which].append(float(out.stdout.split()[-1]))
    ccc, bare = statistics.median(times["ccc"]), statistics.median(times["bare"])
    print(f"start-up, import + first parse of {flow} (median of {runs} fresh processes each, "
          f"interleaved): ccc {ccc * 1000:.1f} ms, bare Lark {bare * 1000:.1f} ms; "
          f"ccc / bare {ccc / bare:.2f}x (goal: ccc <= 50 ms on a quiet machine)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--chunk", type=int, default=50,
                        help="flows per turn within a round (0: the whole corpus, then the other)")
    parser.add_argument("--by-rule", action="store_true", help="time each rule's action")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions under valgrind instead of timing")
    parser.add_argument("--twin", action="store_true",
                        help="also a bare parse with ccc's lexer loop and identity rules")
    parser.add_argument("--startup", type=Path, metavar="FLOW", nargs="?", const=STARTUP_FLOW,
                        help="time import + first parse of FLOW in fresh processes instead")
    parser.add_argument("--run-once", choices=("none", "bare", "ccc"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    if args.startup is not None:
        startup(args.startup, args.repeat)
        return
    corpus = generate_corpus(args.flows, args.seed)
    lines = sum(text.count("\n") for _, text in corpus)
    if args.run_once is not None:
        _run_once(corpus, args.run_once)
        return
    if args.instructions:
        instructions(args.flows, args.seed)
        return
    if args.by_rule:
        by_rule(corpus, args.repeat)
        return
    bare = bare_parser()

    def run_bare(text: str, file: str) -> None:
        bare.parse(text)

    def run_ccc(text: str, file: str) -> None:
        result = parse_text(text, file)
        if result.module is None:
            raise SystemExit(f"{file}: {result.diagnostics[0]}")

    runs: dict[str, Callable[[str, str], object]] = {"bare": run_bare, "ccc": run_ccc}
    if args.twin:  # Lark's loop as ccc runs it (grammar/lexing.py, glue.identity_rules)
        twin = bare_parser()
        assert identity_rules(twin.parser.parser.parser) and fast_lexer(twin)
        runs["twin"] = lambda text, file: twin.parse(text)
    _rounds(corpus, runs, 1)  # warm up both (grammar cache, imports)
    times = _rounds(corpus, runs, args.repeat, args.chunk)
    t_bare, t_ccc = statistics.median(times["bare"]), statistics.median(times["ccc"])
    ratio = statistics.median(c / b for b, c in zip(times["bare"], times["ccc"], strict=True))
    n = len(corpus)
    print(f"corpus: {n} flows, {lines} lines ({lines / n:.1f} lines/flow), seed {args.seed}")
    print(f"bare lark LALR (empty actions): {t_bare:.3f} s CPU  {n / t_bare:8.0f} flows/s")
    print(f"ccc parse_text (typed AST):      {t_ccc:.3f} s CPU  {n / t_ccc:8.0f} flows/s")
    turns = f"turns of {args.chunk} flows" if args.chunk else "one turn each"
    print(f"ratio ccc / bare: {ratio:.3f}x, median of {args.repeat} rounds, {turns} "
          f"(range {min(c / b for b, c in zip(times['bare'], times['ccc'], strict=True)):.2f}-"
          f"{max(c / b for b, c in zip(times['bare'], times['ccc'], strict=True)):.2f}x; "
          "goal <= 1.10x)")
    if args.twin:
        t_twin = statistics.median(times["twin"])
        twin_ratio = statistics.median(
            c / t for t, c in zip(times["twin"], times["ccc"], strict=True))
        print(f"bare with ccc's lexer loop and identity rules (--twin): {t_twin:.3f} s CPU  "
              f"{n / t_twin:8.0f} flows/s; ccc / twin {twin_ratio:.3f}x")


if __name__ == "__main__":
    main()
