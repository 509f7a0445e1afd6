"""Call data from the network that flows branch on: the number dialled, the caller's SIP source
address and some SIP headers of the INVITE, read-only as `call.dialled`, `call.source` and
`call.headers.NAME`.

Everything here comes from whoever sent the INVITE, so it is bounded by construction: only
X- headers and a few well-known ones pass (`PASSED_HEADERS`), at most `MAX_HEADERS` of them, a
name of at most `MAX_HEADER_NAME` characters, a value cut to `MAX_HEADER_VALUE` characters with
control characters replaced by spaces. A header repeated in the INVITE (Diversion, say) is one
value, its copies joined with ", " in order, as SIP's list form would write them. A header name
becomes a field name the language can write: lower case, `-` as `_` (`X-Customer-Id` ->
`call.headers.x_customer_id`). The simulator and flow tests fill the same fields through
`call_data`, so a test sets them as a live call would.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

MAX_HEADERS: Final = 32
MAX_HEADER_NAME: Final = 64
MAX_HEADER_VALUE: Final = 256
MAX_DIALLED: Final = 64
PASSED_HEADERS: Final = frozenset({
    "diversion", "history-info", "referred-by", "subject", "user-agent", "organization",
    "priority", "call-info", "alert-info",
})
"""Headers other than X- ones that flows may read (besides every `X-...`)."""
_TOKEN: Final = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


def field_name(header: str) -> str:
    """The `call.headers` field of a header name: `X-Customer-Id` -> `x_customer_id`."""
    return header.strip().lower().replace("-", "_")


def passes(header: str) -> bool:
    """Whether a header (by name, any case) reaches flows."""
    low = header.strip().lower()
    return (low.startswith("x-") or low in PASSED_HEADERS) and len(low) <= MAX_HEADER_NAME \
        and _TOKEN.fullmatch(low) is not None


def field_passes(name: str) -> bool:
    """Whether a `call.headers` field name can ever be filled (the compiler's check)."""
    return name.startswith("x_") or name.replace("_", "-") in PASSED_HEADERS


def call_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The `call.headers` mapping of an INVITE's headers (name, value) in order."""
    out: dict[str, str] = {}
    for name, value in pairs:
        if not passes(name):
            continue
        key = field_name(name)
        text = _CONTROL.sub(" ", value[:MAX_HEADER_VALUE * 2]).strip()
        if key in out:
            out[key] = (out[key] + ", " + text)[:MAX_HEADER_VALUE]
        elif len(out) < MAX_HEADERS:
            out[key] = text[:MAX_HEADER_VALUE]
    return out


@dataclass(frozen=True, slots=True)
class CallData:
    """What the channel knows about a call besides its two numbers: `headers` as the INVITE
    has them (name, value), in order, repeats included. `dialled` empty: the called number as
    the channel gave it."""

    dialled: str = ""
    source: str = ""
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, dialled: str = "", source: str = "",
           headers: Mapping[str, str] | None = None) -> CallData:
        """From a mapping of headers (a flow test's `headers:`)."""
        return cls(dialled, source, tuple((headers or {}).items()))

    def values(self, called: str) -> dict[str, Any]:
        """The `call.*` fields, bounded again (a caller of the runtime may pass anything)."""
        dialled = _CONTROL.sub("", self.dialled or called)[:MAX_DIALLED]
        return {"dialled": dialled, "source": _CONTROL.sub("", self.source)[:64],
                "headers": call_headers(self.headers)}
