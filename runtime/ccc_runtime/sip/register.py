"""Registration mode: register at a registrar (such as Kamailio) and stay registered.

`Registrar.run()` sends REGISTER for the AOR `sip:USER@DOMAIN` with our Contact, answers a
401/407 digest challenge (RFC 7616/2617: MD5 or SHA-256, qop=auth or none), and re-registers
at half the granted time or 5 s before it ends, whichever comes first, so a lost datagram or a
slow registrar still leaves time for a retry before the binding expires. A registrar that
doesn't answer never blocks anything: each REGISTER is a client transaction with timer F (a
synthetic 408 after 32 s), waited for with `asyncio.wait_for`, and failures back off from 1 s
to 60 s while the rest of the runtime goes on (pyVoIP #125 hangs the process instead).
`stop()` removes the binding (Expires: 0), waiting at most 2 s.

Calls routed to the AOR arrive as INVITEs from the registrar at our endpoint like any other;
this module only keeps the binding.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..bundle import TrunkModel
from ..clock import Clock, SystemClock
from ..metrics import Metrics
from .endpoint import SipEndpoint, new_tag, resolve_host
from .message import SipMessage, parse_name_addr, split_commas

log = logging.getLogger("ccc_runtime.sip.register")

MAX_EXPIRES = 86_400
BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
UNREGISTER_WAIT_S = 2.0
_CHALLENGE_PARAM = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*)\s*,?')
_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


@dataclass(frozen=True, slots=True)
class Registration:
    """Where and as whom to register. `password` is the value, read from the environment
    variable the bundle names; it never appears in logs or errors."""

    registrar: tuple[str, int]  # where REGISTER is sent
    user: str
    password: str
    domain: str = ""  # the AOR's host; the registrar's host when empty
    expires_s: int = 300

    @property
    def aor(self) -> str:
        return f"sip:{self.user}@{self.domain or self.registrar[0]}"


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str
    params: dict[str, str]


def parse_challenge(value: str) -> Challenge | None:
    """`Digest realm="x", nonce="y", qop="auth"` -> Challenge; None when it isn't Digest."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest) and len(params) < 32:
        match = _CHALLENGE_PARAM.match(rest, pos)
        if match is None or match.end() == pos:
            break
        raw = match.group(2)
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params[match.group(1).lower()] = raw
        pos = match.end()
    if "nonce" not in params or "realm" not in params:
        return None
    return Challenge("Digest", params)


def digest_authorization(challenge: Challenge, method: str, uri: str, user: str,
                         password: str, nc: int = 1, cnonce: str | None = None) -> str | None:
    """The Authorization value answering `challenge` (RFC 7616 section 3.4); None when its
    algorithm or qop is one we don't do (auth-int, -sess)."""
    algorithm = challenge.params.get("algorithm", "MD5").upper()
    hasher = _HASHES.get(algorithm)
    if hasher is None:
        return None

    def h(text: str) -> str:
        return hasher(text.encode("utf-8")).hexdigest()

    realm, nonce = challenge.params["realm"], challenge.params["nonce"]
    qops = [q.strip().lower() for q in challenge.params.get("qop", "").split(",") if q.strip()]
    if qops and "auth" not in qops:
        return None
    ha1 = h(f"{user}:{realm}:{password}")
    ha2 = h(f"{method}:{uri}")
    fields = [f'username="{_quoted(user)}"', f'realm="{_quoted(realm)}"',
              f'nonce="{_quoted(nonce)}"', f'uri="{_quoted(uri)}"']
    if qops:
        cnonce = cnonce or secrets.token_hex(8)
        count = f"{nc:08x}"
        response = h(f"{ha1}:{nonce}:{count}:{cnonce}:auth:{ha2}")
        fields += [f'response="{response}"', "qop=auth", f"nc={count}",
                   f'cnonce="{_quoted(cnonce)}"']
    else:
        fields.append(f'response="{h(f"{ha1}:{nonce}:{ha2}")}"')
    fields.append(f"algorithm={algorithm}")
    if "opaque" in challenge.params:
        fields.append(f'opaque="{_quoted(challenge.params["opaque"])}"')
    return "Digest " + ", ".join(fields)


