"""SIP messages (RFC 3261 section 7) from and to bytes.

Everything here faces the internet: a datagram is capped in size, in header count and in line
length; bytes are decoded with replacement characters (never a UnicodeDecodeError); and the only
exception that leaves `parse` is `SipParseError`. Parsing is strict where routing depends on it
(start line, Via, CSeq, Content-Length) and tolerant elsewhere: compact header names, empty
header values, folded lines, LF-only line ends.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

MAX_MESSAGE = 65_536
MAX_HEADERS = 128
MAX_LINE = 8_192
MAX_BODY = 16_384

COMPACT = {"i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length",
           "c": "content-type", "f": "from", "s": "subject", "k": "supported", "t": "to",
           "v": "via", "r": "refer-to", "o": "event", "u": "allow-events", "x": "session-expires"}
"""Compact header forms (RFC 3261 7.3.3 and later RFCs) -> the full, lower-case name."""
_CANONICAL = {"call-id": "Call-ID", "cseq": "CSeq", "www-authenticate": "WWW-Authenticate",
              "p-asserted-identity": "P-Asserted-Identity", "mime-version": "MIME-Version"}
_TOKEN = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+")
_STATUS_LINE = re.compile(r"SIP/2\.0 ([1-6][0-9][0-9])(?: (.*))?")
_CSEQ = re.compile(r"\s*([0-9]{1,10})\s+([A-Za-z0-9.!%*_+`'~-]+)\s*")
_REQUIRED = ("via", "from", "to", "call-id", "cseq")
REASONS = {100: "Trying", 180: "Ringing", 183: "Session Progress", 200: "OK",
           400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
           408: "Request Timeout", 415: "Unsupported Media Type", 480: "Temporarily Unavailable",
           481: "Call/Transaction Does Not Exist", 486: "Busy Here", 487: "Request Terminated",
           488: "Not Acceptable Here", 500: "Server Internal Error",
           503: "Service Unavailable", 603: "Decline"}


class SipParseError(ValueError):
    """A datagram that is not a SIP message we accept (the reason is safe to log)."""


def header_key(name: str) -> str:
    """The lower-case full name of a header name as written (compact forms expanded)."""
    low = name.strip().lower()
    return COMPACT.get(low, low)


def _display_name(key: str) -> str:
    return _CANONICAL.get(key) or "-".join(p.capitalize() for p in key.split("-"))


@dataclass(slots=True)
class SipMessage:
    """A request (`method` set) or a response (`status` set). Headers keep their order;
    lookups are by the lower-case full name."""

    method: str | None = None
    uri: str = ""
    status: int = 0
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return self.method is not None

    def get(self, name: str) -> str | None:
        key = header_key(name)
        for k, value in self.headers:
            if k == key:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        key = header_key(name)
        return [value for k, value in self.headers if k == key]

    def set(self, name: str, value: str) -> None:
        """Replace every header `name` by one with `value` (at the first one's place)."""
        key = header_key(name)
        kept: list[tuple[str, str]] = []
        done = False
        for k, v in self.headers:
            if k != key:
                kept.append((k, v))
            elif not done:
                kept.append((key, value))
                done = True
        if not done:
            kept.append((key, value))
        self.headers = kept

    def add(self, name: str, value: str) -> None:
        self.headers.append((header_key(name), value))

    def vias(self) -> list[Via]:
        """Every Via value in order (comma-separated values split)."""
        return [parse_via(v) for h in self.get_all("via") for v in split_commas(h)]

    @property
    def call_id(self) -> str:
        return self.get("call-id") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        match = _CSEQ.fullmatch(self.get("cseq") or "")
        if match is None:
            raise SipParseError("bad CSeq")
        return int(match.group(1)), match.group(2).upper()

    @property
    def branch(self) -> str:
        vias = self.get("via")
        if vias is None:
            return ""
        return parse_via(split_commas(vias)[0]).params.get("branch") or ""

    def from_tag(self) -> str:
        return parse_name_addr(self.get("from") or "").params.get("tag") or ""

    def to_tag(self) -> str:
        return parse_name_addr(self.get("to") or "").params.get("tag") or ""

    def serialize(self) -> bytes:
        """Bytes on the wire; Content-Length is always written, from the body."""
        if self.method is not None:
            start = f"{self.method} {self.uri} SIP/2.0"
        else:
            start = f"SIP/2.0 {self.status} {self.reason or REASONS.get(self.status, '')}"
        lines = [start]
        lines += [f"{_display_name(k)}: {v}" for k, v in self.headers if k != "content-length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "replace") + self.body


def _lines(head: str) -> Iterator[str]:
    for line in head.split("\n"):
        yield line[:-1] if line.endswith("\r") else line


def parse(data: bytes) -> SipMessage:
    """One SIP message from a datagram; SipParseError for anything we don't accept."""
    if len(data) > MAX_MESSAGE:
        raise SipParseError("message too large")
    data = data.lstrip(b"\r\n")  # keep-alive CRLFs before a message are allowed
    cut = data.find(b"\r\n\r\n")
    sep = 4
    if cut < 0:
        cut, sep = data.find(b"\n\n"), 2
    if cut < 0:
        raise SipParseError("no end of headers")
    head = data[:cut].decode("utf-8", "replace")
    body = data[cut + sep:]
    lines = list(_lines(head))
    if len(lines) > MAX_HEADERS + 1:
        raise SipParseError("too many header lines")
    if any(len(line) > MAX_LINE for line in lines):
        raise SipParseError("header line too long")
    msg = _start_line(lines[0])
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):  # folded continuation of the previous header
            if not msg.headers:
                raise SipParseError("continuation line before any header")
            key, value = msg.headers[-1]
            msg.headers[-1] = (key, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.fullmatch(name.strip()):
            raise SipParseError("malformed header line")
        msg.headers.append((header_key(name), value.strip()))
    for key in _REQUIRED:
        if msg.get(key) is None:
            raise SipParseError(f"missing {key} header")
    if msg.method is not None and msg.cseq[1] != msg.method:
        raise SipParseError("CSeq method differs from the request method")
    length_text = msg.get("content-length")
    if length_text is not None:
        if not length_text.isdigit() or len(length_text) > 6:
            raise SipParseError("bad Content-Length")
        length = int(length_text)
        if length > len(body):
            raise SipParseError("body shorter than Content-Length")
        body = body[:length]
    if len(body) > MAX_BODY:
        raise SipParseError("body too large")
    msg.body = body
    return msg


def _start_line(line: str) -> SipMessage:
    if line.startswith("SIP/"):
        match = _STATUS_LINE.fullmatch(line)
        if match is None:
            raise SipParseError("malformed status line")
        return SipMessage(status=int(match.group(1)), reason=match.group(2) or "")
    parts = line.split(" ")
    if len(parts) != 3 or parts[2] != "SIP/2.0" or not _TOKEN.fullmatch(parts[0]):
        raise SipParseError("malformed request line")
    if ":" not in parts[1]:
        raise SipParseError("malformed Request-URI")
    return SipMessage(method=parts[0].upper(), uri=parts[1])


# ---------------------------------------------------------------------- header values


def split_commas(value: str) -> list[str]:
    """Split a header value on commas outside quotes and angle brackets."""
    out: list[str] = []
    depth = 0
    quoted = False
    start = 0
    for i, ch in enumerate(value):
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            depth += 1
        elif not quoted and ch == ">":
            depth = max(0, depth - 1)
        elif ch == "," and not quoted and depth == 0:
            out.append(value[start:i].strip())
            start = i + 1
    out.append(value[start:].strip())
    return [part for part in out if part]


def parse_params(text: str) -> dict[str, str | None]:
    """`;a=1;b` -> {"a": "1", "b": None} (names lower-cased, quotes kept off)."""
    params: dict[str, str | None] = {}
    for item in text.split(";"):
        name, eq, value = item.strip().partition("=")
        if name:
            params[name.lower()] = value.strip().strip('"') if eq else None
    return params


@dataclass(frozen=True, slots=True)
class Via:
    transport: str
    host: str
    port: int | None
    params: dict[str, str | None]

    def __str__(self) -> str:
        hostport = self.host if self.port is None else f"{self.host}:{self.port}"
        return f"SIP/2.0/{self.transport} {hostport}" + format_params(self.params)


def format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


def parse_via(value: str) -> Via:
    proto, _, rest = value.strip().partition(" ")
    parts = proto.split("/")
    if len(parts) != 3 or parts[0].upper() != "SIP":
        raise SipParseError("malformed Via")
    sent_by, _, params = rest.strip().partition(";")
    host, port = split_hostport(sent_by.strip())
    if not host:
        raise SipParseError("Via without a host")
    return Via(parts[2].upper(), host, port, parse_params(params))


def split_hostport(text: str) -> tuple[str, int | None]:
    """`host:port`, `[v6]:port` or `host` -> (host, port or None); SipParseError if bad."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError("malformed IPv6 reference")
        host, rest = text[1:end], text[end + 1:]
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = text.partition(":")
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise SipParseError("bad port")
        return host, int(port_text)
    return host, None


@dataclass(frozen=True, slots=True)
class NameAddr:
    """`"Alice" <sip:alice@host>;tag=x`: the display name, the URI and the header params."""

    display: str
    uri: str
    params: dict[str, str | None]

    def __str__(self) -> str:
        shown = f'"{self.display}" ' if self.display else ""
        return f"{shown}<{self.uri}>" + format_params(self.params)


def parse_name_addr(value: str) -> NameAddr:
    text = value.strip()
    if "<" in text:
        display, _, rest = text.partition("<")
        uri, _, params = rest.partition(">")
        return NameAddr(display.strip().strip('"'), uri.strip(), parse_params(params))
    uri, _, params = text.partition(";")
    return NameAddr("", uri.strip(), parse_params(params))


@dataclass(frozen=True, slots=True)
class SipUri:
    scheme: str
    user: str
    host: str
    port: int | None
    params: dict[str, str | None]


def parse_uri(uri: str) -> SipUri:
    """`sip:user@host:port;params` (also sips: and tel:); SipParseError if it isn't one."""
    scheme, colon, rest = uri.strip().partition(":")
    scheme = scheme.lower()
    if not colon or scheme not in ("sip", "sips", "tel"):
        raise SipParseError("not a sip:, sips: or tel: URI")
    rest = rest.split("?", 1)[0]
    if scheme == "tel":
        number, _, params = rest.partition(";")
        return SipUri(scheme, number, "", None, parse_params(params))
    userinfo, at, hostpart = rest.rpartition("@")
    if not at:
        hostpart = userinfo or hostpart
        userinfo = ""
    hostport, _, params = hostpart.partition(";")
    host, port = split_hostport(hostport)
    if not host:
        raise SipParseError("URI without a host")
    return SipUri(scheme, userinfo.split(":", 1)[0], host, port, parse_params(params))


def user_of(value: str) -> str:
    """The user part of the URI in a From / To / P-Asserted-Identity value ("" if none)."""
    try:
        return parse_uri(parse_name_addr(value).uri).user
    except SipParseError:
        return ""


def response_to(request: SipMessage, status: int, reason: str = "", *,
                to_tag: str | None = None, headers: Iterable[tuple[str, str]] = (),
                body: bytes = b"") -> SipMessage:
    """A response copying Via, From, To (adding our tag), Call-ID and CSeq (RFC 3261 8.2.6)."""
    msg = SipMessage(status=status, reason=reason or REASONS.get(status, ""))
    for key, value in request.headers:
        if key in ("via", "from", "call-id", "cseq", "record-route"):
            msg.headers.append((key, value))
        elif key == "to":
            if to_tag is not None and "tag" not in parse_name_addr(value).params:
                value = f"{value};tag={to_tag}"
            msg.headers.append((key, value))
    for name, value in headers:
        msg.add(name, value)
    msg.body = body
    return msg
