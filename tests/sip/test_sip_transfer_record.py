"""Live calls through `pause`, `record` and `transfer sip`: SIPp speaks into a recording (the WAV
in the runtime dir has the audio's length), pauses are timed in the trace, and SIPp plays the
other PBX that a SIP transfer reaches, after a URI on a host the policy doesn't list is refused."""

from __future__ import annotations

import asyncio
import json
import wave
from pathlib import Path

from repos import copy_examples
from sip_helpers import (
    SippRun,
    call_records,
    caller_keys,
    free_udp_port,
    install,
    sipp,
    start_server,
)

from ccc_dsl.pipeline import build_bundle

LINE = "13912340000"  # staging's callback-mobile number, bound to the flow below
FLOW = """\
flow l2 {
  start:
    pause 1s
    record msg maxlength 20s silence 2s terminator #
    set other = "sip:200@pbx.elsewhere.example"
    transfer sip other {
      failed -> listed
      busy -> hangup
      timeout -> hangup
    }

  listed:
    transfer sip "sip:100@localhost:PORT" caller_id "+86 21 6123 0000" timeout 10s {
      failed -> hangup
      busy -> hangup
      timeout -> hangup
      done -> hangup
    }
}
"""


def _files(tmp: Path, pbx_port: int) -> dict[str, bytes]:
    """The examples with the flow above bound to the callback line, and localhost listed as a
    SIP host the outbound policy allows (a name: the runtime resolves it off the event loop)."""
    path = tmp / "repo"
    copy_examples(path)
    (path / "flows" / "l2.ivr").write_text(FLOW.replace("PORT", str(pbx_port)))
    numbers = path / "numbers.yaml"
    numbers.write_text(numbers.read_text().replace(
        "number: callback-mobile\n    flow: screening", "number: callback-mobile\n    flow: l2"))
    outbound = path / "outbound.yaml"
    text = outbound.read_text()
    if "    sip_domains: [" in text:  # the examples list a host already: add ours
        text = text.replace("    sip_domains: [", "    sip_domains: [localhost, ", 1)
    else:
        text = text.replace("    blacklist: outbound-block\n", "    blacklist: outbound-block\n"
                            "    sip_domains: [localhost]\n", 1)
    outbound.write_text(text)
    built = build_bundle(path, "staging")
    assert built.ok, built.diagnostics
    return built.files


def _ok(run: SippRun) -> None:
    assert run.rc == 0, run.stderr[-2000:] + run.log


def test_record_pause_and_a_sip_transfer_on_a_live_call(tmp_path: Path) -> None:
    pbx_port = free_udp_port()
    runtime_dir = install(tmp_path, _files(tmp_path, pbx_port))

    async def main() -> tuple[SippRun, SippRun]:
        server = await start_server(runtime_dir)
        pbx = asyncio.ensure_future(sipp("agent.xml", tmp_path, local_port=pbx_port))
        await asyncio.sleep(0.3)
        caller = await sipp("caller_speaks.xml", tmp_path, remote_port=server.port,
                            keys={**caller_keys(free_udp_port(), codec=8), "service": LINE})
        pbx_run = await pbx
        await server.drain()
        assert server.pool.in_use == 0
        return caller, pbx_run

    caller, pbx = asyncio.run(main())
    _ok(caller)
    _ok(pbx)  # the other PBX was called, answered, and hung up after its talk
    assert "FROM=+862161230000" in pbx.log  # the caller id the flow asked for, granted
    [record] = call_records(runtime_dir)
    assert record["outcome"] == "transferred to sip:100@localhost:" + str(pbx_port)
    assert record["outbound_refused"] == [
        "sip:200@pbx.elsewhere.example: host pbx.elsewhere.example is not in the outbound "
        "policy's sip_domains"]
    # the recording: every packet SIPp sent (236 x 30 ms; its speech starts 1.1 s in), ended
    # by two seconds of silence (no packets) after them
    [wav_file] = record["recordings"]
    with wave.open(str(runtime_dir / wav_file)) as wav:
        assert (wav.getframerate(), wav.getnchannels()) == (8000, 1)
        length_ms = wav.getnframes() * 1000 // 8000
    assert 6900 <= length_ms <= 7080, length_ms
    events = [json.loads(line) for line in
              (runtime_dir / "records" / "trace.jsonl").read_text().splitlines()]
    by_op = {e["op"]: e for e in events}
    assert 950 <= by_op["PAUSE"]["t_ms"] <= 1500  # a second of silence, on the wall clock
    recorded = by_op["RECORD"]
    assert recorded["inputs"]["ended_by"] == "silence"
    assert recorded["inputs"]["file"] == wav_file
    assert recorded["inputs"]["length_ms"] == length_ms
