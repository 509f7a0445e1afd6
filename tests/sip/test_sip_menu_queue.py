"""Live calls through key patterns and a queue's capacity (issue 10, L3): a caller presses
1, 2, 3 and the menu takes its `1XX` key (with `menu.input` 123), and a second caller finds
the queue full (capacity 1) while the first waits in it with nobody logged in
(`when_empty wait`)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from repos import copy_examples
from sip_helpers import (
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
flow main "Extensions and a small queue" {
  start:
    menu prompt say "Enter an extension." timeout 4s interdigit 2s retries 0 {
      1 -> hangup
      1XX -> queue
      2 -> hangup
      exhausted -> hangup
    }

  queue:
    transfer queue "billing"
        timeout 30s
        capacity 1
        when_empty wait
        waiting {
          at 0s say "Extension {{ menu.input }}, please hold."
        } {
      full -> say "The queue is full." then hangup
      busy -> hangup
      timeout -> hangup
    }
}
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The examples with their main flow replaced by FLOW (bound to the staging hotline)."""
    path = tmp_path_factory.mktemp("sip-l3") / "repo"
    copy_examples(path)
    (path / "flows" / "main.ivr").write_text(FLOW, encoding="utf-8")
    built = build_bundle(path, "staging")
    assert built.ok, built.diagnostics
    return built.files


def _ok(run: SippRun) -> None:
    assert run.rc == 0, run.stderr[-2000:] + run.log


def _menu_steps(runtime_dir: Path) -> list[dict[str, Any]]:
    lines = (runtime_dir / "records" / "trace.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["op"] == "MENU"]


def test_a_three_digit_pattern_key_on_a_live_call(files: dict[str, bytes],
                                                  tmp_path: Path) -> None:
    runtime_dir = install(tmp_path, files)

    async def main() -> SippRun:
        server = await start_server(runtime_dir)
        receiver = await Receiver.open()
        # the caller hangs up 1.5 s after the last key: by then the menu took 1XX and the
        # call waits in the queue
        run = await sipp("caller_pattern_bye.xml", tmp_path, remote_port=server.port,
                         keys=caller_keys(receiver.port), extra=("-d", "1500"))
        await server.drain()
        receiver.close()
        return run

    _ok(asyncio.run(main()))
    [menu] = _menu_steps(runtime_dir)
    assert menu["inputs"] == {"digits": "123"} and menu["outcome"] == "key 1XX"
    [record] = call_records(runtime_dir)
    assert record["queue"] == "billing" and record["outcome"] == "caller hung up"


def test_a_full_queue_turns_the_second_caller_away(files: dict[str, bytes],
                                                   tmp_path: Path) -> None:
    runtime_dir = install(tmp_path, files)

    async def main() -> tuple[SippRun, SippRun]:
        server = await start_server(runtime_dir)
        first_rx, second_rx = await Receiver.open(), await Receiver.open()
        # nobody of billing is logged in: the first caller waits (when_empty wait) ...
        first = asyncio.ensure_future(sipp(
            "caller_pattern_bye.xml", tmp_path / "first", remote_port=server.port,
            keys=caller_keys(first_rx.port), extra=("-d", "6000")))
        await asyncio.sleep(2.5)
        # ... so the queue (capacity 1) is full for the second
        second = await sipp("caller_pattern.xml", tmp_path / "second", remote_port=server.port,
                            keys=caller_keys(second_rx.port, caller="13700000002"))
        done = await first
        await server.drain()
        first_rx.close()
        second_rx.close()
        return done, second

    for folder in ("first", "second"):
        (tmp_path / folder).mkdir()
    first, second = asyncio.run(main())
    _ok(first)
    _ok(second)
    records = {r["caller"]: r for r in call_records(runtime_dir)}
    turned_away = records["+8613700000002"]
    assert turned_away["outcome"] == "hung up" and turned_away["queue_wait_ms"] == 0
    waited = records["+8613700000001"]
    assert waited["outcome"] == "caller hung up" and waited["queue_wait_ms"] >= 3000
    full = [e for e in map(json.loads, (runtime_dir / "records" / "trace.jsonl")
                           .read_text().splitlines()) if e["op"] == "QUEUE"
            and e["outcome"] == "full"]
    assert len(full) == 1 and full[0]["inputs"]["waiting"] == 1
