"""`ccc test -n N|auto`: flow tests on several processes, with the results (and so the report)
in the order a serial run gives.

The calls are pure CPU work on a fake clock, so threads would not help; worker processes are
forked from the one that compiled the bundle and prepared the cases, so nothing of them is
sent to a worker (a worker is told only which share to run: every Nth case). A worker sends
back, per case, what its call gave (mismatches, the call's result, the log, the time), and the
parent puts each back with its case. A worker that dies or raises makes the whole run go
serially instead: parallelism may speed a run up, never change its outcome.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from ccc_runtime.bundle import Bundle

from ccc_dsl.flowtest.runner import Case, CaseResult, run_cases
from ccc_dsl.util import cores as cores  # `ccc test -n auto` asks here

MIN_SHARE = 20
"""Fewer cases than this per worker are not worth a fork (a fork and the results' trip back
cost about as much as 20 calls)."""

_job: tuple[Bundle, Sequence[Case]] | None = None
"""What the forked workers run: set before forking, so they inherit it."""


def _share(index: int, workers: int) -> list[tuple[Any, ...]]:
    """Run every `workers`th case from `index` (in a worker) and return what each gave."""
    assert _job is not None
    bundle, cases = _job
    results = asyncio.run(run_cases(bundle, cases[index::workers]))
    return [(r.mismatches, r.result, r.log, r.seconds) for r in results]


def run_parallel(bundle: Bundle, cases: Sequence[Case], workers: int) -> list[CaseResult]:
    """Run `cases` on up to `workers` processes; the results come back in `cases`' order."""
    global _job
    workers = min(workers, len(cases) // MIN_SHARE)
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return asyncio.run(run_cases(bundle, cases))
    _job = bundle, cases
    try:  # a killed worker is BrokenProcessPool here (a multiprocessing.Pool would hang)
        with ProcessPoolExecutor(workers, multiprocessing.get_context("fork")) as pool:
            shares = list(pool.map(_share, range(workers), [workers] * workers))
    except Exception:  # whatever a worker met, the serial run meets (or reports) too
        return asyncio.run(run_cases(bundle, cases))
    finally:
        _job = None
    out: list[CaseResult | None] = [None] * len(cases)
    for k, share in enumerate(shares):
        for i, (mismatches, result, log, seconds) in enumerate(share):
            index = k + i * workers
            out[index] = CaseResult(cases[index], mismatches, result, log, seconds)
    if any(r is None for r in out):
        return asyncio.run(run_cases(bundle, cases))
    return [r for r in out if r is not None]
