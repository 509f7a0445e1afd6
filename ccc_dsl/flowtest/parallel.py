"""`ccc test -n N|auto`: flow tests on several processes, with the results (and so the report)
in the order a serial run gives.

The calls are pure CPU work on a fake clock, so threads would not help. This process forks
N-1 workers once it has the bundle and the prepared cases, so nothing of them is sent to a
worker (a worker is told only which share to run: every Nth case), and runs the first share
itself meanwhile. A worker sends back through a pipe, per case, what its call gave (mismatches,
the call's result, the log, the time; pickled, from one process of the run to another), and
this process puts each back with its case. A share whose worker dies, fails or can't be forked
is run here instead: parallelism may speed a run up, never change its outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import pickle
from collections.abc import Sequence
from typing import Any

from ccc_runtime.bundle import Bundle

from ccc_dsl.flowtest.runner import Case, CaseResult, run_cases

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


def _fork(index: int, workers: int) -> tuple[int, int] | None:
    """A worker running share `index`: (its pid, the read end of its pipe), or None."""
    read, write = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read)
        os.close(write)
        return None
    if pid == 0:  # the worker: its exit code says whether the pipe holds every result
        code = 1
        try:
            os.close(read)
            gc.freeze()  # what it inherited is never garbage: don't scan (or copy) it
            blob = pickle.dumps(_share(index, workers), pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write, "wb") as out:
                out.write(blob)
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    return pid, read


def _collect(pid: int, read: int) -> list[tuple[Any, ...]] | None:
    """What the worker sent, or None when it did not finish its share."""
    with os.fdopen(read, "rb") as pipe:
        blob = pipe.read()
    _, status = os.waitpid(pid, 0)
    if status != 0:
        return None
    try:
        got = pickle.loads(blob)
    except Exception:  # a worker cut short: its share runs here
        return None
    return got if isinstance(got, list) else None


def run_parallel(bundle: Bundle, cases: Sequence[Case], workers: int) -> list[CaseResult]:
    """Run `cases` on up to `workers` processes; the results come back in `cases`' order."""
    global _job
    workers = min(workers, len(cases) // MIN_SHARE)
    if workers < 2 or not hasattr(os, "fork"):
        return asyncio.run(run_cases(bundle, cases))
    _job = bundle, cases
    forked: dict[int, tuple[int, int]] = {}
    try:
        for k in range(1, workers):
            child = _fork(k, workers)
            if child is not None:
                forked[k] = child
        shares = [asyncio.run(run_cases(bundle, cases[0::workers]))]
        for k in range(1, workers):
            share = cases[k::workers]
            got = _collect(*forked.pop(k)) if k in forked else None
            if got is None or len(got) != len(share):
                shares.append(asyncio.run(run_cases(bundle, share)))
            else:
                shares.append([CaseResult(case, *fields)
                               for case, fields in zip(share, got, strict=True)])
    finally:
        _job = None
        for pid, read in forked.values():  # only after an error here: don't leave them
            os.close(read)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    out: list[CaseResult] = []
    for i in range(len(cases)):
        out.append(shares[i % workers][i // workers])
    return out
