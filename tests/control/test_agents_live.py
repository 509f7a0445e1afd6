"""Live agents in the ACD: reachability (a configured address, or a registration that hasn't
expired), break, and states asked for during a call."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from ccc_runtime.acd import (
    Acd,
    AgentConfig,
    AgentState,
    MemoryCallHistory,
    MemoryStore,
    Presence,
    Staffing,
)
from ccc_runtime.clock import FakeClock

START = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)


def make(presence: bool = True) -> tuple[Acd, FakeClock, Presence]:
    clock = FakeClock(START)
    live = Presence(clock)
    agents = [AgentConfig("fixed", {"sales": 5}, address="sip:fixed@127.0.0.1:5070"),
              AgentConfig("roamer", {"sales": 9})]
    acd = Acd(agents, MemoryStore(), MemoryCallHistory(), clock,
              presence=live if presence else None)
    for user in ("fixed", "roamer"):
        acd.set_state(user, AgentState.AVAILABLE)
    return acd, clock, live


def routed(acd: Acd, call: str = "c") -> str | None:
    route = acd.try_route(acd.enqueue(call, "sales", "+861", 0), familiar=False)
    acd.leave(call)
    return None if route is None else route.agent.user


def test_only_reachable_available_agents_get_calls() -> None:
    acd, _, live = make()
    acd.set_state("fixed", AgentState.OFFLINE)
    assert not acd.reachable("roamer")
    assert acd.staffing("sales") is Staffing.NONE  # available, but nowhere to ring
    assert routed(acd) is None
    assert acd.route_to_agent("roamer") is None
    live.register("roamer", "sip:roamer@127.0.0.1:5071", expires_s=60)
    assert live.contact(acd.agents["roamer"]) == "sip:roamer@127.0.0.1:5071"
    assert acd.staffing("sales") is Staffing.FREE
    assert routed(acd) == "roamer"


def test_a_registration_expires_or_is_removed() -> None:
    acd, clock, live = make()
    live.register("roamer", "sip:roamer@127.0.0.1:5071", expires_s=60)
    clock.advance(59_000)
    assert acd.reachable("roamer")
    clock.advance(1_000)
    assert not acd.reachable("roamer")
    live.register("roamer", "sip:roamer@127.0.0.1:5071", expires_s=60)
    live.register("roamer", "sip:roamer@127.0.0.1:5071", expires_s=0)
    assert not acd.reachable("roamer")
    assert acd.reachable("fixed") and not acd.reachable("nobody")


def test_without_presence_everyone_is_reachable() -> None:
    acd, _, _ = make(presence=False)
    assert acd.reachable("roamer")
    assert routed(acd) == "roamer"  # idle as long as `fixed`, higher skill level


def test_break_takes_no_calls_but_counts_as_logged_in() -> None:
    acd, _, _ = make()
    assert acd.request_state("fixed", AgentState.BREAK).state is AgentState.BREAK
    assert routed(acd) is None
    assert acd.staffing("sales") is Staffing.BUSY
    assert acd.mobile_fallback("sales") is None


def test_a_state_asked_for_during_a_call_is_taken_when_it_ends() -> None:
    acd, _, _ = make()
    route = acd.route_to_agent("fixed")
    assert route is not None
    status = acd.request_state("fixed", AgentState.OFFLINE)
    assert (status.state, status.after) == (AgentState.BUSY, AgentState.OFFLINE)
    acd.finish(route, "+861", answered=True)
    assert acd.status("fixed").state is AgentState.OFFLINE
    # Asking for available during the call cancels a pending break.
    acd.set_state("fixed", AgentState.AVAILABLE)
    route = acd.route_to_agent("fixed")
    assert route is not None
    acd.request_state("fixed", AgentState.BREAK)
    assert acd.request_state("fixed", AgentState.AVAILABLE).after is None
    acd.finish(route, "+861", answered=False)
    assert acd.status("fixed").state is AgentState.AVAILABLE


def test_after_call_work_can_be_cut_short_and_call_states_cant_be_asked_for() -> None:
    clock = FakeClock(START)
    acd = Acd([AgentConfig("a", {"sales": 1})], MemoryStore(), MemoryCallHistory(), clock,
              after_call_work_ms=60_000)
    acd.set_state("a", AgentState.AFTER_CALL_WORK)
    assert acd.request_state("a", AgentState.AVAILABLE).state is AgentState.AVAILABLE
    for state in (AgentState.BUSY, AgentState.AFTER_CALL_WORK):
        with pytest.raises(ValueError):
            acd.request_state("a", state)
    with pytest.raises(KeyError):
        acd.request_state("zed", AgentState.BREAK)
