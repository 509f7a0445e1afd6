"""The control and health API: HTTP (aiohttp) on the runtime's own event loop.

Loopback by default. Every request carries `Authorization: Bearer TOKEN`, the token in
`RUNTIME_DIR/control.token` (created 0600 on first start), compared in constant time; anything
else gets 401. Only `GET /health` answers without the token, and then says only whether the
process is serving (for a load balancer or a liveness probe); with the token it adds details.

    GET  /health               {"status": "serving"|"draining"|"starting"} (+ details with token)
    GET  /metrics              Prometheus text
    GET  /calls                {"calls": [...]} the calls in progress
    GET  /agents               {"agents": [...]} state, since, reachability, skills
    GET  /agents/{user}        one agent
    PUT  /agents/{user}        {"state": "available"|"break"|"offline"} (POST too)
    POST /reload               take the bundle `current` points at for new calls

Request bodies are capped (MAX_BODY), headers by aiohttp's line and field limits; every error
is JSON `{"error": MESSAGE}` with the HTTP status. The API is written against `Service`, a small
Protocol of what the live service offers, so it is tested without SIP.
"""

from __future__ import annotations

import difflib
import hmac
import json
import logging
import os
import secrets
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from .acd import REQUESTABLE, Acd, AgentState
from .metrics import CONTENT_TYPE, Metrics

log = logging.getLogger("ccc_runtime.control")

TOKEN_FILE = "control.token"
MAX_BODY = 4096
"""Bytes: the largest request body (an agent state change is a few dozen)."""
MAX_TOKEN = 512
DEFAULT_HOST = "127.0.0.1"


class ControlError(Exception):
    """The control API can't start (a token file that is unsafe or unreadable)."""


class ReloadError(Exception):
    """The service couldn't take the deployed bundle; the running one stays."""


@dataclass(frozen=True, slots=True)
class CallView:
    """One call in progress, as the API shows it."""

    call_id: str
    caller: str
    called: str
    flow: str
    bundle: str  # the digest of the bundle the call runs on
    started_at: datetime
    state: str = ""  # what the call does now (e.g. "prompt", "queue sales", "agent bob")

    def to_json(self) -> dict[str, str]:
        return {"call_id": self.call_id, "caller": self.caller, "called": self.called,
                "flow": self.flow, "bundle": self.bundle,
                "started_at": self.started_at.isoformat(), "state": self.state}


@dataclass(frozen=True, slots=True)
class Health:
    status: str  # serving | draining | starting
    bundle: str | None  # the digest new calls get
    calls: int
    started_at: datetime


class Service(Protocol):
    """What the control API needs of the live service."""

    @property
    def metrics(self) -> Metrics: ...

    def health(self) -> Health: ...

    def acd(self) -> Acd | None:
        """The ACD new calls are routed by (None before a bundle is loaded)."""
        ...

    def calls_in_progress(self) -> list[CallView]: ...

    async def reload(self) -> str:
        """Load the bundle `current` points at for new calls; its digest. ReloadError when it
        can't be loaded (the old bundle goes on serving)."""
        ...


