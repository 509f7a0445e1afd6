"""Destinations from data (queue, number, SIP URI, caller id) with their `failed` exit, `record`
and `play recording`, `pause` with and without barge-in, and `voicemail`'s `done` exit: flows
compiled from source, run on the simulated channel, and one suite run by `ccc test`."""

from __future__ import annotations

import asyncio
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from ccc_runtime.acd import AgentState
from ccc_runtime.bundle import Bundle
from ccc_runtime.channel import TransferStatus
from ccc_runtime.clock import FakeClock
from ccc_runtime.functions import StubFunctions
from ccc_runtime.records import MemorySink
from ccc_runtime.simchannel import SimChannel, parse_keys
from ccc_runtime.vm import CallResult, Runtime
from click.testing import CliRunner
from ft_helpers import ROOT, write_repo

from ccc_dsl.cli import cli
from ccc_dsl.compiler.driver import analyse
from ccc_dsl.compiler.timing import flow_timing
from ccc_dsl.grammar.parser import parse_text
from ccc_dsl.pipeline import build_bundle

AT = datetime(2026, 12, 2, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Wednesday morning
CALLER = "+8613700000001"
POLICY = """\
outbound_policies:
  default:
    calling_hours: "09:00-20:00"
    caller_id: {mode: auto}
    sip_domains: [pbx.example.com, "*.corp.example"]
    blacklist: out-block
blacklists:
  out-block: {direction: outbound, numbers: ["+8613912349999"]}
"""


def repo(tmp_path: Path, flow: str, tests: dict[str, str] | None = None) -> Path:
    """The flow-test repo of ft_helpers with an outbound policy that lists SIP hosts, and a
    second number (a mobile display number) a flow may show as its caller id."""
    root = write_repo(tmp_path / "repo", flow, tests)
    ccc = root / "ccc.yaml"
    ccc.write_text(ccc.read_text() + "  outbound_policy: default\n", encoding="utf-8")
    things = root / "things.yaml"
    text = things.read_text().replace(
        'type: landline}', 'type: landline, outbound_concurrency: 5}\n'
        '  mobile: {number: "+86 138 0000 1111", type: mobile_display, '
        'outbound_concurrency: 3}')
    things.write_text(text + POLICY, encoding="utf-8")
    return root


def bundle_of(root: Path) -> Bundle:
    built = build_bundle(root, None)
    assert built.bundle is not None, [str(d) for d in built.diagnostics if d.is_error]
    return built.bundle


def call(bundle: Bundle, keys: str = "", *, replies: dict[str, Any] | None = None,
         **channel: Any) -> tuple[CallResult, SimChannel, MemorySink, StubFunctions]:
    clock = FakeClock(AT)
    sink = MemorySink()
    stubs = StubFunctions(replies or {})
    runtime = Runtime(bundle, clock=clock, sink=sink, functions=stubs)
    runtime.acd.set_state("ann", AgentState.AVAILABLE)
    sim = SimChannel(clock, parse_keys(keys), **channel)
    result = asyncio.run(runtime.run_call(sim, CALLER, "+862161230000", flow="t",
                                          call_id="simulated"))
    return result, sim, sink, stubs


DATA_FLOW = """\
flow t {
  start:
    call function "lookup" as to {
      ok -> route
      error -> hangup
    }

  route:
    if to.kind == "queue" -> transfer queue to.where {
      failed -> play "bye" then hangup
      busy -> hangup
      timeout -> hangup
    }
    if to.kind == "number" -> transfer number to.where caller_id to.shown {
      failed -> play "bye" then hangup
      busy -> hangup
      timeout -> hangup
    }
    transfer sip to.where caller_id to.shown {
      failed -> play "bye" then hangup
      busy -> hangup
      timeout -> hangup
    }
}
"""


@pytest.fixture(scope="module")
def data_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return bundle_of(repo(tmp_path_factory.mktemp("data"), DATA_FLOW))


def lookup(kind: str, where: str, shown: str | None = None) -> dict[str, Any]:
    return {"lookup": {"kind": kind, "where": where, "shown": shown}}


def test_a_queue_from_data_must_name_a_skill_group(data_bundle: Bundle) -> None:
    result, *_ = call(data_bundle, replies=lookup("queue", "help"))
    assert result.outcome.describe() == "transferred to queue help"
    result, _, sink, _ = call(data_bundle, replies=lookup("queue", "helpp"))
    assert [u.prompt for u in result.prompts] == ["bye"]
    assert result.record.outbound_refused == ["queue 'helpp': not a skill group"]
    assert any(e.outcome == "failed" and e.inputs["refused"] == "not a skill group"
               for e in sink.events)


def test_a_number_from_data_is_normalised_and_checked(data_bundle: Bundle) -> None:
    result, *_ = call(data_bundle, replies=lookup("number", "138 0013 8000"))
    assert result.outcome.describe() == "transferred to number +8613800138000"
    for where, reason in (("12345", "not a phone number"),
                          ("+8613912349999", "on the outbound blacklist")):
        result, *_ = call(data_bundle, replies=lookup("number", where))
        assert result.outcome.describe() == "hung up", where
        assert [u.prompt for u in result.prompts] == ["bye"]
        assert result.record.outbound_refused[0].endswith(reason)


def test_a_caller_id_from_data_only_from_numbers_the_policy_allows(
        data_bundle: Bundle) -> None:
    _, _, sink, _ = call(data_bundle, replies=lookup("number", "+8613800138000",
                                                     "+86 138 0000 1111"))
    dial = next(e for e in sink.events if e.op == "TRANSFER_NUMBER")
    assert dial.inputs["caller_id"] == "+8613800001111" and dial.outcome == "done"
    for shown in ("+8613912345678", "4008205678"):
        result, *_ = call(data_bundle, replies=lookup("number", "+8613800138000", shown))
        assert "is not allowed by the outbound policy" in result.record.outbound_refused[0]


def test_a_sip_uri_only_to_listed_hosts(data_bundle: Bundle) -> None:
    result, sim, *_ = call(data_bundle, replies=lookup("sip", "sip:100@pbx.example.com"))
    assert result.outcome.describe() == "transferred to sip:100@pbx.example.com"
    assert any("call sip:100@pbx.example.com: answered" in line for line in sim.log)
    result, *_ = call(data_bundle, replies=lookup("sip", "sip:bridge@conf.corp.example:5080"))
    assert result.outcome.describe() == "transferred to sip:bridge@conf.corp.example:5080"
    refused = {
        "sip:100@evil.example.net": "host evil.example.net is not in the outbound policy's "
                                    "sip_domains",
        "sip:100@corp.example": "host corp.example is not in the outbound policy's "
                                "sip_domains",
        "sip:100@pbx.example.com;transport=tcp": "not a SIP URI we dial",
        "sip:+8613912349999@pbx.example.com": "on the outbound blacklist",
    }
    for uri, reason in refused.items():
        result, *_ = call(data_bundle, replies=lookup("sip", uri))
        assert result.outcome.describe() == "hung up", uri
        assert reason in result.record.outbound_refused[0], uri
    busy, *_ = call(data_bundle, replies=lookup("sip", "sip:100@pbx.example.com"),
                    numbers={"sip:100@pbx.example.com": TransferStatus.BUSY})
    assert busy.prompts == [] and busy.outcome.describe() == "hung up"


RECORD_FLOW = """\
flow t {
  start:
    record msg maxlength 30s silence 3s beep terminator #
    play recording msg
    call function "lookup" with { recording: msg.id, seconds: msg.length_ms } {
      ok -> leave
      error -> leave
    }

  leave:
    voicemail "help" {
      done -> play "bye" then hangup
    }
}
"""


def test_record_stores_a_reference_the_flow_plays_and_sends(tmp_path: Path) -> None:
    bundle = bundle_of(repo(tmp_path, RECORD_FLOW))
    result, sim, _, stubs = call(bundle, replies={"lookup": {}})
    msg = result.variables["msg"]
    assert (msg["length_ms"], msg["ended_by"]) == (13_000, "silence")  # 10 s spoken + 3 s
    assert [u.describe() for u in result.prompts] == ["recording msg (13000 ms)", "bye [en]"]
    assert stubs.calls == [("lookup", {"recording": "simulated/msg", "seconds": 13_000})]
    assert "beep" in "".join(sim.log)
    # voicemail's done exit: the message after the recording, and the outcome stays voicemail
    assert result.outcome.describe() == "voicemail help"
    ended, *_ = call(bundle, "#@4000", replies={"lookup": {}})
    assert (ended.variables["msg"]["length_ms"], ended.variables["msg"]["ended_by"]) == (
        4000, "terminator")


def test_a_recording_is_only_one_this_call_made(tmp_path: Path) -> None:
    forged = """\
    flow t {
      start:
        call function "lookup" as msg {
          ok -> play recording msg then hangup
          error -> hangup
        }
    }
    """
    bundle = bundle_of(repo(tmp_path, forged))
    result, *_ = call(bundle, replies={"lookup": {"id": "simulated/msg", "file": "/etc/passwd"}})
    assert "is not a recording of this call" in result.faults[0].message
    assert not any(u.recording for u in result.prompts)  # the error handler apologised


PAUSE_FLOW = """\
flow t {
  start:
    pause 3s
    pause 2s bargein
    menu prompt "hello" timeout 5s retries 1 {
      1 -> play "bye" then hangup
      exhausted -> hangup
    }
}
"""


def test_pause_loses_keys_unless_bargein_keeps_them(tmp_path: Path) -> None:
    bundle = bundle_of(repo(tmp_path, PAUSE_FLOW))
    lost, _, sink, _ = call(bundle, "1@1000")  # pressed in the first pause: lost
    assert [e.t_ms for e in sink.events[:2]] == [3000, 5000]  # the trace times the pauses
    assert lost.outcome.describe() == "hung up" and "bye" not in [u.prompt for u in
                                                                 lost.prompts]
    kept, _, sink, _ = call(bundle, "1@3500")  # in the barge-in pause: ends it, kept
    assert sink.events[1].t_ms == 3500 and sink.events[1].inputs["key"] == "1"
    assert [u.prompt for u in kept.prompts if u.kind == "prompt"] == ["bye"]  # menu skipped


def test_a_flow_test_drives_record_pause_and_sip(tmp_path: Path) -> None:
    flow = """\
    flow t {
      start:
        pause 1s
        record msg maxlength 20s silence 2s
        play recording msg
        transfer sip "sip:100@pbx.example.com" {
          failed -> hangup
          busy -> hangup
          timeout -> hangup
        }
    }
    """
    suite = """\
    defaults: {flow: t, caller: "+8613700000001", at: "2026-12-02T10:00+08:00"}
    tests:
      - name: the caller records, hears it back and goes to the PBX
        expect:
          outcome: transferred to sip:100@pbx.example.com
          prompts: [pause 1s, recording msg (12000 ms)]
          variables: {msg.ended_by: silence, msg.length_ms: 12000}
    """
    root = repo(tmp_path, flow, {"t.yaml": suite})
    result = CliRunner().invoke(cli, ["test", str(root)])
    assert result.exit_code == 0, result.output
    assert "1 passed" in result.output


def test_literal_destinations_are_checked_at_compile_time(tmp_path: Path) -> None:
    flow = """\
    flow t {
      start:
        transfer sip "sip:100@pbx.example.com" {
          done -> other
        }

      other:
        transfer sip "sip:100@elsewhere.example.org" caller_id "+8613912345678" {
          failed -> hangup
        }
    }
    """
    built = build_bundle(repo(tmp_path, flow), None)
    found = {(d.code, d.span.line) for d in built.diagnostics if d.span is not None}
    assert {("R517", 8), ("R518", 8)} <= found
    assert not any(code in ("R517", "R518") and line != 8 for code, line in found)


def test_fmt_keeps_the_new_statements(tmp_path: Path) -> None:
    root = repo(tmp_path, textwrap.dedent(RECORD_FLOW))
    result = CliRunner().invoke(cli, ["fmt", "--check", str(root / "flows")])
    assert result.exit_code == 0, result.output


def test_time_to_agent_counts_pauses_and_recordings_and_ends_at_a_sip_transfer() -> None:
    parsed = parse_text('''flow t "T" {
  start:
    pause 4s
    record msg maxlength 20s
    play recording msg
    transfer sip "sip:100@pbx.example.com" { failed -> hangup }
}
''', "t.ivr")
    assert parsed.module is not None
    result = analyse([parsed.module], None, ROOT / "examples")
    timing = flow_timing(result.program, "t")
    assert timing.seconds == 24.0  # the pause, the longest recording; playback unknown: 0
    assert timing.person is not None and timing.person.line == 6
