"""SIP URIs a flow may transfer to (`transfer sip EXPR`), read strictly.

A URI from a flow or from a function's reply is hostile input: it is dialled as the Request-URI
of a new INVITE, so it must not smuggle parameters, headers or line breaks into the message.
This reader takes only `sip:[user@]host[:port]`: a user of at most 64 safe characters, a host
name or IPv4 address, a port; nothing else (no `sips:`, no `;params`, no `?headers`). The
parser checks literals with it (P221), the outbound policy's `sip_domains` entries are checked
with `domain_problem` (M208), and the toll-fraud guard (outbound.py) matches hosts with
`host_allowed`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

MAX_URI_CHARS = 256
"""A longer text is not a URI we dial."""

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = rf"{_LABEL}(?:\.{_LABEL})*"
_URI = re.compile(rf"sip:(?:([A-Za-z0-9+._~*#!-]{{1,64}})@)?({_HOST})(?::([0-9]{{1,5}}))?",
                  re.IGNORECASE)
_DOMAIN = re.compile(rf"(?:\*\.)?{_HOST}")
_PHONE_USER = re.compile(r"\+?[0-9]{7,}")
"""A user part that dials a phone number through the other side (not an extension)."""


@dataclass(frozen=True, slots=True)
class SipTarget:
    """A checked `sip:` URI: `user` may be empty (the host itself, e.g. a conference bridge)."""

    user: str
    host: str
    port: int | None

    @property
    def uri(self) -> str:
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port is not None else ""
        return f"sip:{user}{self.host}{port}"

    @property
    def dials_number(self) -> bool:
        """Whether the user part is a phone number (the other PBX would call it out): then the
        number rules of the outbound policy apply as well."""
        return _PHONE_USER.fullmatch(self.user) is not None


def parse_sip_target(text: str) -> SipTarget | str:
    """The target of `text`, or why it is not one we dial."""
    if len(text) > MAX_URI_CHARS:
        return f"longer than {MAX_URI_CHARS} characters"
    if text[:4].lower() != "sip:":
        return "it must start with `sip:`"
    match = _URI.fullmatch(text)
    if match is None:
        return "expected sip:user@host or sip:user@host:port (no parameters or headers)"
    user, host, port = match.groups()
    number = int(port) if port is not None else None
    if number is not None and not 1 <= number <= 65535:
        return f"port {port} is out of range"
    return SipTarget(user or "", host.lower(), number)


def sip_uri_problem(text: str) -> str | None:
    """Why `text` is not a SIP URI a flow can transfer to, or None."""
    target = parse_sip_target(text)
    return target if isinstance(target, str) else None


def domain_problem(entry: str) -> str | None:
    """Why `entry` can't be an allowed SIP host (`pbx.example.com`, `*.example.com`, an IPv4
    address), or None."""
    if len(entry) > 253 or _DOMAIN.fullmatch(entry) is None:
        return "expected a host name, `*.` and a domain, or an IPv4 address"
    return None


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    """Whether `host` is one of `allowed`: an exact name or address (case-insensitive), or
    `*.domain` for any host below that domain (not the domain itself)."""
    host = host.lower()
    for entry in allowed:
        entry = entry.lower()
        if entry.startswith("*."):
            if host.endswith(entry[1:]) and len(host) > len(entry) - 1:
                return True
        elif host == entry:
            return True
    return False
