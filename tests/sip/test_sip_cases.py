"""Live calls that end early or are turned away, and a server that keeps its head: after-hours,
CANCEL, BYE mid-prompt, 404/403/503/488, the toll-fraud guard, reload, a malformed-SIP burst."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import wave
from pathlib import Path

import pytest
from ccc_runtime.acd import AgentState
from ccc_runtime.digest import manifest_bytes
from ccc_runtime.rundir import RuntimeDir
from ccc_runtime.sip import g711
from ccc_runtime.sip.endpoint import SipEndpoint
from ccc_runtime.sip.message import NameAddr, parse
from ccc_runtime.sip.sdp import build_sdp
from sip_helpers import (
    CLOSED,
    EXAMPLES,
    Receiver,
    Repo,
    SippRun,
    call_records,
    caller_keys,
    free_udp_port,
    install,
    make_repo,
    sipp,
    start_server,
)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    return make_repo(tmp_path_factory.mktemp("sip-repo"))


def _ok(run: SippRun) -> None:
    assert run.rc == 0, run.stderr[-2000:] + run.log


def test_after_hours_caller_hangs_up_mid_prompt(repo: Repo, tmp_path: Path) -> None:
    runtime_dir = install(tmp_path, repo.files)

    async def main() -> tuple[SippRun, bytes]:
        server = await start_server(runtime_dir, at=CLOSED)
        receiver = await Receiver.open()
        run = await sipp("caller_bye.xml", tmp_path, remote_port=server.port,
                         keys=caller_keys(receiver.port, codec=8), extra=("-d", "700"))
        await server.drain()
        receiver.close()
        assert server.pool.in_use == 0 and not server.calls
        return run, receiver.audio(8)

    run, heard = asyncio.run(main())
    _ok(run)
    [record] = call_records(runtime_dir)
    assert record["outcome"] == "caller hung up"
    assert "after_hours@0" in record["path"]
    assert record["duration_ms"] < 3000
    # a PCMA caller hears the zh "closed" prompt as A-law (pyVoIP sent u-law here)
    with wave.open(str(EXAMPLES / "prompts/zh/closed.wav")) as wav:
        expected = g711.encode(wav.readframes(wav.getnframes()), alaw=True)
    size = min(len(heard), len(expected))
    assert size >= 800 and heard[:size] == expected[:size]  # at least 100 ms, exactly


def test_cancel_before_the_answer_gets_487(repo: Repo, tmp_path: Path) -> None:
    runtime_dir = install(tmp_path, repo.files)

    async def main() -> SippRun:
        server = await start_server(runtime_dir, answer_delay_ms=1500)
        run = await sipp("caller_cancel.xml", tmp_path, remote_port=server.port,
                         keys=caller_keys(9))
        await server.drain()
        assert server.pool.in_use == 0
        return run

    _ok(asyncio.run(main()))
    assert call_records(runtime_dir) == []  # never answered: no call ran


def _status(run: SippRun) -> str:
    """What caller_rejected.xml logged: `404`, or `503 RETRY=5 ...`."""
    return next((line.split("STATUS=")[1] for line in run.log.splitlines()
                 if "STATUS=" in line), "none: " + run.stderr[-500:])


def test_unknown_number_404_foreign_source_403_call_limit_503(repo: Repo,
                                                             tmp_path: Path) -> None:
    runtime_dir = install(tmp_path, repo.files)

    async def main() -> tuple[str, str, str, SippRun]:
        server = await start_server(runtime_dir, max_calls=1)
        keys = caller_keys(9)
        unknown = await sipp("caller_rejected.xml", tmp_path, remote_port=server.port,
                             keys={**keys, "service": "4009999999"})
        foreign = await sipp("caller_rejected.xml", tmp_path, remote_port=server.port,
                             keys=keys, local_ip="127.0.0.2")
        first = asyncio.ensure_future(sipp("caller_bye.xml", tmp_path,
                                           remote_port=server.port, keys=keys,
                                           extra=("-d", "2000")))
        for _ in range(100):
            if server.calls:
                break
            await asyncio.sleep(0.02)
        full = await sipp("caller_rejected.xml", tmp_path, remote_port=server.port, keys=keys)
        long_call = await first
        await server.drain()
        return _status(unknown), _status(foreign), _status(full), long_call

    unknown, foreign, full, long_call = asyncio.run(main())
    assert (unknown, foreign, full[:3]) == ("404", "403", "503")
    assert "RETRY=5" in full
    _ok(long_call)


def test_a_transfer_the_outbound_policy_forbids_is_refused_and_recorded(
        repo: Repo, tmp_path: Path) -> None:
    runtime_dir = install(tmp_path, repo.files)

    async def main() -> SippRun:
        server = await start_server(runtime_dir)
        run = await sipp("caller_operator.xml", tmp_path, remote_port=server.port,
                         keys=caller_keys(9), extra=("-d", "1500"))
        await server.drain()
        return run

    _ok(asyncio.run(main()))
    [record] = call_records(runtime_dir)
    # 99 rings alice, offline, whose mobile is on the outbound blacklist: refused, so busy
    assert record["outbound_refused"] == ["+8613912340002: on the outbound blacklist"]
    assert record["queue"] == "support"  # the busy exit: `busy -> support`


def test_an_agent_who_is_busy_takes_the_busy_exit(repo: Repo, tmp_path: Path) -> None:
    runtime_dir = install(tmp_path, repo.files)

    async def main() -> tuple[SippRun, SippRun]:
        server = await start_server(runtime_dir)
        acd = server.acd()
        assert acd is not None
        acd.set_state("alice", AgentState.AVAILABLE)
        agent = asyncio.ensure_future(sipp("agent_busy.xml", tmp_path,
                                           local_port=repo.alice_port))
        await asyncio.sleep(0.3)
        run = await sipp("caller_operator.xml", tmp_path, remote_port=server.port,
                         keys=caller_keys(9), extra=("-d", "1500"))
        agent_run = await agent
        await server.drain()
        assert acd.status("alice").state is AgentState.AVAILABLE  # freed again
        return run, agent_run

    caller, agent = asyncio.run(main())
    _ok(caller)
    _ok(agent)  # SIPp got the ACK for its 486
    [record] = call_records(runtime_dir)
    assert record["agent"] is None and record["queue"] == "support"
    assert record["outbound_refused"] == []


def test_the_uac_cancels_a_leg_that_only_rings(tmp_path: Path) -> None:
    async def main() -> tuple[list[int], SippRun]:
        port = free_udp_port()
        agent = asyncio.ensure_future(sipp("agent_noanswer.xml", tmp_path, local_port=port))
        await asyncio.sleep(0.3)
        endpoint = await SipEndpoint.bind("127.0.0.1", 0, lambda txn: None)
        uri = f"sip:agent@127.0.0.1:{port}"
        out = endpoint.invite(uri, NameAddr("", "sip:+8613700000001@127.0.0.1", {}),
                              NameAddr("", uri, {}), build_sdp("127.0.0.1", 40000, None, 101, 1))
        seen = []
        response = await out.next_response(5)
        assert response is not None
        seen.append(response.status)
        out.cancel()  # the ring timeout
        while seen[-1] < 300:
            response = await out.next_response(5)
            assert response is not None
            seen.append(response.status)
        run = await agent
        endpoint.close()
        return seen, run

    seen, agent = asyncio.run(main())
    assert seen == [180, 487]
    _ok(agent)  # the 487 was ACKed


def test_reload_during_a_call_new_calls_take_the_new_bundle(repo: Repo,
                                                            tmp_path: Path) -> None:
    runtime_dir = install(tmp_path, repo.files)
    changed = dict(repo.files)
    config = json.loads(changed["bundle.json"])
    config["after_call_work_ms"] = 1000
    changed["bundle.json"] = json.dumps(config).encode()
    changed["manifest.json"] = manifest_bytes(changed)

    async def main() -> tuple[SippRun, SippRun, list[str], str, str]:
        server = await start_server(runtime_dir)
        old = server.deployed.digest if server.deployed else ""
        keys = caller_keys(9)
        first = asyncio.ensure_future(sipp("caller_bye.xml", tmp_path, remote_port=server.port,
                                           keys=keys, extra=("-d", "2500")))
        for _ in range(100):
            if server.calls:
                break
            await asyncio.sleep(0.02)
        rundir = RuntimeDir(runtime_dir)
        rundir.activate(rundir.install(changed))
        new = await server.reload()
        second = await sipp("caller_bye.xml", tmp_path, remote_port=server.port, keys=keys,
                            extra=("-d", "300"))
        during = [view.bundle for view in server.calls_in_progress()]
        first_run = await first
        await server.drain()
        return first_run, second, during, old, new

    first, second, during, old, new = asyncio.run(main())
    _ok(first)
    _ok(second)
    assert old != new
    assert during == [old]  # the first call is still on its own bundle
    assert len(call_records(runtime_dir)) == 2


def _garbage() -> list[bytes]:
    good = (b"INVITE sip:4008205678@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;"
            b"branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: g\r\n"
            b"CSeq: 1 INVITE\r\n")
    return [
        os.urandom(200), b"\x00\xff" * 700, good[:40], good + b"X-Big: " + b"a" * 60_000
        + b"\r\n\r\n", good + b"Content-Length: 900\r\n\r\nv=0", good + b"\r\n\r\n\xff\xfe",
        good + b"Content-Type: application/sdp\r\nContent-Length: 12\r\n\r\nm=audio x y\r\n",
        b"SIP/2.0 200 OK\r\n\r\n", b"OPTIONS sip:x SIP/2.0\r\n" + b"H: v\r\n" * 500 + b"\r\n",
    ]


def test_a_malformed_sip_burst_during_a_good_call_hurts_no_one(repo: Repo,
                                                              tmp_path: Path) -> None:
    runtime_dir = install(tmp_path, repo.files)

    async def main() -> tuple[SippRun, int, int]:
        server = await start_server(runtime_dir)
        call = asyncio.ensure_future(sipp("caller_bye.xml", tmp_path, remote_port=server.port,
                                          keys=caller_keys(9), extra=("-d", "2500")))
        await asyncio.sleep(0.8)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for _ in range(30):
                for datagram in _garbage():
                    sock.sendto(datagram, ("127.0.0.1", server.port))
                await asyncio.sleep(0.01)
        # the bad-SDP INVITE got a 488 (or nothing at all), and the server still answers
        probe = await SipEndpoint.bind("127.0.0.1", 0, lambda txn: None)
        txn = probe.send_request(parse(
            f"OPTIONS sip:127.0.0.1:{server.port} SIP/2.0\r\nVia: {probe.via_for('127.0.0.1')}"
            f"\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:x@127.0.0.1>\r\n"
            f"Call-ID: probe\r\nCSeq: 1 OPTIONS\r\n\r\n".encode()), ("127.0.0.1", server.port))
        answer = await asyncio.wait_for(txn.final, 5)
        probe.close()
        run = await call
        assert server.endpoint is not None
        errors = server.endpoint.counters["parse_errors"]
        assert server.metrics.value("ccc_sip_errors_total", {"kind": "parse"}) == errors
        await server.drain()
        assert server.metrics.value("ccc_rtp_ports_in_use") == 0
        assert (server.metrics.value("ccc_media_seconds_total") or 0) > 1.0
        return run, answer.status, errors

    run, options_status, parse_errors = asyncio.run(main())
    _ok(run)
    assert options_status == 200
    assert parse_errors >= 30 * 5
    [record] = call_records(runtime_dir)
    assert record["outcome"] == "caller hung up"


def test_the_agent_leg_is_a_real_uac(tmp_path: Path) -> None:
    """UAC side against SIPp's built-in UAS: INVITE, 180/200, ACK with the 2xx's To tag
    (SIPp checks it), BYE."""

    async def main() -> tuple[int, str, SippRun]:
        uas_port = free_udp_port()
        uas = asyncio.ensure_future(sipp_builtin_uas(tmp_path, uas_port))
        await asyncio.sleep(0.3)
        endpoint = await SipEndpoint.bind("127.0.0.1", 0, lambda txn: None)
        uri = f"sip:agent@127.0.0.1:{uas_port}"
        out = endpoint.invite(uri, NameAddr("", "sip:+8613700000001@127.0.0.1", {}),
                              NameAddr("", uri, {}), build_sdp("127.0.0.1", 40000, None, 101, 1))
        status = 0
        while status < 200:
            response = await out.next_response(5)
            assert response is not None
            status = response.status
        assert out.dialog is not None
        tag = out.dialog.remote_tag
        await out.dialog.bye(5)
        endpoint.close()
        return status, tag, await uas

    status, tag, uas = asyncio.run(main())
    assert status == 200 and tag
    _ok(uas)


async def sipp_builtin_uas(tmp: Path, port: int) -> SippRun:
    """SIPp's own UAS scenario (answers, waits for BYE)."""
    proc = await asyncio.create_subprocess_exec(
        "sipp", "-sn", "uas", "-p", str(port), "-i", "127.0.0.1", "-m", "1", "-nostdin",
        "-timeout", "15s", "-timeout_error", cwd=tmp, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 20)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
    return SippRun(proc.returncode or 0, out.decode(errors="replace"),
                   err.decode(errors="replace"), "")