def load_token(runtime_dir: Path) -> str:
    """The bearer token in RUNTIME_DIR/control.token, created (0600, random) when missing.
    A token file that others can read, or that isn't a regular file, is refused."""
    path = runtime_dir / TOKEN_FILE
    runtime_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ControlError(f"{path}: can't create the control token: {exc.strerror}") from None
    else:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise ControlError(f"{path}: can't read the control token: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ControlError(f"{path}: the control token must be a regular file")
        if info.st_mode & 0o077:
            raise ControlError(f"{path}: others can read the control token "
                               f"(mode {stat.S_IMODE(info.st_mode):o}); run chmod 600 on it")
        raw = handle.read(MAX_TOKEN + 1)
    token = raw.decode("ascii", errors="replace").strip()
    if not token or len(raw) > MAX_TOKEN or any(c.isspace() for c in token):
        raise ControlError(f"{path}: the control token must be one line of 1-{MAX_TOKEN} "
                           "characters without spaces")
    return token


def _error(status: int, message: str, **extra: str) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_app(service: Service, token: str) -> web.Application:
    """The aiohttp application of the control API for one service."""
    expected = f"Bearer {token}".encode()

    def authorized(request: web.Request) -> bool:
        given = request.headers.get("Authorization", "").encode("utf-8", "replace")
        return hmac.compare_digest(given, expected)

    def open_health(request: web.Request) -> bool:
        """`GET /health` without any Authorization header: the status only."""
        return (request.method == "GET" and request.path == "/health"
                and "Authorization" not in request.headers)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not authorized(request) and not open_health(request):
            response = _error(401, "missing or wrong bearer token (see RUNTIME_DIR/"
                                   f"{TOKEN_FILE})")
            response.headers["WWW-Authenticate"] = 'Bearer realm="ccc"'
            return response
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return _error(exc.status, exc.reason)
        except Exception:  # a bug answers 500 in JSON and is logged; the service goes on
            log.exception("control API: %s %s failed", request.method, request.path[:200])
            return _error(500, "internal error (see the runtime's log)")

    async def health(request: web.Request) -> web.Response:
        info = service.health()
        code = 200 if info.status == "serving" else 503
        if not authorized(request):
            return web.json_response({"status": info.status}, status=code)
        return web.json_response({"status": info.status, "bundle": info.bundle,
                                  "calls": info.calls,
                                  "started_at": info.started_at.isoformat()}, status=code)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=service.metrics.render(),
                            headers={"Content-Type": CONTENT_TYPE})

    async def calls(_: web.Request) -> web.Response:
        views = sorted(service.calls_in_progress(), key=lambda c: (c.started_at, c.call_id))
        return web.json_response({"calls": [c.to_json() for c in views]})

    def current_acd() -> Acd:
        acd = service.acd()
        if acd is None:
            raise web.HTTPServiceUnavailable(reason="no bundle loaded yet")
        return acd

    async def agents(_: web.Request) -> web.Response:
        acd = current_acd()
        return web.json_response({"agents": [_agent_json(acd, u) for u in sorted(acd.agents)]})

    def known_agent(acd: Acd, request: web.Request) -> str:
        user = request.match_info["user"]
        if user not in acd.agents:
            close = difflib.get_close_matches(user, list(acd.agents), n=1)
            hint = {"hint": f"did you mean {close[0]!r}?"} if close else {}
            raise _Refused(_error(404, f"unknown agent {user[:64]!r}", **hint))
        return user

    async def agent(request: web.Request) -> web.Response:
        acd = current_acd()
        try:
            user = known_agent(acd, request)
        except _Refused as refused:
            return refused.response
        return web.json_response(_agent_json(acd, user))

    async def set_agent(request: web.Request) -> web.Response:
        acd = current_acd()
        try:
            user = known_agent(acd, request)
            state = await _requested_state(request)
        except _Refused as refused:
            return refused.response
        status = acd.request_state(user, state)
        return web.json_response(_agent_json(acd, user),
                                 status=202 if status.after is not None else 200)

    async def reload(_: web.Request) -> web.Response:
        before = service.health().bundle
        try:
            digest = await service.reload()
        except ReloadError as exc:
            service.metrics.reloads.labels(result="failed").inc()
            return _error(409, str(exc))
        service.metrics.reloads.labels(result="ok").inc()
        return web.json_response({"bundle": digest, "previous": before,
                                  "changed": digest != before})

    app = web.Application(middlewares=[guard], client_max_size=MAX_BODY,
                          handler_args={"max_line_size": 4096, "max_field_size": 4096,
                                        "max_headers": 32})
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/calls", calls)
    app.router.add_get("/agents", agents)
    app.router.add_get("/agents/{user}", agent)
    app.router.add_put("/agents/{user}", set_agent)
    app.router.add_post("/agents/{user}", set_agent)
    app.router.add_post("/reload", reload)
    return app


class _Refused(Exception):
    """A request refused with a ready JSON response."""

    def __init__(self, response: web.Response) -> None:
        self.response = response


async def _requested_state(request: web.Request) -> AgentState:
    """The `{"state": ...}` body of an agent change, or a 4xx response."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise _Refused(_error(413, f"request body over {MAX_BODY} bytes"))
    body = await request.read()  # aiohttp stops at client_max_size (413)
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _Refused(_error(400, 'the body must be JSON: {"state": "available"}')) from None
    allowed = sorted(s.value for s in REQUESTABLE)
    if not isinstance(data, dict) or set(data) != {"state"} or data["state"] not in allowed:
        raise _Refused(_error(400, 'the body must be {"state": S} with S one of '
                                   + ", ".join(allowed)))
    return AgentState(data["state"])


def _agent_json(acd: Acd, user: str) -> dict[str, Any]:
    config = acd.agents[user]
    status = acd.status(user)
    return {"user": user, "display_name": config.display_name, "state": status.state.value,
            "since": status.since.isoformat(),
            "after_call": status.after.value if status.after is not None else None,
            "reachable": acd.reachable(user), "skills": dict(sorted(config.skills.items()))}


class ControlServer:
    """The control API listening on HOST:PORT (port 0: any free port, see `port`)."""

    def __init__(self, service: Service, token: str, host: str = DEFAULT_HOST,
                 port: int = 0) -> None:
        self._runner = web.AppRunner(make_app(service, token), access_log=None,
                                     shutdown_timeout=1.0)
        self.host = host
        self.port = port

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        await self._runner.cleanup()

