"""The toll-fraud guard for SIP URIs and caller ids (outbound.py), and the strict URI reader
(sipuri.py) that every `transfer sip` destination goes through."""

from __future__ import annotations

from typing import Any

import pytest
from ccc_runtime.bundle import BundleConfig
from ccc_runtime.clock import FakeClock
from ccc_runtime.outbound import Grant, OutboundGuard, SipGrant
from ccc_runtime.sipuri import domain_problem, host_allowed, sip_uri_problem
from rt_helpers import WORKDAY

POLICY: dict[str, Any] = {"calling_hours": "08:00-21:00", "blacklist": "out",
                          "sip_domains": ["pbx.example.com", "*.corp.example", "10.1.2.3"]}
NUMBERS = {"+862161230000": {"type": "landline", "outbound_concurrency": 1},
           "+864008205678": {"type": "400", "outbound_concurrency": 5}}


def guard(**policy: Any) -> OutboundGuard:
    config = BundleConfig.model_validate({
        "format": 1, "timezone": "Asia/Shanghai", "default_language": "zh", "languages": ["zh"],
        "blacklists": {"out": ["+8613912349999", "+86170*"]},
        "outbound": {**POLICY, **policy}, "phone_numbers": NUMBERS})
    return OutboundGuard(config, FakeClock(WORKDAY))


@pytest.mark.parametrize(("text", "problem"), [
    ("sip:100@pbx.example.com", None),
    ("sip:bridge@conf.corp.example:5080", None),
    ("SIP:pbx.example.com", None),
    ("sips:100@pbx.example.com", "it must start with `sip:`"),
    ("100@pbx.example.com", "it must start with `sip:`"),
    ("sip:100@pbx.example.com;transport=tcp", "no parameters or headers"),
    ("sip:100@pbx.example.com?X-Evil=1", "no parameters or headers"),
    ("sip:100@pbx.example.com\r\nVia: x", "no parameters or headers"),
    ("sip:100@pbx.example.com:70000", "port 70000 is out of range"),
    ("sip:" + "1" * 300 + "@pbx", "longer than 256 characters"),
])
def test_uris_are_read_strictly(text: str, problem: str | None) -> None:
    found = sip_uri_problem(text)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_hosts_match_exactly_or_below_a_wildcard_domain() -> None:
    allowed = ["pbx.example.com", "*.corp.example"]
    assert host_allowed("PBX.example.com", allowed)
    assert host_allowed("a.b.corp.example", allowed)
    assert not host_allowed("corp.example", allowed)  # the domain itself is not below it
    assert not host_allowed("evilcorp.example", allowed)
    assert not host_allowed("pbx.example.com.evil.net", allowed)
    assert domain_problem("*.example.com") is None and domain_problem("10.0.0.1") is None
    assert domain_problem("sip:pbx.example.com") is not None
    assert domain_problem("pbx.example.com:5060") is not None


def test_sip_grants_only_listed_hosts_and_checks_dialled_numbers() -> None:
    g = guard()
    grant = g.authorize_sip("c1", "sip:100@PBX.example.com")
    assert isinstance(grant, SipGrant) and grant.uri == "sip:100@pbx.example.com"
    assert g.active_sip("c1", grant.uri) is grant
    grant.release()
    assert g.active_sip("c1", grant.uri) is None
    assert isinstance(g.authorize_sip("c1", "sip:10.1.2.3:5070"), SipGrant)
    assert "not in the outbound policy's sip_domains" in str(
        g.authorize_sip("c1", "sip:100@10.1.2.4"))
    # a user part that is a phone number: the other PBX would call it, so the number rules apply
    assert g.authorize_sip("c1", "sip:+8613912349999@pbx.example.com") == \
        "on the outbound blacklist"
    assert g.authorize_sip("c1", "sip:17012345678@pbx.example.com") == \
        "on the outbound blacklist"
    assert isinstance(g.authorize_sip("c1", "sip:+8613800138000@pbx.example.com"), SipGrant)
    assert guard(sip_domains=[]).authorize_sip("c1", "sip:100@pbx.example.com") == (
        "host pbx.example.com is not in the outbound policy's sip_domains")
    assert g.refusals["host 10.1.2.4 is not in the outbound policy's sip_domains"] == 1


def test_caller_ids_only_from_numbers_the_policy_allows() -> None:
    g = guard()
    grant = g.authorize("c1", "+8613800138000", "021 6123 0000")
    assert isinstance(grant, Grant) and grant.caller_id == "+862161230000"
    # its one slot is taken now
    assert g.authorize("c2", "+8613800138001", "+862161230000") == (
        "caller id +862161230000 has no free outbound slot")
    grant.release()
    assert "is not allowed" in str(g.authorize("c1", "+8613800138000", "+864008205678"))
    assert "is not allowed" in str(g.authorize("c1", "+8613800138000", "+8613700000009"))
    assert "is not allowed" in str(g.authorize("c1", "+8613800138000", "not a number"))
    fixed = guard(caller_id={"mode": "fixed", "number": "+862161230000"})
    assert "is not allowed" in str(fixed.authorize_sip("c1", "sip:1@pbx.example.com",
                                                       "+864008205678"))
    shown = fixed.authorize_sip("c1", "sip:1@pbx.example.com", "+86 21 6123 0000")
    assert isinstance(shown, SipGrant) and shown.caller_id == "+862161230000"
