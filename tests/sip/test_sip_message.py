"""SIP messages and SDP from hostile bytes: what parses, what is refused, and that nothing but
SipParseError ever leaves the parser."""

from __future__ import annotations

import pytest
from ccc_runtime.sip.message import (
    MAX_MESSAGE,
    SipParseError,
    parse,
    parse_name_addr,
    parse_uri,
    response_to,
    user_of,
)
from ccc_runtime.sip.sdp import PCMA, PCMU, build_sdp, parse_sdp
from hypothesis import given, settings
from hypothesis import strategies as st

SDP = (b"v=0\r\no=- 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\n"
       b"m=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n")
INVITE = (b"INVITE sip:4008205678@10.0.0.1 SIP/2.0\r\n"
          b"Via: SIP/2.0/UDP 10.0.0.9:5062;branch=z9hG4bK776;rport\r\n"
          b"From: \"Bob\" <sip:+8613700000001@10.0.0.9>;tag=abc\r\n"
          b"To: <sip:4008205678@10.0.0.1>\r\nCall-ID: c1@10.0.0.9\r\nCSeq: 7 INVITE\r\n"
          b"Subject:\r\nContact: <sip:bob@10.0.0.9:5062>\r\n"
          b"Content-Type: application/sdp\r\nContent-Length: " + str(len(SDP)).encode()
          + b"\r\n\r\n" + SDP)


def test_a_request_with_an_empty_header_parses() -> None:
    msg = parse(INVITE)
    assert msg.method == "INVITE" and msg.uri == "sip:4008205678@10.0.0.1"
    assert msg.get("subject") == ""  # baresip sends empty headers; pyVoIP drops the INVITE
    assert msg.cseq == (7, "INVITE") and msg.branch == "z9hG4bK776"
    assert msg.from_tag() == "abc" and msg.to_tag() == ""
    assert msg.body == SDP
    assert user_of(msg.get("from") or "") == "+8613700000001"


def test_compact_forms_folding_and_bare_lf_line_ends() -> None:
    text = (b"BYE sip:x@h SIP/2.0\nv: SIP/2.0/UDP h:5060;branch=z9hG4bKa\nf: <sip:a@h>;tag=1\n"
            b"t: <sip:b@h>;\n tag=2\ni: cid\nCSeq: 2 BYE\nl: 0\n\n")
    msg = parse(text)
    assert msg.call_id == "cid" and msg.to_tag() == "2" and msg.get("content-length") == "0"


def test_serialize_round_trip_and_responses_copy_the_transaction_headers() -> None:
    msg = parse(INVITE)
    again = parse(msg.serialize())
    assert again.headers == msg.headers and again.body == msg.body
    reply = response_to(msg, 486, to_tag="t9")
    assert reply.status == 486 and reply.reason == "Busy Here"
    parsed = parse(reply.serialize())
    assert parsed.to_tag() == "t9" and parsed.cseq == (7, "INVITE")
    assert parsed.branch == "z9hG4bK776"


@pytest.mark.parametrize(("data", "why"), [
    (INVITE.replace(b"Call-ID: c1@10.0.0.9\r\n", b""), "missing call-id"),
    (INVITE.replace(b"CSeq: 7 INVITE", b"CSeq: 7 BYE"), "CSeq method"),
    (INVITE.replace(b"Content-Length: 1", b"Content-Length: 9"), "body shorter"),
    (INVITE.replace(b"Content-Length: ", b"Content-Length: -"), "bad Content-Length"),
    (INVITE[:60], "no end of headers"),
    (b"INVITE sip:x SIP/3.0\r\n\r\n", "request line"),
    (b"SIP/2.0 99 Early\r\n\r\n", "status line"),
    (INVITE.replace(b"Subject:", b"Sub ject:"), "malformed header"),
    (INVITE.replace(b"Subject:", b"X: " + b"a" * 9000 + b"\r\nSubject:"), "too long"),
    (INVITE.replace(b"Subject:", b"X: a\r\n" * 200 + b"Subject:"), "too many"),
    (INVITE + b"\0" * MAX_MESSAGE, "too large"),
    (INVITE.replace(b"SIP/2.0/UDP 10.0.0.9:5062", b"SIP/2.0/UDP 10.0.0.9:99999"), "port"),
])
def test_bad_messages_are_refused_with_a_reason(data: bytes, why: str) -> None:
    with pytest.raises(SipParseError, match=why):
        msg = parse(data)
        msg.vias()  # a Via is only read when routing needs it