@pytest.mark.slow
def test_a_call_of_a_minute_stays_up(repo: Repo, tmp_path: Path) -> None:
    """pyVoIP's wrong ACK tag dropped calls after about 30 s; ours take the ACK and stay."""
    runtime_dir = install(tmp_path, repo.files)

    async def main() -> SippRun:
        server = await start_server(runtime_dir)
        run = await sipp("caller_voicemail.xml", tmp_path, remote_port=server.port,
                         keys=caller_keys(9), extra=("-d", "56000"), timeout_s=90)
        await server.drain()
        return run

    _ok(asyncio.run(main()))
    [record] = call_records(runtime_dir)
    assert record["outcome"] == "voicemail sales"
    assert record["duration_ms"] >= 60_000


def test_keys_sent_as_sip_info_drive_the_menu(repo: Repo, tmp_path: Path) -> None:
    runtime_dir = install(tmp_path, repo.files)

    async def main() -> SippRun:
        server = await start_server(runtime_dir)
        run = await sipp("caller_info.xml", tmp_path, remote_port=server.port,
                         keys=caller_keys(9), extra=("-d", "4000"))
        await server.drain()
        return run

    _ok(asyncio.run(main()))
    [record] = call_records(runtime_dir)
    assert record["outcome"] == "voicemail sales"  # 1 (zh), 1 (sales, nobody there)


