"""Parse throughput of the IVR front end on a generated corpus, against a bare Lark parse.

    .venv/bin/python bench/bench_parse.py [--flows 2000] [--seed 42] [--repeat 10]

Both runs use the same grammar and Lark options on the same corpus in one process, pinned to
one core: "bare" is Lark's LALR parse with an empty action for every rule (no tree, no AST);
"ccc" is `parse_text`, which builds the typed AST with spans and runs the P2xx checks. The best
of --repeat interleaved rounds of each is reported.
Goals: ccc >= 1,500 flows/s, and ccc <= 1.3x bare.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from lark import Lark, Transformer, Tree

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gen_flows import generate_corpus

from ccc_dsl.grammar.parser import GRAMMAR_PATH, lark_options, parse_text


class EmptyActions(Transformer[Any, Tree[Any]]):
    """Every rule's action does nothing and returns a new empty tree (Lark splices, and may
    extend in place, the children of inlined `_rules`, so an action must return something with
    its own `.children` list): the cost of lexing and LALR alone."""

    def __default__(self, data: Any, children: Any, meta: Any) -> Tree[Any]:
        return Tree(data, [])


def _best_of(runs: dict[str, Any], repeat: int) -> dict[str, float]:
    """Best time of each run over `repeat` rounds, the runs interleaved within each round so a
    busy machine slows them alike."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeat):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    corpus = generate_corpus(args.flows, args.seed)
    lines = sum(text.count("\n") for _, text in corpus)
    bare = Lark(GRAMMAR_PATH.read_text(encoding="utf-8"), transformer=EmptyActions(),
                **lark_options())

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
    times = _best_of({"bare": run_bare, "ccc": run_ccc}, args.repeat)
    t_bare, t_ccc = times["bare"], times["ccc"]
    n = len(corpus)
    print(f"corpus: {n} flows, {lines} lines ({lines / n:.1f} lines/flow), seed {args.seed}")
    print(f"bare lark LALR (empty actions): {t_bare:.3f} s  {n / t_bare:8.0f} flows/s")
    print(f"ccc parse_text (typed AST):      {t_ccc:.3f} s  {n / t_ccc:8.0f} flows/s")
    print(f"ratio ccc / bare: {t_ccc / t_bare:.2f}x  (goal <= 1.30x; >= 1500 flows/s)")


if __name__ == "__main__":
    main()
