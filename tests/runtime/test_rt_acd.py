"""Routing rules: longest idle (with ties), familiar agent, named agent, priority, all busy,
mobile forwarding, staffing, after-call work and a call history that survives a restart."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ccc_runtime.acd import (
    Acd,
    AgentConfig,
    AgentState,
    JsonCallHistory,
    MemoryCallHistory,
    MemoryStore,
    Route,
    Staffing,
)
from ccc_runtime.clock import FakeClock

START = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)


def make_acd(history: JsonCallHistory | MemoryCallHistory | None = None,
             acw_ms: int = 0) -> tuple[Acd, FakeClock]:
    clock = FakeClock(START)
    agents = [
        AgentConfig("ann", {"sales": 5}),
        AgentConfig("ben", {"sales": 5}),
        AgentConfig("cat", {"sales": 9}),
        AgentConfig("dan", {"support": 5}, mobile="+8613800138000", forward_when_offline=True),
    ]
    return Acd(agents, MemoryStore(), history or MemoryCallHistory(), clock, acw_ms), clock


def free_at(acd: Acd, clock: FakeClock, *users: str) -> None:
    """Make users available one second apart, in this order (the first is longest idle)."""
    for user in users:
        acd.set_state(user, AgentState.AVAILABLE)
        clock.advance(1000)


def route(acd: Acd, caller: str = "+861", familiar: bool = False, priority: int = 0) -> str | None:
    entry = acd.enqueue(caller + "-call", "sales", caller, priority)
    chosen = acd.try_route(entry, familiar)
    return None if chosen is None else chosen.agent.user


def test_longest_idle_wins() -> None:
    acd, clock = make_acd()
    free_at(acd, clock, "ben", "ann", "cat")
    assert route(acd) == "ben"
    assert acd.status("ben").state is AgentState.BUSY
    assert route(acd, "+862") == "ann"


def test_ties_go_to_the_higher_skill_level_then_the_name() -> None:
    acd, _ = make_acd()
    for user in ("ann", "ben", "cat"):
        acd.set_state(user, AgentState.AVAILABLE)  # same instant
    assert route(acd) == "cat"  # level 9
    assert route(acd, "+862") == "ann"  # level 5 tie: by name
    assert route(acd, "+863") == "ben"


def test_all_agents_busy_keeps_the_call_waiting() -> None:
    acd, _ = make_acd()
    for user in ("ann", "ben", "cat"):
        acd.set_state(user, AgentState.BUSY)
    entry = acd.enqueue("c1", "sales", "+861", 0)
    assert acd.try_route(entry, familiar=False) is None
    assert acd.position("c1", "sales") == 1
    assert acd.staffing("sales") is Staffing.BUSY
    assert acd.expected_wait_s("sales", 1) == 40  # 120 s handle time over 3 agents


def test_priority_then_first_come_first_served() -> None:
    acd, clock = make_acd()
    first = acd.enqueue("c1", "sales", "+861", 0)
    vip = acd.enqueue("c2", "sales", "+862", 10)
    second = acd.enqueue("c3", "sales", "+863", 0)
    assert [e.call_id for e in acd.ordered("sales")] == ["c2", "c1", "c3"]
    free_at(acd, clock, "ann")
    assert acd.try_route(first, familiar=False) is None  # the VIP is ahead
    assert acd.try_route(second, familiar=False) is None
    chosen = acd.try_route(vip, familiar=False)
    assert chosen is not None and chosen.agent.user == "ann"
    assert acd.position("c1", "sales") == 1


def test_familiar_agent_first_then_longest_idle() -> None:
    history = MemoryCallHistory({"+861": "cat"})
    acd, clock = make_acd(history)
    free_at(acd, clock, "ann", "cat")
    assert route(acd, "+861", familiar=True) == "cat"
    acd, clock = make_acd(MemoryCallHistory({"+861": "cat"}))
    free_at(acd, clock, "ann", "cat")
    assert route(acd, "+861", familiar=False) == "ann"
    acd, clock = make_acd(MemoryCallHistory({"+861": "cat"}))
    free_at(acd, clock, "ann")
    assert route(acd, "+861", familiar=True) == "ann"  # cat is offline


def test_call_history_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state" / "history.json"
    acd, clock = make_acd(JsonCallHistory(path))
    free_at(acd, clock, "ben")
    entry = acd.enqueue("c1", "sales", "+861", 0)
    chosen = acd.try_route(entry, familiar=True)
    assert chosen is not None
    acd.finish(chosen, "+861", answered=True)
    JsonCallHistory(path).remember_language("+861", "en")
    assert json.loads(path.read_text()) == {"version": 1, "agents": {"+861": "ben"},
                                            "languages": {"+861": "en"}}
    restarted = JsonCallHistory(path)  # a new process reads it back
    assert (restarted.last_agent("+861"), restarted.last_language("+861")) == ("ben", "en")
    assert list(path.parent.iterdir()) == [path]  # no temporary files left


def test_unreadable_history_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    path.write_text('{"+861": "ben"}')
    with pytest.raises(ValueError, match="call history must be"):
        JsonCallHistory(path)


def test_after_call_work_ends_by_itself() -> None:
    acd, clock = make_acd(acw_ms=30_000)
    acd.set_state("ann", AgentState.AVAILABLE)
    acd.finish(Route(acd.agents["ann"]), "+861", answered=True)
    assert acd.status("ann").state is AgentState.AFTER_CALL_WORK
    clock.advance(29_999)
    assert acd.staffing("sales") is Staffing.BUSY
    clock.advance(1)
    assert acd.status("ann").state is AgentState.AVAILABLE
    assert acd.status("ann").since == START + timedelta(seconds=30)


def test_named_agent_and_mobile_forwarding() -> None:
    acd, _ = make_acd()
    assert acd.route_to_agent("ann") is None  # offline, no mobile
    acd.set_state("ann", AgentState.AVAILABLE)
    assert acd.route_to_agent("ann") == Route(acd.agents["ann"])
    assert acd.route_to_agent("ann") is None  # now busy
    assert acd.route_to_agent("dan") == Route(acd.agents["dan"], to_mobile=True)
    assert acd.route_to_agent("zed") is None
    assert acd.mobile_fallback("support") == acd.agents["dan"]
    acd.set_state("dan", AgentState.BUSY)
    assert acd.mobile_fallback("support") is None  # someone is logged in
    with pytest.raises(KeyError):
        acd.set_state("zed", AgentState.AVAILABLE)


def test_staffing_states() -> None:
    acd, _ = make_acd(acw_ms=60_000)
    assert acd.staffing("sales") is Staffing.NONE
    acd.set_state("ann", AgentState.AFTER_CALL_WORK)
    assert acd.staffing("sales") is Staffing.BUSY
    acd.set_state("ben", AgentState.AVAILABLE)
    assert acd.staffing("sales") is Staffing.FREE
    assert acd.staffing("no-such-group") is Staffing.NONE