def test_a_transfer_to_a_number_goes_through_the_trunk_with_the_guards_caller_id(
        repo: Repo, tmp_path: Path) -> None:
    runtime_dir = install(tmp_path, repo.files)

    async def main() -> tuple[SippRun, SippRun]:
        server = await start_server(runtime_dir)
        gateway = asyncio.ensure_future(sipp("agent.xml", tmp_path,
                                             local_port=repo.gateway_port))
        await asyncio.sleep(0.3)
        run = await sipp("caller_wait.xml", tmp_path, remote_port=server.port,
                         keys={**caller_keys(9), "service": "02081230000"})  # the VIP line
        gateway_run = await gateway
        await server.drain()
        return run, gateway_run

    caller, gateway = asyncio.run(main())
    _ok(caller)
    _ok(gateway)
    # the VIP queue is unstaffed; alice's mobile is refused; then the flow's outside number,
    # shown with the Beijing landline (the callee is in Beijing)
    assert "FROM=+861062340000" in gateway.log
    [record] = call_records(runtime_dir)
    assert record["outcome"] == "transferred to number +8613800138000"
    assert record["outbound_refused"] == ["+8613912340002: on the outbound blacklist"]


def test_a_caller_who_hangs_up_while_the_agent_rings_cancels_the_leg(repo: Repo,
                                                                    tmp_path: Path) -> None:
    runtime_dir = install(tmp_path, repo.files)

    async def main() -> tuple[SippRun, SippRun, AgentState]:
        server = await start_server(runtime_dir)
        acd = server.acd()
        assert acd is not None
        acd.set_state("bob", AgentState.AVAILABLE)
        agent = asyncio.ensure_future(sipp("agent_noanswer.xml", tmp_path,
                                           local_port=repo.agent_port))
        await asyncio.sleep(0.3)
        caller = await sipp("caller_voicemail.xml", tmp_path, remote_port=server.port,
                            keys=caller_keys(9), extra=("-d", "200"))
        agent_run = await agent
        await server.drain()
        assert server.pool.in_use == 0
        return caller, agent_run, acd.status("bob").state

    caller, agent, bob = asyncio.run(main())
    _ok(caller)
    _ok(agent)  # the agent's phone got the CANCEL, and the ACK for its 487
    assert bob is AgentState.AVAILABLE  # freed for the next caller
    [record] = call_records(runtime_dir)
    assert record["outcome"] == "caller hung up" and record["agent"] is None


def test_a_changed_current_is_noticed_without_a_signal(repo: Repo, tmp_path: Path) -> None:
    runtime_dir = install(tmp_path, repo.files)
    config = json.loads(repo.files["bundle.json"])
    config["after_call_work_ms"] = 2000
    changed = {**repo.files, "bundle.json": json.dumps(config).encode()}
    changed["manifest.json"] = manifest_bytes(changed)

    async def main() -> tuple[str, str, str]:
        server = await start_server(runtime_dir)
        old = server.health().bundle or ""
        rundir = RuntimeDir(runtime_dir)
        new = rundir.install(changed)
        rundir.activate(new)
        for _ in range(60):  # the watcher looks every 2 s
            if server.health().bundle == new:
                break
            await asyncio.sleep(0.1)
        seen = server.health().bundle or ""
        await server.drain()
        return old, new, seen

    old, new, seen = asyncio.run(main())
    assert old != new and seen == new
