"""SDP (RFC 4566) for one audio stream: what a peer offers, and our answer or offer.

We speak G.711 (PCMU 0, PCMA 8) and receive DTMF as telephone-event (RFC 4733). The static
payload numbers and clock rates come from pyVoIP's payload-type table (sound, and the one part of
its RTP module we use; see docs/runtime.md).
"""

from __future__ import annotations

import ipaddress
import warnings
from dataclasses import dataclass

from .message import SipParseError

with warnings.catch_warnings():  # pyVoIP imports audioop, deprecated since Python 3.11
    warnings.simplefilter("ignore", DeprecationWarning)
    from pyVoIP.RTP import PayloadType

PCMU = int(PayloadType.PCMU.value)
PCMA = int(PayloadType.PCMA.value)
CODECS = {PCMU: "PCMU", PCMA: "PCMA"}
EVENT_NAME = str(PayloadType.EVENT.value)
DEFAULT_EVENT_PT = 101
MAX_SDP_LINES = 200


@dataclass(frozen=True, slots=True)
class MediaOffer:
    """The audio stream a peer describes: where to send RTP, which payload types it takes
    (in its order of preference), and its telephone-event payload type if any."""

    host: str
    port: int
    payload_types: tuple[int, ...]
    event_pt: int | None
    ptime: int = 20

    def choose(self, preferred: int | None = None) -> int | None:
        """The codec to use: `preferred` when offered, else the peer's first G.711 one."""
        if preferred is not None and preferred in self.payload_types:
            return preferred
        return next((pt for pt in self.payload_types if pt in CODECS), None)


def parse_sdp(body: bytes) -> MediaOffer:
    """The first audio m-line with its connection address; SipParseError if unusable."""
    text = body.decode("utf-8", "replace")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) > MAX_SDP_LINES:
        raise SipParseError("SDP too long")
    session_host: str | None = None
    media_host: str | None = None
    port: int | None = None
    pts: tuple[int, ...] = ()
    rtpmap: dict[int, str] = {}
    in_audio = False
    seen_audio = False
    for line in lines:
        kind, eq, value = line.partition("=")
        if not eq or len(kind) != 1:
            raise SipParseError("malformed SDP line")
        if kind == "m":
            in_audio = False
            fields = value.split()
            if fields[:1] == ["audio"] and not seen_audio:
                if len(fields) < 4 or not fields[1].split("/")[0].isdigit():
                    raise SipParseError("malformed audio m-line")
                port = int(fields[1].split("/")[0])
                if not 0 <= port < 65536:
                    raise SipParseError("bad media port")
                pts = tuple(int(f) for f in fields[3:] if f.isdigit() and int(f) < 128)
                in_audio = seen_audio = True
        elif kind == "c":
            fields = value.split()
            if len(fields) < 3 or fields[0] != "IN" or fields[1] not in ("IP4", "IP6"):
                raise SipParseError("malformed c-line")
            host = fields[2].split("/")[0]
            try:
                ipaddress.ip_address(host)
            except ValueError:
                raise SipParseError("c-line address is not an IP address") from None
            if in_audio:
                media_host = host
            elif not seen_audio:
                session_host = host
        elif kind == "a" and in_audio and value.startswith("rtpmap:"):
            pt_text, _, encoding = value[7:].partition(" ")
            if pt_text.isdigit():
                rtpmap[int(pt_text)] = encoding.split("/")[0].lower()
    address = media_host or session_host
    if port is None or address is None:
        raise SipParseError("no audio stream with an address")
    event = next((pt for pt in pts if rtpmap.get(pt) == EVENT_NAME), None)
    return MediaOffer(address, port, pts, event)


def build_sdp(host: str, port: int, codec: int | None, event_pt: int | None,
              session_id: int) -> bytes:
    """Our SDP: one audio stream; `codec` None offers both G.711 laws (PCMA first)."""
    family = "IP6" if ":" in host else "IP4"
    pts = [codec] if codec is not None else [PCMA, PCMU]
    if event_pt is not None:
        pts.append(event_pt)
    lines = ["v=0", f"o=ccc {session_id} {session_id} IN {family} {host}", "s=ccc",
             f"c=IN {family} {host}", "t=0 0", f"m=audio {port} RTP/AVP " + " ".join(map(str, pts))]
    lines += [f"a=rtpmap:{pt} {CODECS[pt]}/8000" for pt in pts if pt in CODECS]
    if event_pt is not None:
        lines += [f"a=rtpmap:{event_pt} {EVENT_NAME}/8000", f"a=fmtp:{event_pt} 0-15"]
    lines += ["a=ptime:20", "a=sendrecv"]
    return ("\r\n".join(lines) + "\r\n").encode("ascii")
