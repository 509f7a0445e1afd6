"""`ccc test --changed`: run only the tests whose outcome can differ from the last run's, like
pytest's `--lf`.

Every `ccc test` run records, per test (in the cache dir, per repo and environment): a hash
of its definition (its setup, expectations and stub replies), the image hash of each flow its
call ran through, whether it passed, and the nodes and exits it covered; and once, the bundle's
configuration and ccc's own code. A call on the fake clock is deterministic, so a test whose
definition, configuration, ccc and every flow it ran through are unchanged would do exactly
what it did. `--changed` runs the others: new tests, tests that failed, tests whose
definition changed, tests that ran through a flow whose image changed; every test when the
configuration or ccc changed. The coverage report still covers the whole suite: the tests not
run again count with what they covered last time.

The record is sealed JSON like every cache entry; a damaged or missing one means every test
runs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ccc_runtime.bundle import Bundle
from ccc_runtime.functions import FunctionFailure

from ccc_dsl.cache import cache_dir, read_entry, seal, tool_fingerprint, write_atomic
from ccc_dsl.flowtest.coverage import Trace, measure
from ccc_dsl.flowtest.runner import Case, CaseResult, Execute, RunReport

RECORD_FORMAT = 1
"""Bump when what a run record holds changes."""

Run = Callable[[Bundle, list[Case]], list[CaseResult]]
"""Runs cases and returns their results in order (serially, or `parallel.run_parallel`)."""


@dataclass(frozen=True, slots=True)
class Recorded:
    """One test as the last run left it (a `coverage.Trace` too)."""

    definition: str
    flows: Mapping[str, str]
    passed: bool
    visited: set[tuple[str, int]]
    edges: set[tuple[str, int, int]]

    def data(self) -> list[Any]:
        return [self.definition, dict(self.flows), self.passed, sorted(self.visited),
                sorted(self.edges)]


def _recorded(data: Any) -> Recorded | None:
    """A record back from `Recorded.data`, or None for any other shape."""
    if not (isinstance(data, list) and len(data) == 5 and isinstance(data[0], str)
            and isinstance(data[1], dict) and type(data[2]) is bool
            and isinstance(data[3], list) and isinstance(data[4], list)):
        return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in data[1].items()):
        return None
    visited = {(f, n) for f, n in (v for v in data[3] if _shape(v, 2))}
    edges = {(f, n, x) for f, n, x in (e for e in data[4] if _shape(e, 3))}
    if len(visited) != len(data[3]) or len(edges) != len(data[4]):
        return None
    return Recorded(data[0], data[1], data[2], visited, edges)


def _shape(item: Any, size: int) -> bool:
    return (isinstance(item, list) and len(item) == size and isinstance(item[0], str)
            and all(type(v) is int for v in item[1:]))


def case_keys(cases: list[Case]) -> list[str]:
    """Each test's identity across runs: its file (wherever PATH pointed) and name. Each file
    is resolved once, not once per test (a `realpath` is a system call per path part)."""
    files: dict[Path, Path] = {}
    for case in cases:
        if case.file.path not in files:
            files[case.file.path] = case.file.path.resolve()
    return [f"{files[c.file.path]}::{c.name}" for c in cases]


def _plain(value: Any) -> Any:
    """Stub failures as their fields (their repr leaves out the status)."""
    if isinstance(value, FunctionFailure):
        return ("FunctionFailure", value.kind, value.message, value.status)
    return value


def definition(case: Case) -> str:
    """A hash of everything about a test that decides its call: the merged setup, the
    expectations, the stub replies, the flow and the number dialled."""
    stubs = sorted((name, repr(_plain(value))) for name, value in case.stubs.items())
    text = repr((case.setup, case.spec, stubs, case.flow, case.called))
    return hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()


def _context(bundle: Bundle) -> str:
    """What every test depends on: the bundle's configuration and ccc's own code."""
    digest = hashlib.blake2b(tool_fingerprint(), digest_size=16)
    config = bundle.config.model_dump(mode="json")  # in sorted order: a bundle read back from
    digest.update(json.dumps(config, sort_keys=True).encode())  # bundle.json has its keys so
    return digest.hexdigest()


def _record_path(base: Path, root: Path, env: str | None) -> Path:
    name = hashlib.blake2b(f"{root.resolve()}\0{env}".encode("utf-8", "surrogateescape"),
                           digest_size=16).hexdigest()
    return base / "flowtest" / f"{name}.json"


def load_record(path: Path, context: str) -> dict[str, Recorded]:
    """The last run's record, or nothing when it is missing, damaged or of another context."""
    parts = read_entry(path)
    if parts is None or len(parts) != 3 or parts[0] != RECORD_FORMAT or parts[1] != context \
            or not isinstance(parts[2], dict):
        return {}
    out = {}
    for key, data in parts[2].items():
        record = _recorded(data)
        if isinstance(key, str) and record is not None:
            out[key] = record
    return out


def _images(bundle: Bundle) -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest() for name, data in bundle.flow_bytes.items()}


def unchanged(record: Recorded | None, case: Case, images: Mapping[str, str]) -> bool:
    """Whether `case` would do what it did last time, and passed then."""
    return (record is not None and record.passed and record.definition == definition(case)
            and all(images.get(flow) == sha for flow, sha in record.flows.items()))


def _recording(result: CaseResult, images: Mapping[str, str]) -> Recorded:
    flows = {flow for flow, _ in result.result.visited} | {result.case.flow}
    return Recorded(definition(result.case), {f: images.get(f, "") for f in sorted(flows)},
                    result.passed, set(result.result.visited), set(result.result.edges))


def recording(run: Run, changed: bool) -> Execute:
    """An executor that runs the cases with `run` (with `changed`, only those `unchanged`
    does not vouch for), records the run, and measures coverage over the whole suite."""

    def execute(report: RunReport, bundle: Bundle, cases: list[Case], root: Path,
                env: str | None) -> None:
        base = cache_dir()
        path = _record_path(base, root, env) if base is not None else None
        context = _context(bundle)
        old = load_record(path, context) if path is not None else {}
        images = _images(bundle)
        keys = case_keys(cases)
        skipped = {key for key, case in zip(keys, cases, strict=True)
                   if changed and unchanged(old.get(key), case, images)}
        ran = [(k, c) for k, c in zip(keys, cases, strict=True) if k not in skipped]
        report.results = run(bundle, [c for _, c in ran])
        report.unchanged = len(skipped)
        traces: list[Trace] = [*(r.result for r in report.results),
                               *(old[key] for key in sorted(skipped))]
        report.coverage = measure(bundle.flows, traces, root)
        if path is None:
            return
        record = {key: old[key] for key in skipped}
        record.update((k, _recording(r, images))
                      for (k, _), r in zip(ran, report.results, strict=True))
        chosen = set(keys)
        kept = {**{k: v for k, v in old.items() if k not in chosen}, **record}
        if kept != old:
            write_atomic(path, seal(RECORD_FORMAT, context,
                                    {k: v.data() for k, v in sorted(kept.items())}))

    return execute
