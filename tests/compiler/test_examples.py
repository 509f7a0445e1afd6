"""The example call center through the whole compiler: what the analyses say about it,
the disassembly of every flow (golden files in disasm/, tests/golden.py), byte-for-byte
determinism (also across processes with different hash seeds), and the bundle running a call on
the runtime."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from cc_helpers import EXAMPLES, ROOT, example_model, examples_copy
from ccc_runtime.acd import AgentState
from ccc_runtime.bundle import bundle_from_parts
from ccc_runtime.bytecode import decode, disassemble
from ccc_runtime.clock import FakeClock
from ccc_runtime.functions import StubFunctions
from ccc_runtime.simchannel import SimChannel, parse_keys
from ccc_runtime.vm import Runtime
from golden import assert_golden

from ccc_dsl.compiler.bundle import bundle_config
from ccc_dsl.compiler.driver import emit_all
from ccc_dsl.diagnostics import Diagnostic, Severity
from ccc_dsl.pipeline import check_repo, compile_repo

DISASM = Path(__file__).resolve().parent / "disasm"
FLOWS = ["account_lookup", "after_hours", "attendant", "connect_queue", "main", "screening",
         "studio_ivr", "survey", "vip_routing"]
NOTES: list[str] = []
"""What the examples may report: nothing (the attendant loops until the caller acts, as an
Asterisk attendant does, with `retries forever`: `ccc compile` says so in its time-to-agent
line, with no diagnostic)."""


def _notes(diagnostics: list[Diagnostic], root: Path) -> list[str]:
    return [f"{Path(d.span.file).relative_to(root).as_posix()}:{d.span.line}:{d.span.column}: "
            f"{d.code}" if d.span is not None else d.code for d in diagnostics]


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return examples_copy(tmp_path_factory.mktemp("examples") / "examples")


def test_examples_validate_without_any_diagnostic() -> None:
    check = check_repo(EXAMPLES, None)
    assert _notes(check.diagnostics, EXAMPLES) == NOTES
    assert all(d.severity is Severity.INFO for d in check.diagnostics)


@pytest.mark.parametrize("env", [None, "staging", "production"])
def test_examples_copy_compile_cleanly(examples: Path, env: str | None) -> None:
    build = compile_repo(examples, env)
    assert _notes(build.diagnostics, examples) == NOTES
    assert sorted(build.flows) == FLOWS


@pytest.mark.parametrize("flow", FLOWS)
def test_disassembly_snapshot(examples: Path, flow: str) -> None:
    build = compile_repo(examples, None)
    assert_golden(DISASM / f"{flow}.txt", disassemble(decode(build.flows[flow].image)))


def test_compiling_twice_gives_identical_bytes(examples: Path) -> None:
    first = compile_repo(examples, None)
    second = compile_repo(examples, None)
    assert {n: f.image for n, f in first.flows.items()} == \
        {n: f.image for n, f in second.flows.items()}


def test_bytes_do_not_depend_on_the_checkout_path(examples: Path, tmp_path: Path) -> None:
    other = examples_copy(tmp_path / "elsewhere" / "repo")
    a, b = compile_repo(examples, None), compile_repo(other, None)
    assert {n: f.sha256 for n, f in a.flows.items()} == {n: f.sha256 for n, f in b.flows.items()}


_HASHES = """
import hashlib, sys
from pathlib import Path
from ccc_dsl.pipeline import compile_repo
build = compile_repo(Path(sys.argv[1]), None)
for name, flow in sorted(build.flows.items()):
    print(name, hashlib.sha256(flow.image).hexdigest())
"""


def test_identical_bytes_across_processes_and_hash_seeds(examples: Path) -> None:
    outputs = set()
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", _HASHES, str(examples)], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=120, check=True)
        outputs.add(done.stdout)
    assert len(outputs) == 1
    assert len(outputs.pop().splitlines()) == len(FLOWS)


def test_images_record_source_hash_and_relative_lines(examples: Path) -> None:
    build = compile_repo(examples, None)
    flow = build.flows["main"]
    image = decode(flow.image)
    source = (examples / "flows" / "main.ivr").read_bytes()
    assert image.source_hash == hashlib.sha256(source).hexdigest() == flow.source_sha256
    assert {n.loc.file for n in image.nodes} == {"flows/main.ivr"}
    assert image.error_node is not None


def test_bundle_runs_a_call_through_main(examples: Path) -> None:
    build = compile_repo(examples, None)
    config, problems = bundle_config(example_model())
    assert problems == []
    bundle = bundle_from_parts(config, {n: f.image for n, f in build.flows.items()})
    hotline = example_model().numbers["hotline"].number
    assert bundle.flow_for_number(hotline) == "main"
    clock = FakeClock(datetime.fromisoformat("2026-12-24T10:00+08:00"))  # a Thursday, open
    runtime = Runtime(bundle, clock=clock, functions=StubFunctions({}))
    runtime.acd.set_state("dave", AgentState.AVAILABLE)
    # language 1 (zh), then 3: support queue, where dave (support) answers
    result = asyncio.run(runtime.run_call(SimChannel(clock, parse_keys("1,3")),
                                          "+8613700000001", hotline))
    assert result.outcome.describe() == "transferred to queue support"
    assert result.agent == "dave"
    assert result.faults == []


def test_emit_works_on_the_examples_as_they_are() -> None:
    """The examples' findings are warnings or dead ends the runtime survives: they still
    emit valid images (the CLI refuses to write them; this is for the snapshot of record)."""
    check = check_repo(EXAMPLES, None)
    assert check.analysis is not None
    flows = emit_all(check.analysis)
    assert sorted(flows) == FLOWS
    for flow in flows.values():
        decode(flow.image)
