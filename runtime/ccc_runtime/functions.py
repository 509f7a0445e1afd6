"""Functions: HTTP calls to the customer's own system, JSON in and JSON (or plain text) out.

A flow calls `account-lookup` with arguments; the runtime POSTs (or PUTs) them as a JSON
object, or sends them as query parameters with GET, and binds the reply to a variable: the
parsed JSON, or for a function whose manifest says `reply: text`, the body as a string (the
manifest decides, not the Content-Type: a flow's reads are checked against what it declares).
Every way this can go wrong (a timeout, a refused connection, an HTTP error status, a reply that
is not JSON) becomes a `FunctionFailure` with a short `kind`, so the interpreter takes the
node's `timeout` or `error` exit and records why; `retryable` says which failures a flow's
`retries N` tries again (a timeout and a 5xx: the request may not have been served). Secrets are
read from the environment at call time and sent only in the configured header, never recorded.
Redirects are refused (they would carry the secret headers elsewhere).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .clock import FakeClock
from .limits import MAX_VALUE_CHARS, MAX_VALUE_DEPTH
from .values import json_too_deep

MAX_REPLY_BYTES = 1_000_000
MAX_TEXT_REPLY_CHARS = MAX_VALUE_CHARS
"""A text reply is one string in a call variable, so it has a string's limit."""
MAX_FUNCTION_TOTAL_MS = 60_000
"""A retry starts only if it can end within this time from the first attempt: with retries, a
caller waits at most this long for a function, whatever the timeout and the count."""
RETRY_DELAYS_MS = (250, 500, 1000)
"""The silence before retry 1, 2 and 3: a server that failed with a 5xx or did not answer in
time is often overloaded, and trying again at once (every caller of a busy line at the same
moment) would only keep it so."""
REPLY_TYPES = ("json", "text")


