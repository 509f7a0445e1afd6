"""A live call branches on call data from its INVITE (issue 10, L4): an X- header sent by
SIPp picks the branch, and call.dialled, call.source and a Diversion header reach the flow
as the INVITE had them; a header that is not passed (Contact-Info) does not."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from repos import copy_examples
from sip_helpers import (
    HOTLINE,
    Receiver,
    SippRun,
    call_records,
    caller_keys,
    install,
    sipp,
    start_server,
)

from ccc_dsl.pipeline import build_bundle

FLOW = """\
flow main "Call data on a live call" {
  start:
    set seen = [call.dialled, call.source, call.headers.x_account, call.headers.diversion]
    set hidden = call.headers.contact_info
    if call.headers.x_customer_tier == "gold" -> say "Gold line." then hangup
    say "Standard line." then hangup
}
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The examples with their main flow replaced by FLOW (bound to the staging hotline)."""
    path = tmp_path_factory.mktemp("sip-l4") / "repo"
    copy_examples(path)
    (path / "flows" / "main.ivr").write_text(FLOW, encoding="utf-8")
    built = build_bundle(path, "staging")
    assert built.ok, built.diagnostics
    return built.files


def _call(files: dict[str, bytes], tmp_path: Path, tier: str) -> list[dict[str, Any]]:
    runtime_dir = install(tmp_path, files)

    async def main() -> SippRun:
        server = await start_server(runtime_dir)
        receiver = await Receiver.open()
        run = await sipp("caller_headers.xml", tmp_path, remote_port=server.port,
                         keys=caller_keys(receiver.port, tier=tier, account="A-42"),
                         timeout_s=15)
        await server.drain()
        receiver.close()
        return run

    run = asyncio.run(main())
    assert run.rc == 0, run.stderr[-2000:] + run.log
    [record] = call_records(runtime_dir)
    assert record["outcome"] == "hung up" and record["faults"] == []
    lines = (runtime_dir / "records" / "trace.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize(("tier", "branch"), [("gold", True), ("silver", False)])
def test_the_flow_branches_on_an_x_header_of_the_invite(files: dict[str, bytes],
                                                        tmp_path: Path, tier: str,
                                                        branch: bool) -> None:
    trace = _call(files, tmp_path, tier)
    seen, hidden = [e["inputs"]["value"] for e in trace if e["op"] == "SET"]
    assert seen == [HOTLINE, "127.0.0.1", "A-42",
                    "<sip:+862155550000@pbx.example>;reason=unconditional"]
    assert hidden is None
    [decision] = [e for e in trace if e["op"] == "BRANCH"]
    assert decision["inputs"]["value"] is branch
    spoken = [e["inputs"] for e in trace if e["op"] == "PLAY"]
    assert len(spoken) == 1
