"""RTP media on the event loop: one datagram endpoint per call leg, one shared 20 ms ticker.

pyVoIP runs a sleep-polling thread per RTP stream, which is where one process reaches its knee
at 75-100 calls. Here a single `MediaTicker` wakes every 20 ms on `loop.call_at` against an
absolute schedule (no drift; when the loop was late it skips ahead instead of bursting) and
asks every playing leg for its next frame. Receiving is event-driven: audio goes to a recorder
or to the bridged leg, telephone-events (RFC 4733) become digits once each.

`PortPool` hands out even ports from a range, never one that is in use (ours or another
process's: binding decides) and takes them back when a leg closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

from . import g711
from .sdp import PCMA

log = logging.getLogger("ccc_runtime.sip.rtp")

FRAME_MS = 20
FRAME_SAMPLES = 160
DTMF_EVENTS = "0123456789*#ABCD"
_HEADER = struct.Struct("!BBHII")
MAX_RTP = 2048


class PortsExhausted(Exception):
    """No RTP port is free: the call can't be taken (503)."""


@dataclass(frozen=True, slots=True)
class RtpPacket:
    payload_type: int
    marker: bool
    seq: int
    timestamp: int
    ssrc: int
    payload: bytes


def parse_rtp(data: bytes) -> RtpPacket | None:
    """An RTP packet (version 2), or None for anything else; CSRCs, extensions and padding
    are skipped."""
    if len(data) < 12 or len(data) > MAX_RTP or data[0] >> 6 != 2:
        return None
    first, second, seq, ts, ssrc = _HEADER.unpack_from(data)
    offset = 12 + 4 * (first & 0x0F)
    if first & 0x10:
        if len(data) < offset + 4:
            return None
        offset += 4 + 4 * struct.unpack_from("!H", data, offset + 2)[0]
    end = len(data)
    if first & 0x20:
        end -= data[-1]
    if offset > end:
        return None
    return RtpPacket(second & 0x7F, bool(second & 0x80), seq, ts, ssrc, data[offset:end])


def build_rtp(payload_type: int, seq: int, timestamp: int, ssrc: int, payload: bytes,
              marker: bool = False) -> bytes:
    return _HEADER.pack(0x80, (0x80 if marker else 0) | payload_type, seq & 0xFFFF,
                        timestamp & 0xFFFFFFFF, ssrc) + payload


class DtmfDetector:
    """RFC 4733 telephone-events -> digits, each reported once.

    A sender repeats an event's packets (same RTP timestamp) while the key is down and sends
    the end packet three times; a new event has a new timestamp or, when a sender replays the
    same one (SIPp's pcap files), the marker bit or a start after an end."""

    def __init__(self) -> None:
        self._timestamp: int | None = None
        self._ended = False

    def feed(self, packet: RtpPacket) -> str | None:
        payload = packet.payload
        if len(payload) < 4 or payload[0] >= len(DTMF_EVENTS):
            return None
        end = bool(payload[1] & 0x80)
        new = (packet.timestamp != self._timestamp or packet.marker
               or (self._ended and not end))
        if not new:
            self._ended = self._ended or end
            return None
        self._timestamp = packet.timestamp
        self._ended = end
        return DTMF_EVENTS[payload[0]]


