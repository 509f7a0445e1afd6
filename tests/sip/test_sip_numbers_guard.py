"""One E.164 normaliser for everything that compares numbers (the blacklist hole, closed), and
the toll-fraud guard every outbound leg asks."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest
from ccc_runtime.bundle import BundleConfig, BundleError, bundle_from_parts
from ccc_runtime.clock import FakeClock
from ccc_runtime.numbers import normalise
from ccc_runtime.outbound import Grant, OutboundGuard
from ccc_runtime.records import MemorySink
from ccc_runtime.simchannel import SimChannel
from ccc_runtime.vm import Runtime
from sip_helpers import EXAMPLES, OPEN, SHANGHAI

from ccc_dsl.pipeline import build_bundle


@pytest.mark.parametrize(("text", "e164"), [
    ("+8617012345678", "+8617012345678"), ("17012345678", "+8617012345678"),
    ("+86 170 1234 5678", "+8617012345678"), ("021-6123-0000", "+862161230000"),
    ("anonymous", None), ("", None), ("1" * 200, None),
])
def test_normalise(text: str, e164: str | None) -> None:
    assert normalise(text, "CN") == e164


@pytest.mark.parametrize("caller", ["17012345678", "+86 170 1234 5678", "+8617012345678"])
def test_the_inbound_blacklist_stops_every_spelling_of_a_number_in_the_simulator(
        caller: str) -> None:
    built = build_bundle(EXAMPLES, None)
    assert built.bundle is not None
    clock = FakeClock(OPEN)
    runtime = Runtime(built.bundle, clock=clock, sink=MemorySink())
    result = asyncio.run(runtime.run_call(SimChannel(clock), caller, "+864008205678"))
    assert [u.prompt for u in result.prompts] == ["blocked"]
    assert result.record.caller == "+8617012345678"
    clear = asyncio.run(runtime.run_call(SimChannel(clock), "13700000001", "4008205678"))
    assert "blocked" not in [u.prompt for u in clear.prompts]


def _config(**outbound: Any) -> BundleConfig:
    return BundleConfig.model_validate({
        "format": 1, "timezone": "Asia/Shanghai", "default_language": "zh",
        "languages": ["zh"],
        "blacklists": {"out": ["+8613912349999", "+86170*"]},
        "outbound": {"calling_hours": "09:00-20:00", "blacklist": "out",
                     "callee_cap": {"calls": 2, "per_hours": 24},
                     "blocked_regions": ["Xinjiang"], **outbound},
        "phone_numbers": {
            "+862161230000": {"type": "landline", "outbound_concurrency": 1},  # Shanghai
            "+861062340000": {"type": "landline", "outbound_concurrency": 5},  # Beijing
            "+864008201234": {"type": "400", "outbound_concurrency": 5},
        },
        "trunks": {"gw": {"gateway": "127.0.0.1", "port": 5080}},
    })


def _guard(at: datetime = OPEN, **outbound: Any) -> tuple[OutboundGuard, FakeClock]:
    clock = FakeClock(at)
    return OutboundGuard(_config(**outbound), clock), clock


def test_the_guard_refuses_outside_the_policy() -> None:
    guard, clock = _guard()
    assert guard.authorize("c", "+8613912349999") == "on the outbound blacklist"
    assert guard.authorize("c", "+8617099990000") == "on the outbound blacklist"
    assert guard.authorize("c", "+869912345678").startswith("callee region")  # Urumqi
    assert guard.authorize("c", "not a number") == "not a phone number"
    late, _ = _guard(datetime(2026, 11, 18, 21, 0, tzinfo=SHANGHAI))
    assert late.authorize("c", "+8613800138000") == "outside calling hours 09:00-20:00"
    no_policy = OutboundGuard(BundleConfig.model_validate(
        {"format": 1, "default_language": "zh", "languages": ["zh"]}), clock)
    assert no_policy.authorize("c", "+8613800138000") == "no outbound policy"


def test_caller_id_by_city_concurrency_and_the_callee_cap() -> None:
    guard, clock = _guard()
    shanghai = guard.authorize("c1", "021 6123 9000")
    assert isinstance(shanghai, Grant)
    assert (shanghai.number, shanghai.caller_id, shanghai.trunk) == (
        "+862161239000", "+862161230000", "gw")
    assert guard.active("c1", "+862161239000") is shanghai
    second = guard.authorize("c2", "+862161238000")  # Shanghai's one slot is taken
    assert isinstance(second, Grant) and second.caller_id == "+861062340000"
    shanghai.release()
    assert guard.active("c1", "+862161239000") is None
    assert guard.in_use("+862161230000") == 0
    third = guard.authorize("c3", "+862161239000")
    assert isinstance(third, Grant)
    assert guard.authorize("c4", "+862161239000") == "callee cap of 2 per 24 h reached"
    clock.advance(24 * 3600 * 1000 + 1)
    assert isinstance(guard.authorize("c5", "+862161239000"), Grant)


def test_a_fixed_caller_id_is_never_a_400_number() -> None:
    guard, _ = _guard(caller_id={"mode": "fixed", "number": "+861062340000"})
    grant = guard.authorize("c", "+8613800138000")
    assert isinstance(grant, Grant) and grant.caller_id == "+861062340000"
    with pytest.raises(BundleError, match="400 number, never a caller id"):
        bundle_from_parts(_config(caller_id={"mode": "fixed", "number": "+864008201234"})
                          .model_dump(), {})