def _quoted(text: str) -> str:
    """A quoted-string's inside: a registrar's realm or nonce can't break our header."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _small_int(text: str | None) -> int | None:
    """A header's or parameter's number of seconds; None unless it is 1-10 digits."""
    value = (text or "").strip()
    return int(value) if value.isdigit() and len(value) <= 10 else None


class Registrar:
    """Keeps one registration alive at a registrar over an existing SIP endpoint."""

    def __init__(self, endpoint: SipEndpoint, registration: Registration,
                 clock: Clock | None = None, metrics: Metrics | None = None) -> None:
        self.endpoint = endpoint
        self.metrics = metrics
        self.reg = registration
        self.clock = clock or SystemClock()
        self.call_id = f"{secrets.token_hex(12)}@ccc"
        self.from_tag = new_tag()
        self.cseq = 0
        self.registered = False
        self.expires_at: datetime | None = None
        self.last_status = 0
        self.last_error = ""
        self.attempts = 0
        self._task: asyncio.Task[None] | None = None
        self._nc = 0

    # ---- one REGISTER exchange
    def _request(self, expires: int, authorization: tuple[str, str] | None) -> SipMessage:
        self.cseq += 1
        host = self.reg.registrar[0]
        msg = SipMessage(method="REGISTER", uri=self._request_uri())
        msg.add("via", self.endpoint.via_for(host))
        msg.add("max-forwards", "70")
        msg.add("from", f"<{self.reg.aor}>;tag={self.from_tag}")
        msg.add("to", f"<{self.reg.aor}>")
        msg.add("call-id", self.call_id)
        msg.add("cseq", f"{self.cseq} REGISTER")
        msg.add("contact", self.endpoint.contact_for(host, self.reg.user))
        msg.add("expires", str(expires))
        msg.add("user-agent", "ccc-runtime")
        if authorization is not None:
            msg.add(*authorization)
        return msg

    async def _exchange(self, msg: SipMessage) -> SipMessage:
        txn = self.endpoint.send_request(msg, self.reg.registrar)
        try:
            # timer F answers a silent registrar with a synthetic 408; this bound is a second
            # guard so that nothing here can wait forever.
            return await asyncio.wait_for(asyncio.shield(txn.final), 40.0)
        except TimeoutError:
            return SipMessage(status=408, reason="Request Timeout")
        finally:
            txn.close()

    async def register_once(self, expires: int | None = None) -> SipMessage:
        """Send REGISTER (answering one digest challenge); the final response."""
        want = self.reg.expires_s if expires is None else expires
        response = await self._exchange(self._request(want, None))
        brief = _small_int(response.get("min-expires"))
        if response.status == 423 and brief is not None and want < brief <= MAX_EXPIRES:
            want = brief  # Interval Too Brief: ask for the registrar's minimum
            response = await self._exchange(self._request(want, None))
        for _ in range(2):  # a challenge, then perhaps one `stale=true` challenge
            if response.status not in (401, 407):
                break
            header = "www-authenticate" if response.status == 401 else "proxy-authenticate"
            challenge = next((c for v in response.get_all(header)
                              if (c := parse_challenge(v)) is not None), None)
            if challenge is None:
                break
            self._nc += 1
            auth = digest_authorization(challenge, "REGISTER", self._request_uri(),
                                        self.reg.user, self.reg.password, self._nc)
            if auth is None:
                break
            name = "authorization" if response.status == 401 else "proxy-authorization"
            response = await self._exchange(self._request(want, (name, auth)))
            if response.status in (401, 407) and not _stale(response, header):
                break
        self.last_status = response.status
        return response

    def _request_uri(self) -> str:
        host, port = self.reg.registrar
        if self.reg.domain:
            return f"sip:{self.reg.domain}"
        return f"sip:{host}" + (f":{port}" if port != 5060 else "")

    def _granted(self, response: SipMessage) -> int:
        """The expiry the registrar granted our Contact (its `expires` param, else the
        Expires header, else what we asked), bounded."""
        ours = self.endpoint.contact_for(self.reg.registrar[0], self.reg.user)
        ours_uri = parse_name_addr(ours).uri
        granted: int | None = None
        for value in response.get_all("contact"):
            for item in split_commas(value):
                contact = parse_name_addr(item)
                seconds = _small_int(contact.params.get("expires"))
                if contact.uri == ours_uri and seconds is not None:
                    granted = seconds
        if granted is None:
            granted = _small_int(response.get("expires"))
        if granted is None:
            granted = self.reg.expires_s
        return max(0, min(granted, MAX_EXPIRES))

    # ---- keeping it alive
    async def run(self) -> None:
        """Register, re-register before expiry, back off on failure; until cancelled."""
        failures = 0
        while True:
            self.attempts += 1
            response = await self.register_once()
            if 200 <= response.status < 300:
                granted = self._granted(response)
                self.registered = granted > 0
                self.expires_at = self.clock.now() + timedelta(seconds=granted)
                self._gauge()
                self.last_error = ""
                failures = 0
                wait = max(1.0, min(granted / 2, granted - 5.0))
                log.info("registered %s at %s:%d for %d s", self.reg.aor,
                         *self.reg.registrar, granted)
            else:
                if self.expires_at is None or self.clock.now() >= self.expires_at:
                    self.registered = False
                self._gauge()
                self.last_error = f"{response.status} {response.reason}".strip()
                wait = BACKOFF_S[min(failures, len(BACKOFF_S) - 1)]
                failures += 1
                if self.metrics is not None:
                    self.metrics.sip_error("register")
                log.warning("registration of %s at %s:%d failed: %s; retrying in %g s",
                            self.reg.aor, *self.reg.registrar, self.last_error, wait)
            await asyncio.sleep(wait)

    def _gauge(self) -> None:
        if self.metrics is not None:
            self.metrics.registered.labels(aor=self.reg.aor).set(1 if self.registered else 0)

    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run(), name="register")
        return self._task

    async def stop(self, unregister: bool = True) -> None:
        """Stop re-registering; remove the binding (bounded wait)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if unregister and self.registered:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.register_once(expires=0), UNREGISTER_WAIT_S)
            self.registered = False
            self._gauge()


