"""The transaction layer on the wire (RFC 3261 17): retransmissions absorbed, 2xx retransmitted
until the ACK, CANCEL/487, OPTIONS, 405, 481, and responses routed by the top Via."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ccc_runtime.sip.endpoint import ServerTransaction, SipEndpoint
from ccc_runtime.sip.message import SipMessage, parse
from hypothesis import given, settings
from hypothesis import strategies as st


class Peer(asyncio.DatagramProtocol):
    """A raw UDP peer: sends bytes, keeps every SIP message it gets."""

    def __init__(self) -> None:
        self.got: list[SipMessage] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.got.append(parse(data))

    def statuses(self) -> list[int]:
        return [m.status for m in self.got]


async def _peer() -> Peer:
    peer = Peer()
    await asyncio.get_running_loop().create_datagram_endpoint(lambda: peer,
                                                              local_addr=("127.0.0.1", 0))
    return peer


def _request(method: str, peer_port: int, server_port: int, *, branch: str = "z9hG4bKt1",
             via_port: int | None = None, rport: bool = True, to_tag: str = "",
             cseq: int = 1, cseq_method: str | None = None) -> bytes:
    via = f"SIP/2.0/UDP 127.0.0.1:{via_port or peer_port};branch={branch}" + (
        ";rport" if rport else "")
    to = f"<sip:4008205678@127.0.0.1:{server_port}>" + (f";tag={to_tag}" if to_tag else "")
    return (f"{method} sip:4008205678@127.0.0.1:{server_port} SIP/2.0\r\nVia: {via}\r\n"
            f"From: <sip:c@127.0.0.1>;tag=ft\r\nTo: {to}\r\nCall-ID: call-1\r\n"
            f"CSeq: {cseq} {cseq_method or method}\r\nContent-Length: 0\r\n\r\n").encode()


def _run(on_invite: Callable[[ServerTransaction], None],
         scenario: Callable[[SipEndpoint, Peer], Any]) -> Any:
    async def main() -> Any:
        endpoint = await SipEndpoint.bind("127.0.0.1", 0, on_invite)
        peer = await _peer()
        try:
            return await scenario(endpoint, peer)
        finally:
            endpoint.close()
            assert peer.transport is not None
            peer.transport.close()

    return asyncio.run(main())


def _send(peer: Peer, endpoint: SipEndpoint, data: bytes) -> None:
    assert peer.transport is not None
    peer.transport.sendto(data, ("127.0.0.1", endpoint.port))


def test_a_retransmitted_invite_reaches_the_application_once() -> None:
    invites: list[ServerTransaction] = []

    async def scenario(endpoint: SipEndpoint, peer: Peer) -> None:
        for _ in range(3):
            _send(peer, endpoint, _request("INVITE", peer.port, endpoint.port))
            await asyncio.sleep(0.05)
        assert len(invites) == 1
        assert peer.statuses() == [100, 100, 100]  # the last response, sent again
        assert endpoint.counters["retransmissions"] == 2

    _run(invites.append, scenario)


def test_the_200_is_retransmitted_until_the_ack_with_t1_doubling() -> None:
    def answer(txn: ServerTransaction) -> None:
        txn.respond(200)

    async def scenario(endpoint: SipEndpoint, peer: Peer) -> None:
        _send(peer, endpoint, _request("INVITE", peer.port, endpoint.port))
        await asyncio.sleep(1.7)  # 200 at 0, 0.5, 1.5 s
        assert peer.statuses() == [100, 200, 200, 200]
        tag = peer.got[-1].to_tag()
        _send(peer, endpoint, _request("ACK", peer.port, endpoint.port, branch="z9hG4bKack",
                                       to_tag=tag))
        await asyncio.sleep(2.5)  # the next copy would have come at 3.5 s
        assert peer.statuses().count(200) == 3

    _run(answer, scenario)


def test_cancel_gets_200_and_the_invite_487_which_is_acked() -> None:
    cancelled: list[bool] = []

    def hold(txn: ServerTransaction) -> None:
        txn.on_cancel = lambda: cancelled.append(True)

    async def scenario(endpoint: SipEndpoint, peer: Peer) -> None:
        _send(peer, endpoint, _request("INVITE", peer.port, endpoint.port))
        await asyncio.sleep(0.05)
        _send(peer, endpoint, _request("CANCEL", peer.port, endpoint.port))
        await asyncio.sleep(0.05)
        assert sorted(peer.statuses()) == [100, 200, 487]
        assert cancelled == [True]
        _send(peer, endpoint, _request("ACK", peer.port, endpoint.port, cseq_method="ACK"))
        await asyncio.sleep(0.7)  # without the ACK, the 487 would come again at 0.5 s
        assert peer.statuses().count(487) == 1
        _send(peer, endpoint, _request("CANCEL", peer.port, endpoint.port, branch="z9hG4bKno"))
        await asyncio.sleep(0.05)
        assert peer.statuses()[-1] == 481  # a CANCEL for no INVITE

    _run(hold, scenario)


def test_options_405_and_481() -> None:
    async def scenario(endpoint: SipEndpoint, peer: Peer) -> None:
        _send(peer, endpoint, _request("OPTIONS", peer.port, endpoint.port, branch="z9hG4bKo"))
        _send(peer, endpoint, _request("SUBSCRIBE", peer.port, endpoint.port, branch="z9hG4bKs"))
        _send(peer, endpoint, _request("BYE", peer.port, endpoint.port, branch="z9hG4bKb",
                                       to_tag="nosuch"))
        await asyncio.sleep(0.1)
        by_method = {m.cseq[1]: m for m in peer.got}
        assert by_method["OPTIONS"].status == 200
        assert "INVITE" in (by_method["OPTIONS"].get("allow") or "")
        assert by_method["SUBSCRIBE"].status == 405 and by_method["SUBSCRIBE"].get("allow")
        assert by_method["BYE"].status == 481

    _run(lambda txn: None, scenario)


def test_responses_follow_the_top_via_not_a_configured_server() -> None:
    async def scenario(endpoint: SipEndpoint, peer: Peer) -> None:
        other = await _peer()
        # no rport: the response goes to the Via's port (another socket), not the source
        _send(peer, endpoint, _request("OPTIONS", peer.port, endpoint.port, branch="z9hG4bK1",
                                       via_port=other.port, rport=False))
        # rport: back to the source port, with rport filled in
        _send(peer, endpoint, _request("OPTIONS", peer.port, endpoint.port, branch="z9hG4bK2",
                                       via_port=9, rport=True))
        await asyncio.sleep(0.1)
        assert [m.branch for m in other.got] == ["z9hG4bK1"]
        assert [m.branch for m in peer.got] == ["z9hG4bK2"]
        assert peer.got[0].vias()[0].params["rport"] == str(peer.port)
        assert other.transport is not None
        other.transport.close()

    _run(lambda txn: None, scenario)


class _Wire:
    """A transport double: what the endpoint sends, kept."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sent.append((data, addr))

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 5060)

    def close(self) -> None:
        pass