def test_a_longer_body_is_cut_at_content_length() -> None:
    assert parse(INVITE + b"trailing junk").body == SDP


def test_uris_and_name_addresses() -> None:
    uri = parse_uri("sip:+8613700000001@10.0.0.9:5062;user=phone")
    assert (uri.user, uri.host, uri.port, uri.params) == (
        "+8613700000001", "10.0.0.9", 5062, {"user": "phone"})
    assert parse_uri("tel:+8613700000001").user == "+8613700000001"
    assert parse_uri("sip:[::1]:5060").host == "::1"
    addr = parse_name_addr('"A, B" <sip:a@h>;tag=x')
    assert (addr.display, addr.uri, addr.params["tag"]) == ("A, B", "sip:a@h", "x")
    with pytest.raises(SipParseError):
        parse_uri("http://example.com")


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=3000))
def test_random_bytes_never_raise_anything_but_sip_parse_error(data: bytes) -> None:
    try:
        msg = parse(data)
        msg.vias()
        parse_sdp(msg.body)
    except SipParseError:
        pass


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(INVITE) - 1), st.binary(max_size=8)),
                min_size=1, max_size=6), st.integers(0, len(INVITE)))
def test_mutated_messages_never_raise_anything_but_sip_parse_error(
        edits: list[tuple[int, bytes]], cut: int) -> None:
    data = bytearray(INVITE)
    for where, insert in edits:
        data[where:where + len(insert)] = insert
    for candidate in (bytes(data), bytes(data[:cut])):
        try:
            msg = parse(candidate)
            msg.vias()
            _ = msg.cseq, msg.branch, msg.from_tag(), msg.to_tag()
            parse_sdp(msg.body)
        except SipParseError:
            pass


def test_sdp_offer_and_our_answer() -> None:
    offer = parse_sdp(SDP)
    assert (offer.host, offer.port, offer.payload_types, offer.event_pt) == (
        "10.0.0.9", 4000, (8, 0, 101), 101)
    assert offer.choose(PCMU) == PCMU and offer.choose(None) == PCMA
    answer = parse_sdp(build_sdp("127.0.0.1", 40002, PCMU, 101, 5))
    assert (answer.host, answer.port, answer.payload_types, answer.event_pt) == (
        "127.0.0.1", 40002, (0, 101), 101)
    media_level = parse_sdp(SDP.replace(b"t=0 0\r\n", b"t=0 0\r\n") + b"c=IN IP4 10.0.0.7\r\n")
    assert media_level.host == "10.0.0.7"


@pytest.mark.parametrize("sdp", [
    b"", b"v=0\r\n", SDP.replace(b"c=IN IP4 10.0.0.9", b"c=IN IP4 not-an-ip"),
    SDP.replace(b"m=audio 4000", b"m=audio x"), SDP.replace(b"m=audio 4000", b"m=audio 70000"),
    b"garbage line\r\n",
])
def test_unusable_sdp_is_refused(sdp: bytes) -> None:
    with pytest.raises(SipParseError):
        parse_sdp(sdp)


SDP_LINES = [*SDP.split(b"\r\n"), b"m=audio 1 RTP/AVP", b"c=IN IP6 ::1", b"a=rtpmap:x"]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=2000),
                 st.lists(st.sampled_from(SDP_LINES), max_size=30).map(b"\r\n".join)))
def test_any_sdp_body_parses_or_is_refused_with_sip_parse_error(body: bytes) -> None:
    try:
        offer = parse_sdp(body)
    except SipParseError:
        return
    assert 0 <= offer.port < 65536 and all(0 <= pt < 128 for pt in offer.payload_types)
