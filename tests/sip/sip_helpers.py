"""Shared pieces of the live-call tests: the example repo with its SIP peers on free loopback
ports, a server on a runtime directory, SIPp runs with hard timeouts, an RTP receiver."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ccc_runtime.clock import StartedClock
from ccc_runtime.rundir import RuntimeDir
from ccc_runtime.server import Server
from ccc_runtime.sip.rtp import RtpPacket, parse_rtp
from ports import free_media_port
from repos import copy_examples

from ccc_dsl.pipeline import build_bundle

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SCENARIOS = Path(__file__).parent / "scenarios"
SHANGHAI = ZoneInfo("Asia/Shanghai")
OPEN = datetime(2026, 11, 18, 10, 0, tzinfo=SHANGHAI)  # a Wednesday, support hours
CLOSED = datetime(2026, 11, 18, 22, 0, tzinfo=SHANGHAI)
HOTLINE = "4008205678"  # staging's "+86 400 820 5678", dialled without the country code
CALLER = "13700000001"
SIPP_TIMEOUT_S = 30


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Repo:
    """A copy of the examples whose agent bob and the trunk gateway listen on free ports."""

    path: Path
    files: dict[str, bytes]
    agent_port: int  # bob's phone
    gateway_port: int
    alice_port: int = 0


def make_repo(tmp: Path) -> Repo:
    path = tmp / "repo"
    copy_examples(path)
    agent_port, gateway_port, alice_port = free_udp_port(), free_udp_port(), free_udp_port()
    people = path / "people.yaml"
    # alice forwards to a mobile that may not be dialled: the toll-fraud guard's test
    people.write_text(people.read_text().replace(":5071", f":{agent_port}").replace(
        ":5070", f":{alice_port}").replace(
        'mobile: "+86 138 0013 8000"', 'mobile: "+86 139 1234 0002"'))
    outbound = path / "outbound.yaml"
    outbound.write_text(outbound.read_text().replace(
        'numbers: ["+86 139 1234 9999"', 'numbers: ["+86 139 1234 0002", "+86 139 1234 9999"'))
    root = path / "ccc.yaml"
    root.write_text(root.read_text().replace("gateway_port: 5080",
                                             f"gateway_port: {gateway_port}"))
    built = build_bundle(path, "staging")
    assert built.ok, built.diagnostics
    return Repo(path, built.files, agent_port, gateway_port, alice_port)


def install(tmp: Path, files: Mapping[str, bytes]) -> Path:
    rundir = RuntimeDir(tmp / "runtime")
    rundir.activate(rundir.install(files))
    return rundir.path


def rtp_range(width: int = 400) -> tuple[int, int]:
    """An even RTP port range somewhere in 20000-31400: below the system's ephemeral ports
    (32768 and up), so no other socket is handed one of them (the pool skips ports in use)."""
    low = 20000 + free_udp_port() % 5500 * 2
    return low, low + width


async def start_server(runtime_dir: Path, at: datetime = OPEN, **options: Any) -> Server:
    server = Server(runtime_dir, port=0, clock=StartedClock(at), rtp_ports=rtp_range(),
                    drain_s=options.pop("drain_s", 5.0), **options)
    await server.start()
    return server


@dataclass
class SippRun:
    rc: int
    stdout: str
    stderr: str
    log: str


async def sipp(scenario: str, tmp: Path, *, remote_port: int | None = None,
               local_port: int | None = None, local_ip: str = "127.0.0.1",
               keys: Mapping[str, str] | None = None, timeout_s: int = SIPP_TIMEOUT_S,
               extra: tuple[str, ...] = ()) -> SippRun:
    """Run one SIPp call (a UAC with `remote_port`, else a UAS on `local_port`), killed
    after `timeout_s` at the latest."""
    port = local_port or free_udp_port(local_ip)
    log = tmp / f"sipp-{scenario}-{port}.log"
    argv = ["sipp", "-sf", str(SCENARIOS / scenario), "-m", "1", "-p", str(port), "-i",
            local_ip, "-mi", local_ip, "-mp", str(free_media_port(local_ip)), "-nostdin",
            "-timeout", f"{timeout_s}s", "-timeout_error", "-trace_logs", "-trace_err",
            "-trace_msg", "-log_file", str(log), *extra]
    if remote_port is not None:
        argv.append(f"127.0.0.1:{remote_port}")
    for key, value in (keys or {}).items():
        argv += ["-s", value] if key == "service" else ["-key", key, value]
    proc = await asyncio.create_subprocess_exec(*argv, cwd=tmp, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s + 10)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        out, err = await proc.communicate()
    text = log.read_text(errors="replace") if log.exists() else ""
    return SippRun(proc.returncode if proc.returncode is not None else -9,
                   out.decode(errors="replace"), err.decode(errors="replace"), text)


class Receiver(asyncio.DatagramProtocol):
    """An RTP sink standing in for the caller's phone: keeps every packet it gets."""

    def __init__(self) -> None:
        self.packets: list[RtpPacket] = []
        self.transport: asyncio.BaseTransport | None = None
        self.port = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        packet = parse_rtp(data)
        if packet is not None:
            self.packets.append(packet)

    @classmethod
    async def open(cls) -> Receiver:
        receiver = cls()
        await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: receiver, local_addr=("127.0.0.1", 0))
        return receiver

    def audio(self, payload_type: int) -> bytes:
        """The audio payloads of one codec, in arrival order (loopback keeps the order)."""
        return b"".join(p.payload for p in self.packets if p.payload_type == payload_type)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def call_records(runtime_dir: Path) -> list[dict[str, Any]]:
    path = runtime_dir / "records" / "calls.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def caller_keys(rtp_port: int, codec: int = 0, **more: str) -> dict[str, str]:
    return {"service": HOTLINE, "caller": CALLER, "rtp_port": str(rtp_port),
            "codec": str(codec), "codec_name": "PCMU" if codec == 0 else "PCMA", **more}