class FunctionFailure(Exception):
    """A function call that failed; `kind` is one of timeout, refused, http-status, bad-json,
    bad-reply (a text reply too long), network, config. `status` is the HTTP status of an
    http-status failure."""

    def __init__(self, kind: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.status = status


def retryable(failure: FunctionFailure) -> bool:
    """Whether `retries N` tries again after this failure: a timeout or a 5xx status (the
    server may be briefly overloaded); never a 4xx, a bad reply or a configuration problem,
    which would fail the same way again."""
    return failure.kind == "timeout" or (
        failure.kind == "http-status" and failure.status is not None and failure.status >= 500)


@dataclass(frozen=True, slots=True)
class SecretHeader:
    """Send the value of environment variable `env` (with `prefix`) in header `header`."""

    header: str
    env: str
    prefix: str = ""


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    url: str
    method: str = "POST"
    timeout_ms: int = 3000
    headers: Mapping[str, str] = field(default_factory=dict)
    secret_headers: tuple[SecretHeader, ...] = ()
    reply: str = "json"
    """`json` (parsed) or `text` (the body as a string)."""


class FunctionInvoker(Protocol):
    async def call(self, name: str, args: Mapping[str, Any], timeout_ms: int) -> Any:
        """Call function `name` once; return its reply (JSON, or a string for a text
        function) or raise FunctionFailure. `timeout_ms` 0 means the function's configured
        timeout (the interpreter passes the one it applies)."""
        ...


class HttpFunctions:
    """Calls functions over HTTP with the standard library (in a worker thread)."""

    def __init__(self, specs: Mapping[str, FunctionSpec],
                 environ: Mapping[str, str] | None = None) -> None:
        self._specs = dict(specs)
        self._environ = os.environ if environ is None else environ

    async def call(self, name: str, args: Mapping[str, Any], timeout_ms: int) -> Any:
        spec = self._specs.get(name)
        if spec is None:
            raise FunctionFailure("config", f"no function named {name!r} in the bundle")
        request = self._request(spec, args)
        timeout_s = (timeout_ms or spec.timeout_ms) / 1000
        return await asyncio.to_thread(_send, request, timeout_s, spec.reply == "text")

    def _request(self, spec: FunctionSpec, args: Mapping[str, Any]) -> urllib.request.Request:
        accept = "text/plain" if spec.reply == "text" else "application/json"
        headers = {"Content-Type": "application/json", "Accept": accept, **spec.headers}
        for secret in spec.secret_headers:
            value = self._environ.get(secret.env)
            if value is None:
                raise FunctionFailure("config", f"secret environment variable {secret.env} "
                                      "is not set")
            if any(c in value for c in "\r\n\0"):  # e.g. read from a file with its newline
                raise FunctionFailure("config", f"secret environment variable {secret.env} "
                                      "contains a line break")
            headers[secret.header] = secret.prefix + value
        body = json.dumps(dict(args), ensure_ascii=False, sort_keys=True).encode("utf-8")
        if spec.method == "GET":  # arguments as query parameters (non-strings as JSON)
            query = urllib.parse.urlencode(
                {k: v if isinstance(v, str) else json.dumps(v) for k, v in sorted(args.items())})
            separator = "&" if "?" in spec.url else "?"
            url = spec.url + (separator + query if query else "")
            return urllib.request.Request(url, headers=headers, method="GET")
        return urllib.request.Request(spec.url, data=body, headers=headers, method=spec.method)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: following it would send the secret headers to whatever host
    the reply names (urllib forwards them), and a function's URL is configured, not found."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _send(request: urllib.request.Request, timeout_s: float, text: bool = False) -> Any:
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            raw = response.read(MAX_REPLY_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise FunctionFailure("http-status", f"HTTP {exc.code} from {request.full_url}",
                              exc.code) from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError | socket.timeout):
            raise FunctionFailure("timeout", f"no reply within {timeout_s:g} s") from None
        if isinstance(reason, ConnectionRefusedError):
            raise FunctionFailure("refused", f"connection refused by {request.full_url}") from None
        raise FunctionFailure("network", f"{request.full_url}: {reason}") from None
    except TimeoutError:
        raise FunctionFailure("timeout", f"no reply within {timeout_s:g} s") from None
    except OSError as exc:
        raise FunctionFailure("network", f"{request.full_url}: {exc}") from None
    except ValueError:  # http.client rejects a header; its message would show the value
        raise FunctionFailure("config", "a header name or value is not valid in HTTP") from None
    except http.client.HTTPException as exc:  # a bad status line, a reply cut short
        raise FunctionFailure("network", f"{request.full_url}: not a valid HTTP reply: "
                              f"{type(exc).__name__}") from None
    if text:
        return _text_reply(raw)
    if len(raw) > MAX_REPLY_BYTES:
        raise FunctionFailure("bad-json", f"reply larger than {MAX_REPLY_BYTES} bytes")
    if json_too_deep(raw):  # json.loads recurses per bracket
        raise FunctionFailure("bad-json", f"reply nested deeper than {MAX_VALUE_DEPTH}")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FunctionFailure("bad-json", f"reply is not JSON: {exc}") from None


def _text_reply(raw: bytes) -> str:
    """A text function's body as a string: UTF-8 (bad bytes replaced, as a caller hears them
    anyway), surrounding white space dropped, no longer than a call variable's string."""
    body = raw[:MAX_REPLY_BYTES].decode("utf-8", "replace").strip()
    if len(raw) > MAX_REPLY_BYTES or len(body) > MAX_TEXT_REPLY_CHARS:
        raise FunctionFailure("bad-reply", f"text reply longer than {MAX_TEXT_REPLY_CHARS} "
                              "characters")
    return body


@dataclass(frozen=True, slots=True)
class InTurn:
    """Stubbed outcomes of a function, one per call in turn; the last one repeats."""

    outcomes: tuple[Any, ...]


class StubFunctions:
    """Canned replies by function name (flow tests, `ccc simulate --stub`). A reply that is a
    FunctionFailure is raised, so tests can take the error exit; an `InTurn` gives one outcome
    per call in turn (the last one repeats), so a test can fail the first attempt and answer the
    retry. With a `clock` (a FakeClock), a stubbed timeout moves it by the timeout, as a real
    one would take that long. Every attempt is recorded in `calls`."""

    def __init__(self, replies: Mapping[str, Any], clock: FakeClock | None = None) -> None:
        self._replies = dict(replies)
        self._clock = clock
        self._attempts: dict[str, int] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def call(self, name: str, args: Mapping[str, Any], timeout_ms: int) -> Any:
        attempt = self._attempts.get(name, 0)
        self._attempts[name] = attempt + 1
        self.calls.append((name, dict(args)))
        if name not in self._replies:
            raise FunctionFailure("config", f"no stub for function {name!r}")
        reply = self._replies[name]
        if isinstance(reply, InTurn) and reply.outcomes:
            reply = reply.outcomes[min(attempt, len(reply.outcomes) - 1)]
        if isinstance(reply, FunctionFailure):
            if reply.kind == "timeout" and self._clock is not None:
                self._clock.advance(timeout_ms)
            raise reply
        return json.loads(json.dumps(reply))  # a fresh copy, as a real reply would be
