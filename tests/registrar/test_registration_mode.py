"""Registration mode end to end: a config repo whose trunk says `registration`, built into a
bundle, served by the live Server; it registers at a real Kamailio, SIPp dials the number
through Kamailio, the runtime answers, plays the flow and hangs up, and the call record shows
it. Also: the manifest and bundle checks of `registration`."""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from ccc_runtime.bundle import BundleError, bundle_from_parts
from ccc_runtime.clock import StartedClock
from ccc_runtime.rundir import RuntimeDir
from ccc_runtime.server import ServeError, Server
from kamailio_peer import PASSWORD, Kamailio, free_udp_port
from ports import free_media_port

from ccc_dsl.manifest.loader import load_repo
from ccc_dsl.pipeline import build_bundle

NUMBER = "4008205678"  # the AOR user: the number, as the registrar routes it to us
OPEN = datetime(2026, 11, 18, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
ENV = "CCC_TEST_REG_PASSWORD"

CALLER = """<?xml version="1.0" encoding="UTF-8"?>
<scenario name="caller through the registrar">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "caller" <sip:13700000001@[local_ip]:[local_port]>;tag=[pid]T[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:13700000001@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=caller 1 1 IN IP4 [media_ip]
s=-
c=IN IP4 [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true"/>
  <send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "caller" <sip:13700000001@[local_ip]:[local_port]>;tag=[pid]T[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv request="BYE" timeout="15000"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>
"""


def write_repo(root: Path, kamailio_port: int, password: str = f"{{env: {ENV}}}",
               registration: str = "{expires_seconds: 60}") -> Path:
    (root / "flows").mkdir(parents=True)
    (root / "ccc.yaml").write_text("ccc: 1\n")
    (root / "callcenter.yaml").write_text(f"""\
instance:
  name: Reg
  domain: reg
  default_language: en
numbers:
  hotline: {{number: "+86 400 820 5678", type: "400"}}
flow_bindings:
  hotline: {{number: hotline, flow: hello}}
prompts:
  welcome:
    default_language: en
    languages: {{en: {{tts: "Welcome"}}}}
trunks:
  registrar:
    gateway: 127.0.0.1
    port: {kamailio_port}
    username: "{NUMBER}"
    password: {password}
    registration: {registration}
""")
    (root / "flows" / "hello.ivr").write_text(
        'flow hello "Registration mode" {\n  start: play "welcome" then hangup\n}\n')
    return root


def test_registers_at_kamailio_and_answers_a_call_routed_through_it(
        kamailio: Kamailio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, PASSWORD)
    built = build_bundle(write_repo(tmp_path / "repo", kamailio.port), None)
    assert built.ok, built.diagnostics
    trunk = json.loads(built.files["bundle.json"])["trunks"]["registrar"]
    assert trunk["registration"] == {"expires_s": 60, "domain": "127.0.0.1"}
    assert PASSWORD not in built.files["bundle.json"].decode()
    rundir = RuntimeDir(tmp_path / "runtime")
    rundir.activate(rundir.install(built.files))
    scenario = tmp_path / "caller.xml"
    scenario.write_text(CALLER)

    async def main() -> tuple[int, str, bool]:
        low = free_udp_port() // 2 * 2
        server = Server(rundir.path, port=0, clock=StartedClock(OPEN), rtp_ports=(low, low + 40),
                        drain_s=2.0)
        await server.start()
        try:
            assert server.registrations is not None
            registrar = server.registrations.active["registrar"]
            for _ in range(50):
                if registrar.registered:
                    break
                await asyncio.sleep(0.1)
            assert registrar.registered, registrar.last_error
            proc = await asyncio.create_subprocess_exec(
                "sipp", f"127.0.0.1:{kamailio.port}", "-sf", str(scenario), "-s", NUMBER,
                "-m", "1", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", str(free_udp_port()),
                "-mp", str(free_media_port()), "-nostdin", "-timeout", "20s", "-timeout_error",
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
            out, err = await asyncio.wait_for(proc.communicate(), 30)
            for _ in range(50):
                if not server.calls:
                    break
                await asyncio.sleep(0.1)
            return proc.returncode or 0, (out + err).decode(errors="replace")[-2000:], \
                registrar.registered
        finally:
            await server.close()

    rc, output, registered = asyncio.run(main())
    assert rc == 0, output
    assert registered
    records = [json.loads(line) for line in
               (rundir.path / "records" / "calls.jsonl").read_text().splitlines()]
    assert len(records) == 1
    assert records[0]["called"] == "+864008205678"
    assert records[0]["caller"] == "+8613700000001"
    assert records[0]["outcome"] == "hung up"


def test_a_missing_password_variable_stops_serve_with_a_clear_error(
        kamailio: Kamailio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    built = build_bundle(write_repo(tmp_path / "repo", kamailio.port), None)
    assert built.ok, built.diagnostics
    rundir = RuntimeDir(tmp_path / "runtime")
    rundir.activate(rundir.install(built.files))

    async def main() -> None:
        server = Server(rundir.path, port=0)
        try:
            await server.start()
        finally:
            await server.close()

    with pytest.raises(ServeError, match=f"{ENV} is not set"):
        asyncio.run(main())


def test_registration_needs_credentials_from_the_environment(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "a", 5060, password="{file: secret.txt}")
    built = build_bundle(repo, None)
    assert not built.ok
    assert any(d.code == "B801" and "environment variable" in d.message
               for d in built.diagnostics)
    bare = tmp_path / "b"
    write_repo(bare, 5060)
    text = (bare / "callcenter.yaml").read_text().replace(f"    password: {{env: {ENV}}}\n", "")
    (bare / "callcenter.yaml").write_text(text)
    result = load_repo(bare, None)
    assert any("`registration` needs `username` and `password`" in d.message
               for d in result.diagnostics)
    with pytest.raises(BundleError, match="registration needs"):
        bundle_from_parts({"format": 1, "default_language": "en", "languages": ["en"],
                           "trunks": {"t": {"gateway": "127.0.0.1",
                                            "registration": {"domain": "x"}}}}, {})
