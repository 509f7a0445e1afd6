"""G.711 A-law and u-law (ITU-T G.711), 16-bit linear PCM <-> 8-bit codes.

Our own, because pyVoIP 1.6.8 encodes PCMA with the u-law encoder and converts through 8-bit
samples, and its `audioop` is gone from Python 3.13. The segment algorithms are the ITU
reference ones (as in Sun's g711.c): u-law over 14 bits, A-law over 13 bits. Encoding goes
through a 65,536-entry table built once, decoding through a 256-entry one; prompts are encoded
once per bundle, so a live call only slices bytes.
"""

from __future__ import annotations

import sys
from array import array
from functools import cache

_SEG_U = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)
_SEG_A = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)
ULAW_SILENCE = 0xFF
ALAW_SILENCE = 0xD5


def _segment(value: int, ends: tuple[int, ...]) -> int:
    for i, end in enumerate(ends):
        if value <= end:
            return i
    return len(ends)


def linear_to_ulaw(sample: int) -> int:
    """One 16-bit sample -> its u-law code."""
    value = sample >> 2
    if value < 0:
        value, mask = -value, 0x7F
    else:
        mask = 0xFF
    value = min(value, 8159) + 0x21
    seg = _segment(value, _SEG_U)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((value >> (seg + 1)) & 0xF)) ^ mask


def ulaw_to_linear(code: int) -> int:
    code = ~code & 0xFF
    t = (((code & 0x0F) << 3) + 0x84) << ((code & 0x70) >> 4)
    return 0x84 - t if code & 0x80 else t - 0x84


def linear_to_alaw(sample: int) -> int:
    """One 16-bit sample -> its A-law code."""
    value = sample >> 3
    if value >= 0:
        mask = 0xD5
    else:
        mask, value = 0x55, -value - 1
    seg = _segment(value, _SEG_A)
    if seg >= 8:
        return 0x7F ^ mask
    low = (value >> 1) & 0xF if seg < 2 else (value >> seg) & 0xF
    return ((seg << 4) | low) ^ mask


def alaw_to_linear(code: int) -> int:
    code ^= 0x55
    t = (code & 0x0F) << 4
    seg = (code & 0x70) >> 4
    if seg == 0:
        t += 8
    else:
        t = (t + 0x108) << (seg - 1)
    return t if code & 0x80 else -t


@cache
def _encode_table(alaw: bool) -> bytes:
    encode = linear_to_alaw if alaw else linear_to_ulaw
    return bytes(encode(s - 65536 if s >= 32768 else s) for s in range(65536))


@cache
def _decode_table(alaw: bool) -> tuple[int, ...]:
    decode = alaw_to_linear if alaw else ulaw_to_linear
    return tuple(decode(c) for c in range(256))


def _samples(pcm: bytes) -> array[int]:
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def encode(pcm: bytes, alaw: bool) -> bytes:
    """16-bit little-endian PCM -> G.711 codes (A-law when `alaw`, else u-law)."""
    table = _encode_table(alaw)
    return bytes(map(table.__getitem__, memoryview(_samples(pcm)).cast("B").cast("H")))


def decode(codes: bytes, alaw: bool) -> bytes:
    """G.711 codes -> 16-bit little-endian PCM."""
    samples = array("h", map(_decode_table(alaw).__getitem__, codes))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


@cache
def transcode_table(alaw_to_ulaw: bool) -> bytes:
    """A `bytes.translate` table between the laws (for relaying between two call legs)."""
    if alaw_to_ulaw:
        return bytes(linear_to_ulaw(alaw_to_linear(c)) for c in range(256))
    return bytes(linear_to_alaw(ulaw_to_linear(c)) for c in range(256))
