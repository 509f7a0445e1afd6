"""A live call through expressions (issue 10, L1): the caller's digits, collected over RTP
(RFC 2833), go through arithmetic, functions and a comparison of numbers given as text, and
what the caller hears is said from the results, with a missing field said as nothing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from repos import copy_examples
from sip_helpers import Receiver, SippRun, call_records, caller_keys, install, sipp, start_server

from ccc_dsl.pipeline import build_bundle

FLOW = """\
flow main "Expressions on a live call" {
  start:
    collect code digits 3..3 prompt say "Enter three digits." timeout 5s retries 0 {
      ok -> check
      exhausted -> hangup
    }

  check:
    set padded = pad(code, 5, "0")
    set doubled = number(code) * 2 + 1
    set big = code > "99"
    set info.kind = "live"
    say "Code {{ padded }}, doubled {{ doubled }}.{{ info.note }}"
    hangup
}
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The examples with their main flow replaced by FLOW (bound to the staging hotline)."""
    path = tmp_path_factory.mktemp("sip-l1") / "repo"
    copy_examples(path)
    (path / "flows" / "main.ivr").write_text(FLOW, encoding="utf-8")
    built = build_bundle(path, "staging")
    assert built.ok, built.diagnostics
    return built.files


def _trace(runtime_dir: Path) -> list[dict[str, Any]]:
    lines = (runtime_dir / "records" / "trace.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_expressions_compute_from_the_callers_digits_on_a_live_call(
        files: dict[str, bytes], tmp_path: Path) -> None:
    runtime_dir = install(tmp_path, files)

    async def main() -> tuple[SippRun, int]:
        server = await start_server(runtime_dir)
        receiver = await Receiver.open()
        run = await sipp("caller_pattern.xml", tmp_path, remote_port=server.port,
                         keys=caller_keys(receiver.port))
        await server.drain()
        receiver.close()
        return run, len(receiver.audio(0))

    run, heard = asyncio.run(main())
    assert run.rc == 0, run.stderr[-2000:] + run.log
    values = [e["inputs"]["value"] for e in _trace(runtime_dir) if e["op"] == "SET"]
    assert values == ["00123", 247, True, "live"]
    [record] = call_records(runtime_dir)
    assert record["outcome"] == "hung up" and record["faults"] == []
    assert heard > 8000 * 2  # both prompts were spoken (over 2 s of audio)
