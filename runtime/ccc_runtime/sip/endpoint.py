"""One asyncio UDP endpoint: the transaction and dialog layers of RFC 3261 (sections 12, 17).

Server side: requests are matched to transactions by their top Via branch, so a retransmitted
request gets the last response again and reaches the application once; responses go where the
top Via says (with `received`/`rport`, RFC 3581), not to a configured server; an INVITE's final
response is retransmitted (T1 doubling up to T2) until the ACK comes or 64*T1 passes (timers
G/H, and 13.3.1.4 for 2xx); CANCEL gets 200 and its INVITE 487; OPTIONS gets 200, unknown
methods 405, requests in an unknown dialog 481.

Client side: requests are retransmitted (timers A/E) until answered, time out after 64*T1
(timers B/F, a synthetic 408); a non-2xx final response to an INVITE is ACKed in the
transaction, a 2xx by a new ACK carrying the 2xx's To tag (sent again for a retransmitted 2xx).

Nothing here blocks: timers are `loop.call_later`, and the application is called back
synchronously (`on_invite`, `Dialog.on_request`) and starts its own tasks. Tables are bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import secrets
import socket
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import cast

from .message import (
    MAX_MESSAGE,
    NameAddr,
    SipMessage,
    SipParseError,
    Via,
    parse,
    parse_name_addr,
    parse_uri,
    response_to,
    split_commas,
)

log = logging.getLogger("ccc_runtime.sip")

T1 = 0.5
T2 = 4.0
TIMEOUT = 64 * T1
"""Timers B, F, H, J: how long a transaction lives (32 s over UDP)."""
MAX_TRANSACTIONS = 20_000
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO"
USER_AGENT = "ccc-runtime"


def new_tag() -> str:
    return secrets.token_hex(6)


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(10)


RESOLVE_TIMEOUT_S = 5.0


async def resolve_host(host: str, port: int, family: int = socket.AF_UNSPEC) -> str:
    """The address of a SIP peer given by name (a trunk's gateway, a `transfer sip` host), looked
    up in the loop's executor and bounded to RESOLVE_TIMEOUT_S: a lookup inside the event loop
    would hold up every call. An address literal is returned as it is. Raises OSError."""
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(host))
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, family=family, type=socket.SOCK_DGRAM),
            RESOLVE_TIMEOUT_S)
    except TimeoutError:
        raise OSError("timed out") from None
    except socket.gaierror as exc:
        raise OSError(exc.strerror or str(exc)) from None
    if not infos:
        raise OSError("no address")
    return str(infos[0][4][0])


def local_ip_for(host: str) -> str:
    """The local address the OS would use to reach `host` (no packet is sent)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((host, 9))
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def _reply_address(via: Via, source: tuple[str, int]) -> tuple[str, int]:
    """Where a response goes (RFC 3261 18.2.2 with RFC 3581): the source address, and the
    source port when the client asked for rport, else the Via's port."""
    if "rport" in via.params:
        return source
    return source[0], via.port or 5060


class ServerTransaction:
    """One received request and the responses we send to it."""

    def __init__(self, endpoint: SipEndpoint, request: SipMessage, source: tuple[str, int],
                 key: tuple[str, str]) -> None:
        self.endpoint = endpoint
        self.request = request
        self.source = source
        self.key = key
        vias = request.vias()
        self.dest = _reply_address(vias[0], source)
        top = vias[0]
        params = dict(top.params)
        if top.host != source[0]:
            params["received"] = source[0]
        if "rport" in params:
            params["rport"] = str(source[1])
        self._top_via = str(Via(top.transport, top.host, top.port, params))
        self.to_tag = new_tag()
        self.final_status = 0
        self.last: bytes | None = None
        self.on_cancel: Callable[[], None] | None = None
        self.acked: asyncio.Future[bool] = endpoint.loop.create_future()
        self._timer: asyncio.TimerHandle | None = None
        self._interval = T1

    @property
    def is_invite(self) -> bool:
        return self.request.method == "INVITE"

    def respond(self, status: int, reason: str = "", *,
                headers: Iterable[tuple[str, str]] = (), body: bytes = b"") -> SipMessage:
        """Send a response (a final one once only; later calls are ignored)."""
        if self.final_status:
            return SipMessage(status=status)
        msg = response_to(self.request, status, reason,
                          to_tag=self.to_tag if status > 100 else None, headers=headers,
                          body=body)
        msg.set("via", self._top_via)
        for extra in self.request.vias()[1:]:
            msg.add("via", str(extra))
        if status >= 200 or status == 100:
            msg.add("server", USER_AGENT)
        self.last = msg.serialize()
        self.endpoint.send(self.last, self.dest)
        if status >= 200:
            self.final_status = status
            if self.is_invite:
                self.endpoint.await_ack(self)
                self._timer = self.endpoint.loop.call_later(self._interval, self._retransmit)
            self.endpoint.expire(self.key, TIMEOUT)
        return msg

    def _retransmit(self) -> None:
        if self.acked.done() or self.last is None:
            return
        self._interval = min(self._interval * 2, T2)
        self.endpoint.send(self.last, self.dest)
        self._timer = self.endpoint.loop.call_later(self._interval, self._retransmit)

    def ack_received(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if not self.acked.done():
            self.acked.set_result(True)

    def give_up(self) -> None:
        """Timer H: no ACK came."""
        if self._timer is not None:
            self._timer.cancel()
        if not self.acked.done():
            self.acked.set_result(False)

    def resend(self) -> None:
        if self.last is not None:
            self.endpoint.send(self.last, self.dest)


class ClientTransaction:
    """One request we sent, retransmitted until answered."""

    def __init__(self, endpoint: SipEndpoint, request: SipMessage,
                 dest: tuple[str, int]) -> None:
        self.endpoint = endpoint
        self.request = request
        self.dest = dest
        self.data = request.serialize()
        self.responses: asyncio.Queue[SipMessage] = asyncio.Queue(maxsize=64)
        self.final: asyncio.Future[SipMessage] = endpoint.loop.create_future()
        self.provisional = False
        self._interval = T1
        loop = endpoint.loop
        self._timer: asyncio.TimerHandle | None = loop.call_later(T1, self._retransmit)
        self._deadline = loop.call_later(TIMEOUT, self._timeout)

    @property
    def method(self) -> str:
        return self.request.method or ""

    def _retransmit(self) -> None:
        if self.final.done():
            return
        if self.method == "INVITE" and self.provisional:
            return  # timer A stops at the first provisional response
        self._interval = min(self._interval * 2, T2) if self.method != "INVITE" else (
            self._interval * 2)
        self.endpoint.send(self.data, self.dest)
        self._timer = self.endpoint.loop.call_later(self._interval, self._retransmit)

    def _timeout(self) -> None:
        if not self.final.done():
            self.final.set_result(SipMessage(status=408, reason="Request Timeout"))
        self.close()

    def received(self, response: SipMessage) -> None:
        if self.final.done():
            return
        if response.status < 200:
            self.provisional = True
            if self.method != "INVITE" and self._timer is not None:
                self._timer.cancel()  # timer E continues at T2 after a provisional
                self._timer = self.endpoint.loop.call_later(T2, self._retransmit)
        else:
            self.final.set_result(response)
            if self._timer is not None:
                self._timer.cancel()
        with contextlib.suppress(asyncio.QueueFull):
            self.responses.put_nowait(response)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._deadline.cancel()
        self.endpoint.forget_client(self)


@dataclass(eq=False)
class Dialog:
    """A confirmed or early dialog: who we are, who they are, and how to reach them."""

    endpoint: SipEndpoint
    call_id: str
    local_tag: str
    remote_tag: str
    local: NameAddr  # our From (UAC) / To (UAS), without the tag
    remote: NameAddr
    remote_target: str  # the peer's Contact URI
    route_set: list[str]
    dest: tuple[str, int]
    local_seq: int = 1
    on_request: Callable[[SipMessage, ServerTransaction], None] | None = None
    terminated: bool = False
    pending: set[ClientTransaction] = field(default_factory=set)

    def request(self, method: str, body: bytes = b"",
                headers: Iterable[tuple[str, str]] = ()) -> ClientTransaction:
        """Send a request inside the dialog (BYE, INFO, ...)."""
        self.local_seq += 1
        msg = SipMessage(method=method, uri=self.remote_target)
        msg.add("via", self.endpoint.via_for(self.dest[0]))
        msg.add("max-forwards", "70")
        msg.add("from", str(_with_tag(self.local, self.local_tag)))
        msg.add("to", str(_with_tag(self.remote, self.remote_tag)))
        msg.add("call-id", self.call_id)
        msg.add("cseq", f"{self.local_seq} {method}")
        for route in self.route_set:
            msg.add("route", route)
        for name, value in headers:
            msg.add(name, value)
        msg.body = body
        txn = self.endpoint.send_request(msg, self.dest)
        return txn

    async def bye(self, timeout: float = 5.0) -> None:
        """End the dialog from our side (once); waits a bounded time for the 200."""
        if self.terminated:
            return
        self.terminate()
        txn = self.request("BYE")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(txn.final), timeout)

    def terminate(self) -> None:
        self.terminated = True
        self.endpoint.dialogs.pop((self.call_id, self.local_tag), None)


def _with_tag(addr: NameAddr, tag: str) -> NameAddr:
    return NameAddr(addr.display, addr.uri, {**addr.params, "tag": tag})


def _without_tag(value: str) -> NameAddr:
    addr = parse_name_addr(value)
    return NameAddr(addr.display, addr.uri, {k: v for k, v in addr.params.items() if k != "tag"})


def target_address(uri: str) -> tuple[str, int]:
    """Where to send a request for `uri` (host and port of a sip: URI; 5060 by default)."""
    parsed = parse_uri(uri)
    if parsed.scheme == "tel" or not parsed.host:
        raise SipParseError(f"can't route to {uri}")
    return parsed.host, parsed.port or 5060


def _next_hop(route_set: list[str], remote_target: str) -> tuple[str, int]:
    if route_set:
        first = parse_name_addr(route_set[0])
        if "lr" in parse_uri(first.uri).params:
            return target_address(first.uri)
    return target_address(remote_target)


class SipEndpoint(asyncio.DatagramProtocol):
    """The UDP socket and every transaction and dialog on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop,
                 on_invite: Callable[[ServerTransaction], None],
                 advertise: str | None = None) -> None:
        self.loop = loop
        self.on_invite = on_invite
        self.advertise = advertise
        self.transport: asyncio.DatagramTransport | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self.server: dict[tuple[str, str], ServerTransaction] = {}
        self.client: dict[tuple[str, str], ClientTransaction] = {}
        self.dialogs: dict[tuple[str, str], Dialog] = {}
        self._awaiting_ack: dict[tuple[str, int], ServerTransaction] = {}
        self._acks: dict[tuple[str, int], tuple[bytes, tuple[str, int]]] = {}
        self.on_request: Callable[[ServerTransaction], bool] | None = None
        """Hook for out-of-dialog requests other than INVITE (a REGISTER client, say);
        returns True when it took the request."""
        self.counters: Counter[str] = Counter()
        self.on_error: Callable[[str], None] | None = None
        """Told each dropped datagram's kind: parse, too-large, overload (for metrics)."""

    @classmethod
    async def bind(cls, host: str, port: int, on_invite: Callable[[ServerTransaction], None],
                   advertise: str | None = None) -> SipEndpoint:
        loop = asyncio.get_running_loop()
        endpoint = cls(loop, on_invite, advertise)
        await loop.create_datagram_endpoint(lambda: endpoint, local_addr=(host, port))
        return endpoint

    # ---- asyncio protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a datagram transport (3.11's selector one doesn't subclass DatagramTransport)
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.host, self.port = transport.get_extra_info("sockname")[:2]

    def error_received(self, exc: Exception) -> None:
        self.counters["socket_errors"] += 1

    def close(self) -> None:
        for txn in list(self.client.values()):
            txn.close()
        if self.transport is not None:
            self.transport.close()

    async def resolve(self, host: str, port: int) -> tuple[str, int]:
        """`host` as an address of our socket's family (see resolve_host). Raises OSError."""
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        family = sock.family if sock is not None else socket.AF_UNSPEC
        return await resolve_host(host, port, family), port

    def send(self, data: bytes, dest: tuple[str, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, dest)

    def local_host(self, peer: str) -> str:
        """Our address as a peer should see it (Via, Contact, SDP)."""
        if self.advertise:
            return self.advertise
        if self.host not in ("0.0.0.0", "::"):
            return self.host
        return local_ip_for(peer)

    def via_for(self, peer: str) -> str:
        return f"SIP/2.0/UDP {self.local_host(peer)}:{self.port};branch={new_branch()};rport"

    def contact_for(self, peer: str, user: str = "ccc") -> str:
        return f"<sip:{user}@{self.local_host(peer)}:{self.port}>"

    def expire(self, key: tuple[str, str], after: float) -> None:
        self.loop.call_later(after, self.server.pop, key, None)

    def forget_client(self, txn: ClientTransaction) -> None:
        self.client.pop((txn.request.branch, txn.method), None)

    # ---- receiving
    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        source = (str(addr[0]), int(str(addr[1])))
        self.counters["datagrams"] += 1
        try:
            msg = parse(data)
            if msg.is_request:
                self._request(msg, source)
            else:
                self._response(msg)
        except SipParseError as exc:
            self.counters["parse_errors"] += 1
            log.debug("dropped a datagram from %s: %s", source[0], exc)
            if self.on_error is not None:
                self.on_error("too-large" if len(data) > MAX_MESSAGE else "parse")

    def _request(self, msg: SipMessage, source: tuple[str, int]) -> None:
        method = msg.method or ""
        branch = msg.branch
        if method == "ACK":
            self._ack(msg)
            return
        key = (branch or f"{msg.call_id}|{msg.get('cseq')}|{msg.from_tag()}", method)
        known = self.server.get(key)
        if known is not None:
            self.counters["retransmissions"] += 1
            known.resend()
            return
        if len(self.server) >= MAX_TRANSACTIONS:
            self.counters["overload_drops"] += 1
            if self.on_error is not None:
                self.on_error("overload")
            return
        txn = self.server[key] = ServerTransaction(self, msg, source, key)
        self.expire(key, TIMEOUT * 2)  # a request never answered is forgotten too
        if method == "CANCEL":
            self._cancel(txn)
            return
        to_tag = msg.to_tag()
        if to_tag:
            dialog = self.dialogs.get((msg.call_id, to_tag))
            if dialog is None or dialog.on_request is None:
                txn.respond(481)
            else:
                dialog.on_request(msg, txn)
            return
        if method == "INVITE":
            txn.respond(100)
            self.on_invite(txn)
        elif method == "OPTIONS":
            txn.respond(200, headers=[("allow", ALLOW), ("accept", "application/sdp")])
        elif self.on_request is not None and self.on_request(txn):
            return
        elif method in ("BYE", "INFO"):
            txn.respond(481)
        else:
            txn.respond(405, headers=[("allow", ALLOW)])

    def _cancel(self, txn: ServerTransaction) -> None:
        invite = self.server.get((txn.key[0], "INVITE"))
        if invite is None:
            txn.respond(481)
            return
        txn.respond(200)
        if not invite.final_status:
            invite.respond(487)
            if invite.on_cancel is not None:
                invite.on_cancel()

    def _ack(self, msg: SipMessage) -> None:
        invite = self.server.get((msg.branch, "INVITE"))
        if invite is not None and invite.final_status >= 300:
            invite.ack_received()  # ACK of a non-2xx: part of the INVITE transaction
            return
        try:
            number = msg.cseq[0]
        except SipParseError:
            return
        waiting = self._awaiting_ack.pop((msg.call_id, number), None)
        if waiting is not None:
            waiting.ack_received()

    def await_ack(self, txn: ServerTransaction) -> None:
        key = (txn.request.call_id, txn.request.cseq[0])
        self._awaiting_ack[key] = txn

        def give_up() -> None:
            if self._awaiting_ack.get(key) is txn:
                del self._awaiting_ack[key]
            txn.give_up()

        self.loop.call_later(TIMEOUT, give_up)

    def _response(self, msg: SipMessage) -> None:
        number, method = msg.cseq
        txn = self.client.get((msg.branch, method))
        if txn is None:
            if method == "INVITE" and 200 <= msg.status < 300:
                sent = self._acks.get((msg.call_id, number))
                if sent is not None:  # a retransmitted 2xx: ACK it again
                    self.send(*sent)
            return
        if method == "INVITE" and msg.status >= 300:
            self._ack_non2xx(txn, msg)
        txn.received(msg)
        if msg.status >= 200:
            if method == "INVITE" and msg.status < 300:
                # keep the transaction for retransmitted 2xx (answered by the stored ACK)
                self.loop.call_later(TIMEOUT, txn.close)
            else:
                txn.close()

    def _ack_non2xx(self, txn: ClientTransaction, response: SipMessage) -> None:
        req = txn.request
        ack = SipMessage(method="ACK", uri=req.uri)
        ack.add("via", req.get("via") or "")
        ack.add("max-forwards", "70")
        ack.add("from", req.get("from") or "")
        ack.add("to", response.get("to") or "")
        ack.add("call-id", req.call_id)
        ack.add("cseq", f"{req.cseq[0]} ACK")
        for route in req.get_all("route"):
            ack.add("route", route)
        self.send(ack.serialize(), txn.dest)

    # ---- sending requests
    def send_request(self, msg: SipMessage, dest: tuple[str, int]) -> ClientTransaction:
        txn = ClientTransaction(self, msg, dest)
        self.client[(msg.branch, msg.method or "")] = txn
        self.send(txn.data, dest)
        return txn

    def invite(self, uri: str, from_addr: NameAddr, to_addr: NameAddr, body: bytes,
               headers: Iterable[tuple[str, str]] = (),
               dest: tuple[str, int] | None = None) -> OutgoingInvite:
        """Start an INVITE to `uri` (sent to `dest`, else the URI's host and port)."""
        where = dest or target_address(uri)
        msg = SipMessage(method="INVITE", uri=uri)
        msg.add("via", self.via_for(where[0]))
        msg.add("max-forwards", "70")
        from_tag = new_tag()
        msg.add("from", str(_with_tag(from_addr, from_tag)))
        msg.add("to", str(to_addr))
        call_id = f"{secrets.token_hex(12)}@{self.local_host(where[0])}"
        msg.add("call-id", call_id)
        msg.add("cseq", "1 INVITE")
        msg.add("contact", self.contact_for(where[0]))
        msg.add("allow", ALLOW)
        msg.add("user-agent", USER_AGENT)
        for name, value in headers:
            msg.add(name, value)
        if body:
            msg.add("content-type", "application/sdp")
        msg.body = body
        return OutgoingInvite(self, self.send_request(msg, where), from_addr, from_tag)

    def server_dialog(self, txn: ServerTransaction) -> Dialog:
        """The dialog a 2xx to this INVITE creates (register it before responding)."""
        req = txn.request
        contact = req.get("contact")
        remote_target = parse_name_addr(split_commas(contact)[0]).uri if contact else ""
        routes = [r for h in req.get_all("record-route") for r in split_commas(h)]
        try:
            dest = _next_hop(routes, remote_target) if remote_target else txn.source
        except SipParseError:
            dest = txn.source
        if not remote_target:
            remote_target = f"sip:{txn.source[0]}:{txn.source[1]}"
        dialog = Dialog(self, req.call_id, txn.to_tag, req.from_tag(),
                        _without_tag(req.get("to") or ""), _without_tag(req.get("from") or ""),
                        remote_target, routes, dest, local_seq=0)
        self.dialogs[(dialog.call_id, dialog.local_tag)] = dialog
        return dialog


class OutgoingInvite:
    """A call we place (UAC): its INVITE transaction, then its dialog once answered."""

    def __init__(self, endpoint: SipEndpoint, txn: ClientTransaction, local: NameAddr,
                 local_tag: str) -> None:
        self.endpoint = endpoint
        self.txn = txn
        self.local = local
        self.local_tag = local_tag
        self.dialog: Dialog | None = None
        self._cancel_wanted = False
        self._cancelled = False

    async def next_response(self, timeout: float) -> SipMessage | None:
        """The next response within `timeout` s (None if none came); a 2xx is ACKed and makes
        the dialog."""
        try:
            msg = await asyncio.wait_for(self.txn.responses.get(), timeout)
        except TimeoutError:
            if self.txn.final.done():  # timer B fired: a synthetic 408
                return self.txn.final.result()
            return None
        if msg.status < 200 and self._cancel_wanted:
            self._send_cancel()
        if 200 <= msg.status < 300 and self.dialog is None:
            self._confirm(msg)
        return msg

    def _confirm(self, response: SipMessage) -> None:
        req = self.txn.request
        contact = response.get("contact")
        target = parse_name_addr(split_commas(contact)[0]).uri if contact else req.uri
        routes = list(reversed([r for h in response.get_all("record-route")
                                for r in split_commas(h)]))
        try:
            dest = _next_hop(routes, target)
        except SipParseError:
            dest = self.txn.dest
        remote = parse_name_addr(response.get("to") or "")
        dialog = Dialog(self.endpoint, req.call_id, self.local_tag,
                        remote.params.get("tag") or "", self.local,
                        _without_tag(response.get("to") or ""), target, routes, dest,
                        local_seq=req.cseq[0])
        self.endpoint.dialogs[(dialog.call_id, dialog.local_tag)] = dialog
        ack = SipMessage(method="ACK", uri=target)
        ack.add("via", self.endpoint.via_for(dest[0]))
        ack.add("max-forwards", "70")
        ack.add("from", req.get("from") or "")
        ack.add("to", response.get("to") or "")  # the To tag of the 2xx (pyVoIP's #272)
        ack.add("call-id", req.call_id)
        ack.add("cseq", f"{req.cseq[0]} ACK")
        for route in routes:
            ack.add("route", route)
        data = ack.serialize()
        key = (req.call_id, req.cseq[0])
        self.endpoint._acks[key] = (data, dest)
        self.endpoint.loop.call_later(TIMEOUT, self.endpoint._acks.pop, key, None)
        self.endpoint.send(data, dest)
        self.dialog = dialog

    def cancel(self) -> None:
        """Give up ringing: CANCEL now if the callee has answered provisionally, else as soon
        as it does (RFC 3261 9.1); the INVITE then ends with 487."""
        if self.txn.final.done():
            return
        self._cancel_wanted = True
        if self.txn.provisional:
            self._send_cancel()

    def _send_cancel(self) -> None:
        if self._cancelled:
            return
        self._cancelled = True
        req = self.txn.request
        msg = SipMessage(method="CANCEL", uri=req.uri)
        msg.add("via", req.get("via") or "")
        msg.add("max-forwards", "70")
        msg.add("from", req.get("from") or "")
        msg.add("to", req.get("to") or "")
        msg.add("call-id", req.call_id)
        msg.add("cseq", f"{req.cseq[0]} CANCEL")
        for route in req.get_all("route"):
            msg.add("route", route)
        self.endpoint.send_request(msg, self.txn.dest)

    def close(self) -> None:
        self.txn.close()
        if self.dialog is not None:
            self.dialog.terminate()
