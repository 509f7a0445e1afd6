"""Media: G.711 both laws, RTP packets, RFC 4733 digits from SIPp's captures, the port pool,
the 20 ms ticker, prompt audio and TTS."""

from __future__ import annotations

import asyncio
import itertools
import socket
import struct
import time
from pathlib import Path

import pytest
from ccc_runtime.channel import Utterance
from ccc_runtime.sip import g711
from ccc_runtime.sip.prompts import PromptStore, read_wav_8k
from ccc_runtime.sip.rtp import (
    DtmfDetector,
    MediaTicker,
    PortPool,
    PortsExhausted,
    RtpPacket,
    build_rtp,
    parse_rtp,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from sip_helpers import EXAMPLES, Receiver, rtp_range

PCAPS = Path("/usr/share/sip-tester")


def test_g711_known_vectors_both_laws() -> None:
    # ITU-T G.711: silence codes, and the extremes of each law
    assert g711.linear_to_ulaw(0) == 0xFF and g711.linear_to_alaw(0) == 0xD5
    assert g711.ulaw_to_linear(0x00) == -32124 and g711.ulaw_to_linear(0x80) == 32124
    assert g711.alaw_to_linear(0xD5) == 8 and g711.alaw_to_linear(0x2A) == -32256
    assert g711.linear_to_ulaw(32767) == 0x80 and g711.linear_to_alaw(32767) == 0xAA
    assert g711.linear_to_ulaw(-32768) == 0x00 and g711.linear_to_alaw(-32768) == 0x2A
    pcm = struct.pack("<4h", 0, 1000, -1000, 30000)
    assert g711.encode(pcm, alaw=False) == bytes([0xFF, 0xCE, 0x4E, 0x82])
    assert g711.encode(pcm, alaw=True) == bytes([0xD5, 0xFA, 0x7A, 0xA8])


def test_g711_round_trips_and_the_laws_differ() -> None:
    codes = bytes(range(256))
    for alaw in (False, True):
        again = g711.encode(g711.decode(codes, alaw), alaw)
        expected = codes if alaw else codes.replace(b"\x7f", b"\xff")  # u-law's two zeros
        assert again == expected
    pcm = struct.pack("<160h", *(int(8000 * ((i % 40) - 20) / 20) for i in range(160)))
    assert g711.encode(pcm, alaw=True) != g711.encode(pcm, alaw=False)  # pyVoIP's PCMA bug
    for alaw in (False, True):
        back = struct.unpack("<160h", g711.decode(g711.encode(pcm, alaw), alaw))
        original = struct.unpack("<160h", pcm)
        assert all(abs(a - b) <= max(16, abs(a) // 16) for a, b in zip(original, back, strict=True))
    ulaw = g711.encode(pcm, alaw=False)
    assert ulaw.translate(g711.transcode_table(False)) == g711.encode(
        g711.decode(ulaw, alaw=False), alaw=True)


def test_rtp_round_trip_and_garbage() -> None:
    data = build_rtp(8, 65535, 2**32 - 1, 0xDEADBEEF, b"\xd5" * 160, marker=True)
    assert parse_rtp(data) == RtpPacket(8, True, 65535, 2**32 - 1, 0xDEADBEEF, b"\xd5" * 160)
    assert parse_rtp(b"\x00" * 20) is None  # version 0
    assert parse_rtp(b"\x80") is None
    assert parse_rtp(b"\x9f" + b"\x00" * 11) is None  # 15 CSRCs announced, none there


def _pcap_packets(name: str) -> list[RtpPacket]:
    data = (PCAPS / name).read_bytes()
    packets, offset = [], 24
    while offset < len(data):
        length = struct.unpack_from("<I", data, offset + 8)[0]
        frame = data[offset + 16: offset + 16 + length]
        packet = parse_rtp(frame[42:])  # Ethernet, IPv4, UDP
        assert packet is not None
        packets.append(packet)
        offset += 16 + length
    return packets


def test_rfc4733_digits_from_sipps_captures_once_each() -> None:
    detector = DtmfDetector()
    heard = []
    for name, digit in (("dtmf_2833_1.pcap", "1"), ("dtmf_2833_1.pcap", "1"),
                        ("dtmf_2833_pound.pcap", "#"), ("dtmf_2833_9.pcap", "9")):
        packets = _pcap_packets(name)
        assert sum(1 for p in packets if p.payload[1] & 0x80) == 3  # the end, sent 3 times
        found = [d for d in (detector.feed(p) for p in packets) if d is not None]
        assert found == [digit]
        heard += found
    assert heard == ["1", "1", "#", "9"]  # the same capture twice is two key presses
    assert detector.feed(RtpPacket(101, True, 1, 99, 1, bytes([16, 0x80, 0, 160]))) is None
    assert detector.feed(RtpPacket(101, True, 1, 98, 1, b"\x01")) is None


def test_the_port_pool_skips_ports_in_use_and_takes_ports_back() -> None:
    async def main() -> None:
        low, _ = rtp_range()
        pool = PortPool(low, low + 6)
        ticker = MediaTicker(asyncio.get_running_loop())
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
            other.bind(("127.0.0.1", low))  # another process holds the first port
            loop = asyncio.get_running_loop()
            first = await pool.open("127.0.0.1", loop, ticker)
            second = await pool.open("127.0.0.1", loop, ticker)
            assert {first.port, second.port} == {low + 2, low + 4}
            with pytest.raises(PortsExhausted):
                await pool.open("127.0.0.1", loop, ticker)
            first.close()
            first.close()  # idempotent
            await asyncio.sleep(0)  # the socket closes on the next loop turn
            assert pool.in_use == 1
            again = await pool.open("127.0.0.1", loop, ticker)
            assert again.port == low + 2
            again.close()
            second.close()
            await asyncio.sleep(0)
            assert pool.in_use == 0

    asyncio.run(main())


def test_the_ticker_paces_frames_at_20_ms_from_the_loop() -> None:
    async def main() -> tuple[float, int, list[RtpPacket]]:
        loop = asyncio.get_running_loop()
        low, high = rtp_range()
        pool = PortPool(low, high)
        ticker = MediaTicker(loop)
        receiver = await Receiver.open()
        legs = [await pool.open("127.0.0.1", loop, ticker) for _ in range(3)]
        for leg in legs:
            leg.connect("127.0.0.1", receiver.port, 0, None)
        start = time.monotonic()
        await asyncio.gather(*(leg.play([bytes([i]) * 160 for i in range(25)]) for leg in legs))
        elapsed = time.monotonic() - start
        await asyncio.sleep(0.05)
        for leg in legs:
            leg.close()
        receiver.close()
        return elapsed, ticker.ticks, receiver.packets

    elapsed, ticks, packets = asyncio.run(main())
    assert 0.45 <= elapsed <= 0.8  # 25 frames of 20 ms, one timer for all three legs
    assert ticks <= 27
    assert len(packets) == 75
    by_stream: dict[int, list[RtpPacket]] = {}
    for packet in packets:
        by_stream.setdefault(packet.ssrc, []).append(packet)
    for stream in by_stream.values():
        assert [p.payload[0] for p in stream] == list(range(25))
        pairs = list(itertools.pairwise(stream))
        assert all((b.timestamp - a.timestamp) % 2**32 == 160 for a, b in pairs)
        assert all((b.seq - a.seq) % 2**16 == 1 for a, b in pairs)


def test_prompt_audio_files_and_tts_are_made_once(tmp_path: Path) -> None:
    async def main() -> None:
        store = PromptStore(EXAMPLES, tmp_path / "tts")
        wav = await store.audio(Utterance("closed", "zh", file="prompts/zh/closed.wav"))
        assert wav.ms == 1000 and len(wav.frames(8)) == 50
        assert await store.audio(Utterance("closed", "zh", file="prompts/zh/closed.wav")) is wav
        spoken = await asyncio.gather(*(store.audio(Utterance(None, "en", text="Goodbye"))
                                        for _ in range(3)))
        assert spoken[0] is spoken[1] is spoken[2] and spoken[0].ms > 200
        cached = list((tmp_path / "tts").glob("*.wav"))
        assert len(cached) == 1 and read_wav_8k(cached[0].read_bytes()) == spoken[0].pcm
        again = PromptStore(EXAMPLES, tmp_path / "tts")  # a restart reads the cache
        assert (await again.audio(Utterance(None, "en", text="Goodbye"))).pcm == spoken[0].pcm
        with pytest.raises(Exception, match="outside the bundle"):
            await store.audio(Utterance("x", "zh", file="../../etc/passwd"))

    asyncio.run(main())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=20))
def test_random_datagrams_never_break_rtp_parsing_or_digit_detection(datagrams: list[bytes]
                                                                     ) -> None:
    detector = DtmfDetector()
    for data in datagrams:
        packet = parse_rtp(b"\x80\x65" + data)
        if packet is not None:
            digit = detector.feed(packet)
            assert digit is None or digit in "0123456789*#ABCD"