class MediaTicker:
    """One timer for every leg: each 20 ms tick, every registered leg sends one frame."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._legs: set[RtpLeg] = set()
        self._handle: asyncio.TimerHandle | None = None
        self._next = 0.0
        self.ticks = 0
        self.late_ticks = 0

    def add(self, leg: RtpLeg) -> None:
        self._legs.add(leg)
        if self._handle is None:
            self._next = self._loop.time() + FRAME_MS / 1000
            self._handle = self._loop.call_at(self._next, self._tick)

    def discard(self, leg: RtpLeg) -> None:
        self._legs.discard(leg)

    def _tick(self) -> None:
        self.ticks += 1
        for leg in list(self._legs):
            leg.tick()
        step = FRAME_MS / 1000
        self._next += step
        now = self._loop.time()
        if now > self._next + step:  # the loop was busy: skip ahead, don't burst
            self.late_ticks += 1
            self._next = now + step
        self._handle = self._loop.call_at(self._next, self._tick) if self._legs else None

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._legs.clear()


class PortPool:
    """Even RTP ports from [low, high); a port is out while a leg holds it."""

    def __init__(self, low: int, high: int) -> None:
        self.low = low + (low % 2)
        self.high = high
        self._used: set[int] = set()
        self._next = self.low

    @property
    def in_use(self) -> int:
        return len(self._used)

    async def open(self, host: str, loop: asyncio.AbstractEventLoop,
                   ticker: MediaTicker) -> RtpLeg:
        """Bind a leg on the next free port; PortsExhausted when none can be bound."""
        span = (self.high - self.low + 1) // 2
        for _ in range(span):
            port = self._next
            self._next = self.low if self._next + 2 >= self.high else self._next + 2
            if port in self._used:
                continue
            leg = RtpLeg(self, port, ticker)
            self._used.add(port)  # before the await: a concurrent open must not take it
            try:
                await loop.create_datagram_endpoint(leg.itself, local_addr=(host, port))
            except OSError:
                self._used.discard(port)
                continue  # another process holds it
            return leg
        raise PortsExhausted(f"no free RTP port in {self.low}-{self.high}")

    def release(self, port: int) -> None:
        self._used.discard(port)


class RtpLeg(asyncio.DatagramProtocol):
    """One call leg's media: sends frames (a prompt, music, silence, or nothing) on ticks, and
    hands received audio and digits to whoever listens."""

    def __init__(self, pool: PortPool, port: int, ticker: MediaTicker) -> None:
        self.pool = pool
        self.port = port
        self.ticker = ticker
        self.transport: asyncio.DatagramTransport | None = None
        self.remote: tuple[str, int] | None = None
        self.codec = PCMA
        self.event_pt: int | None = None
        self.ssrc = random.getrandbits(32)
        self._seq = random.getrandbits(16)
        self._ts = random.getrandbits(32)
        self._frames: Sequence[bytes] = ()
        self._pos = 0
        self._loop_frames = False
        self._done: asyncio.Future[None] | None = None
        self._dtmf = DtmfDetector()
        self.on_digit: Callable[[str], None] | None = None
        self.on_audio: Callable[[bytes, int], None] | None = None
        """Receives (payload, payload type) of every audio packet (recording, bridging)."""
        self.received = 0
        self.sent = 0
        self.closed = False

    # ---- asyncio protocol
    def itself(self) -> RtpLeg:
        """The protocol factory for `create_datagram_endpoint`."""
        return self

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a datagram transport (3.11's selector one doesn't subclass DatagramTransport)
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        if self.remote is None or addr[0] != self.remote[0]:
            return  # only the peer the SDP named may feed this leg
        packet = parse_rtp(data)
        if packet is None:
            return
        self.received += 1
        if self.event_pt is not None and packet.payload_type == self.event_pt:
            digit = self._dtmf.feed(packet)
            if digit is not None and self.on_digit is not None:
                self.on_digit(digit)
        elif packet.payload_type in (0, 8) and self.on_audio is not None:
            self.on_audio(packet.payload, packet.payload_type)

    def error_received(self, exc: Exception) -> None:
        log.debug("rtp port %s: %s", self.port, exc)

    # ---- sending
    def connect(self, host: str, port: int, codec: int, event_pt: int | None) -> None:
        self.remote = (host, port)
        self.codec = codec
        self.event_pt = event_pt

    def play(self, frames: Sequence[bytes], loop: bool = False) -> asyncio.Future[None]:
        """Send `frames` (encoded for this leg's codec), one per tick; the future completes
        when they have all gone (never, with `loop`, until `stop`)."""
        self.stop()
        self._frames, self._pos, self._loop_frames = frames, 0, loop
        self._done = asyncio.get_running_loop().create_future()
        if not frames:
            self._done.set_result(None)
        else:
            self.ticker.add(self)
        return self._done

    def stop(self) -> None:
        """Stop playing (the future of the current playback completes)."""
        self._frames = ()
        if self._done is not None and not self._done.done():
            self._done.set_result(None)
        self._done = None
        self.ticker.discard(self)

    def tick(self) -> None:
        if self._pos >= len(self._frames):
            if self._loop_frames and self._frames:
                self._pos = 0
            else:
                self.stop()
                return
        frame = self._frames[self._pos]
        self._pos += 1
        self.send(frame, self.codec, marker=self._pos == 1)

    def send(self, payload: bytes, payload_type: int, marker: bool = False) -> None:
        """Send one packet now (the ticker's frames, or relayed audio)."""
        if self.transport is None or self.remote is None or self.closed:
            return
        self._seq = (self._seq + 1) & 0xFFFF
        self._ts = (self._ts + len(payload)) & 0xFFFFFFFF
        self.transport.sendto(build_rtp(payload_type, self._seq, self._ts, self.ssrc, payload,
                                        marker), self.remote)
        self.sent += 1

    def relay_to(self, other: RtpLeg | None) -> None:
        """Bridge: every audio packet received here is sent on `other` (transcoded between
        the laws when the legs differ); None ends the bridge."""
        if other is None:
            self.on_audio = None
            return

        def forward(payload: bytes, payload_type: int) -> None:
            if payload_type != other.codec:
                payload = payload.translate(g711.transcode_table(payload_type == PCMA))
            other.send(payload, other.codec)

        self.on_audio = forward

    def close(self) -> None:
        """Stop, close the socket and give the port back (idempotent)."""
        if self.closed:
            return
        self.stop()
        self.closed = True
        self.on_digit = self.on_audio = None
        if self.transport is None:
            self.pool.release(self.port)
            return
        with contextlib.suppress(Exception):
            self.transport.close()  # the port goes back once the socket is really closed

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.release(self.port)


def silence(codec: int, ms: int) -> list[bytes]:
    """`ms` of silence as frames for `codec`."""
    byte = g711.ALAW_SILENCE if codec == PCMA else g711.ULAW_SILENCE
    return [bytes([byte]) * FRAME_SAMPLES] * max(1, ms // FRAME_MS)