_SEEDS = [_request(m, 5062, 5060, to_tag=t) for m in ("INVITE", "BYE", "CANCEL", "ACK",
                                                       "OPTIONS", "INFO") for t in ("", "x")]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_SEEDS), st.lists(st.tuples(st.integers(0, 300), st.binary(max_size=6)),
                                         max_size=5))
def test_mutated_requests_never_break_the_endpoint(seed: bytes,
                                                   edits: list[tuple[int, bytes]]) -> None:
    async def main() -> None:
        endpoint = SipEndpoint(asyncio.get_running_loop(), lambda txn: txn.respond(200))
        endpoint.connection_made(_Wire())  # type: ignore[arg-type]
        data = bytearray(seed)
        for where, insert in edits:
            data[where:where + len(insert)] = insert
        endpoint.datagram_received(bytes(data), ("127.0.0.1", 5062))
        endpoint.datagram_received(bytes(data), ("127.0.0.1", 5062))  # and again
        endpoint.close()

    asyncio.run(main())


def test_a_peer_named_by_host_is_resolved_off_the_loop_to_our_socket_family() -> None:
    """`localhost` (IPv4 and IPv6 in /etc/hosts) becomes 127.0.0.1 for an endpoint on
    127.0.0.1; a literal is kept; a name that can't be resolved is an OSError, not a hang."""

    async def main() -> tuple[tuple[str, int], tuple[str, int], str]:
        endpoint = await SipEndpoint.bind("127.0.0.1", 0, lambda txn: None)
        try:
            named = await endpoint.resolve("localhost", 5070)
            literal = await endpoint.resolve("::1", 5060)
            try:
                await endpoint.resolve("no such host!", 5060)
            except OSError as exc:
                return named, literal, str(exc)
            return named, literal, ""
        finally:
            endpoint.close()

    named, literal, problem = asyncio.run(main())
    assert named == ("127.0.0.1", 5070)
    assert literal == ("::1", 5060)
    assert problem != ""