def _stale(response: SipMessage, header: str) -> bool:
    for value in response.get_all(header):
        challenge = parse_challenge(value)
        if challenge is not None and challenge.params.get("stale", "").lower() == "true":
            return True
    return False


class Registrations:
    """The registrations a bundle asks for (its trunks with `registration`), kept in step with
    the bundle in service: `sync` starts new ones, restarts changed ones and stops removed
    ones. `sources` holds the registrars' addresses, from which INVITEs are accepted."""

    def __init__(self, endpoint: SipEndpoint, clock: Clock | None = None,
                 metrics: Metrics | None = None) -> None:
        self.endpoint = endpoint
        self.clock = clock
        self.metrics = metrics
        self.active: dict[str, Registrar] = {}
        self.sources: set[str] = set()

    async def sync(self, trunks: Mapping[str, TrunkModel],
                   environ: Mapping[str, str]) -> list[str]:
        """Register as the trunks say; the problems that keep one from registering (a password
        variable not set, a gateway that doesn't resolve), each naming its trunk."""
        wanted: dict[str, Registration] = {}
        problems: list[str] = []
        for name, trunk in sorted(trunks.items()):
            if trunk.registration is None or trunk.username is None or not trunk.password_env:
                continue
            password = environ.get(trunk.password_env)
            if password is None:
                problems.append(f"trunk {name!r}: registration password: environment variable "
                                f"{trunk.password_env} is not set")
                continue
            try:
                host = await resolve_host(trunk.gateway, trunk.port)
            except OSError as exc:
                problems.append(f"trunk {name!r}: can't resolve {trunk.gateway}: {exc}")
                continue
            wanted[name] = Registration((host, trunk.port), trunk.username, password,
                                        trunk.registration.domain,
                                        trunk.registration.expires_s)
        for name in sorted(set(self.active) - set(wanted)):
            await self.active.pop(name).stop()
        for name, registration in wanted.items():
            running = self.active.get(name)
            if running is not None and running.reg == registration:
                continue
            if running is not None:
                await running.stop()
            self.active[name] = Registrar(self.endpoint, registration, self.clock,
                                          self.metrics)
            self.active[name].start()
        self.sources = {r.reg.registrar[0] for r in self.active.values()}
        return problems

    async def stop(self) -> None:
        """Stop every registration, removing the bindings (each wait bounded)."""
        await asyncio.gather(*(r.stop() for r in self.active.values()))
        self.active.clear()
        self.sources = set()
