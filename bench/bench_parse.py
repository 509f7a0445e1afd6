"""Parse throughput of the IVR front end on a generated corpus, against a bare Lark parse.

    .venv/bin/python bench/bench_parse.py [--flows 2000] [--seed 42] [--repeat 7] [--by-rule]

Both runs use the same grammar and Lark options on the same corpus in one process, pinned to
one core: "bare" is Lark's LALR parse with an empty action for every rule (no tree, no AST);
"ccc" is `parse_text`, which builds the typed AST with spans and runs the P2xx checks. Each
round runs both, one after the other; the figures are CPU times (process_time), medians over
--repeat rounds, and the median of the rounds' ratios, which a loaded machine disturbs least.
`--by-rule` also times every rule's action on its own (each timed call adds the same overhead
to both sides): where the time over the bare parse goes.
Goals (issue 13): ccc <= 1.10x bare; issue 10 holds it to <= 1.3x as the language grows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lark import Lark, Transformer, Tree

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gen_flows import generate_corpus

from ccc_dsl.grammar.parser import GRAMMAR_PATH, lark_options, lark_parser, parse_text


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


def _rounds(runs: dict[str, Callable[[], None]], repeat: int) -> dict[str, list[float]]:
    """Each run's CPU time in each of `repeat` rounds; within a round the runs follow each
    other. CPU time, not wall time: on a machine shared with other jobs the wall time of a run
    mostly measures how long others held the core."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            start = time.process_time()
            run()
            times[name].append(time.process_time() - start)
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
    """Prints each rule's action cost per flow, ours against the bare parse's, largest first."""
    bare = bare_parser()
    ours = lark_parser()
    bare_t, ours_t = _time_actions(bare), _time_actions(ours)
    for _ in range(repeat):
        for _, text in corpus:
            bare.parse(text)
        for name, text in corpus:
            parse_text(text, name)
    flows = len(corpus) * repeat
    extra = {k: (v[1] - bare_t.get(k, [0, 0.0])[1]) for k, v in ours_t.items()}
    print(f"rule actions per flow: bare {sum(v[1] for v in bare_t.values()) / flows * 1e6:.1f} us, "
          f"ccc {sum(v[1] for v in ours_t.values()) / flows * 1e6:.1f} us "
          f"({sum(v[0] for v in ours_t.values()) / flows:.1f} actions per flow)")
    print(f"{'rule':28s} {'calls/flow':>10s} {'ccc us/call':>11s} {'bare us/call':>12s} "
          f"{'extra us/flow':>13s}")
    for name in sorted(extra, key=lambda k: -extra[k]):
        calls, seconds = ours_t[name]
        if not calls or extra[name] * 1e6 / flows < 0.5:
            continue
        bare_calls, bare_seconds = bare_t.get(name, [0, 0.0])
        print(f"{name:28s} {calls / flows:10.2f} {seconds / calls * 1e6:11.2f} "
              f"{bare_seconds / max(bare_calls, 1) * 1e6:12.2f} {extra[name] / flows * 1e6:13.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--by-rule", action="store_true", help="time each rule's action")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    corpus = generate_corpus(args.flows, args.seed)
    lines = sum(text.count("\n") for _, text in corpus)
    if args.by_rule:
        by_rule(corpus, args.repeat)
        return
    bare = bare_parser()

    def run_bare() -> None:
        for _, text in corpus:
            bare.parse(text)

    def run_ccc() -> None:
        for name, text in corpus:
            result = parse_text(text, name)
            if result.module is None:
                raise SystemExit(f"{name}: {result.diagnostics[0]}")

    run_bare()
    run_ccc()  # warm up both (grammar cache, imports)
    times = _rounds({"bare": run_bare, "ccc": run_ccc}, args.repeat)
    t_bare, t_ccc = statistics.median(times["bare"]), statistics.median(times["ccc"])
    ratio = statistics.median(c / b for b, c in zip(times["bare"], times["ccc"], strict=True))
    n = len(corpus)
    print(f"corpus: {n} flows, {lines} lines ({lines / n:.1f} lines/flow), seed {args.seed}")
    print(f"bare lark LALR (empty actions): {t_bare:.3f} s CPU  {n / t_bare:8.0f} flows/s")
    print(f"ccc parse_text (typed AST):      {t_ccc:.3f} s CPU  {n / t_ccc:8.0f} flows/s")
    print(f"ratio ccc / bare: {ratio:.2f}x, median of {args.repeat} rounds "
          f"(range {min(c / b for b, c in zip(times['bare'], times['ccc'], strict=True)):.2f}-"
          f"{max(c / b for b, c in zip(times['bare'], times['ccc'], strict=True)):.2f}x; "
          "goal <= 1.10x)")


if __name__ == "__main__":
    main()
