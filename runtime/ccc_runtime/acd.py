"""ACD: skill groups, agent states, queues and routing.

Routing rules: "familiar agent" first when asked for (the agent who last served this caller,
from a call history that survives a restart), then the longest-idle available agent of the group
(ties: higher skill level, then userName, so the choice is deterministic). Queue order: higher
priority first, then first come first served. When nobody in a group is logged in, an offline
agent with mobile forwarding takes the call on the mobile.

Queue and agent state live behind `AcdStore` (in memory today; Redis when several runtime
processes share one call center). No state lives in module globals.
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from .clock import Clock


class AgentState(StrEnum):
    AVAILABLE = "available"
    BUSY = "busy"
    AFTER_CALL_WORK = "after-call-work"
    BREAK = "break"  # logged in, takes no calls (a pause a person or a system sets)
    OFFLINE = "offline"


REQUESTABLE = frozenset({AgentState.AVAILABLE, AgentState.BREAK, AgentState.OFFLINE})
"""The states a person or a system may ask for (the control API); the others follow calls."""


class Staffing(StrEnum):
    FREE = "free"  # someone is available
    BUSY = "busy"  # logged in, but all busy or in after-call work
    NONE = "none"  # nobody logged in


@dataclass(frozen=True, slots=True)
class AgentConfig:
    user: str
    skills: Mapping[str, int]  # skill group -> skill level (higher = more skilled)
    address: str | None = None  # SIP address; None: found through a registrar
    mobile: str | None = None
    forward_when_offline: bool = False
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class AgentStatus:
    state: AgentState
    since: datetime  # when the agent entered this state (idle since, for AVAILABLE)
    after: AgentState | None = None  # asked for during a call: taken when the call ends


@dataclass(frozen=True, slots=True)
class QueueEntry:
    call_id: str
    group: str
    caller: str
    priority: int
    enqueued_at: datetime
    seq: int  # arrival order, breaks priority ties first come first served


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    call_id: str
    group: str
    number: str
    requested_at: datetime


class AcdStore(Protocol):
    """The shared state of the ACD: agent statuses, queue entries, callback requests."""

    def agent_status(self, user: str) -> AgentStatus | None: ...
    def set_agent_status(self, user: str, status: AgentStatus) -> None: ...
    def add_entry(self, entry: QueueEntry) -> None: ...
    def remove_entry(self, call_id: str) -> None: ...
    def entries(self, group: str) -> list[QueueEntry]: ...
    def next_seq(self) -> int: ...
    def add_callback(self, request: CallbackRequest) -> None: ...
    def callbacks(self) -> list[CallbackRequest]: ...


@dataclass(slots=True)
class MemoryStore:
    """AcdStore in one process's memory."""

    statuses: dict[str, AgentStatus] = field(default_factory=dict)
    queue: dict[str, QueueEntry] = field(default_factory=dict)
    callback_requests: list[CallbackRequest] = field(default_factory=list)
    _seq: itertools.count[int] = field(default_factory=itertools.count)

    def agent_status(self, user: str) -> AgentStatus | None:
        return self.statuses.get(user)

    def set_agent_status(self, user: str, status: AgentStatus) -> None:
        self.statuses[user] = status

    def add_entry(self, entry: QueueEntry) -> None:
        self.queue[entry.call_id] = entry

    def remove_entry(self, call_id: str) -> None:
        self.queue.pop(call_id, None)

    def entries(self, group: str) -> list[QueueEntry]:
        return [e for e in self.queue.values() if e.group == group]

    def next_seq(self) -> int:
        return next(self._seq)

    def add_callback(self, request: CallbackRequest) -> None:
        self.callback_requests.append(request)

    def callbacks(self) -> list[CallbackRequest]:
        return list(self.callback_requests)


class CallHistory(Protocol):
    """What is remembered about a caller between calls: the agent who served them last (for
    familiar-agent routing) and the language they chose last (`caller.language`)."""

    def last_agent(self, caller: str) -> str | None: ...
    def remember(self, caller: str, agent: str) -> None: ...
    def last_language(self, caller: str) -> str | None: ...
    def remember_language(self, caller: str, language: str) -> None: ...


class MemoryCallHistory:
    def __init__(self, agents: Mapping[str, str] | None = None,
                 languages: Mapping[str, str] | None = None) -> None:
        self._agents = dict(agents or {})
        self._languages = dict(languages or {})

    def last_agent(self, caller: str) -> str | None:
        return self._agents.get(caller)

    def remember(self, caller: str, agent: str) -> None:
        self._agents[caller] = agent

    def last_language(self, caller: str) -> str | None:
        return self._languages.get(caller)

    def remember_language(self, caller: str, language: str) -> None:
        self._languages[caller] = language


class JsonCallHistory:
    """Call history in a small JSON file, rewritten atomically on each change, so it survives
    a restart and a crash never leaves half a file:
    `{"version": 1, "agents": {caller: userName}, "languages": {caller: language}}`."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._data: dict[str, dict[str, str]] = {"agents": {}, "languages": {}}
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ValueError(f"{path}: unreadable call history: {exc}") from None
            if not (isinstance(data, dict) and data.get("version") == 1 and all(
                    isinstance(data.get(k), dict) and all(
                        isinstance(a, str) and isinstance(b, str) for a, b in data[k].items())
                    for k in ("agents", "languages"))):
                raise ValueError(f"{path}: call history must be {{\"version\": 1, \"agents\": "
                                 "{...}, \"languages\": {...}} with string values")
            self._data = {"agents": data["agents"], "languages": data["languages"]}

    def last_agent(self, caller: str) -> str | None:
        return self._data["agents"].get(caller)

    def remember(self, caller: str, agent: str) -> None:
        self._set("agents", caller, agent)

    def last_language(self, caller: str) -> str | None:
        return self._data["languages"].get(caller)

    def remember_language(self, caller: str, language: str) -> None:
        self._set("languages", caller, language)

    def _set(self, table: str, caller: str, value: str) -> None:
        if self._data[table].get(caller) == value:
            return
        self._data[table][caller] = value
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=".history-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"version": 1, **self._data}, f, ensure_ascii=False, sort_keys=True)
            os.replace(tmp, self._path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class Presence:
    """Who can be reached live: an agent with a configured SIP address always, one without it
    while a registration is known (contact and expiry, as a registrar's location table keeps
    them). An `Acd` without a Presence treats every agent as reachable (the simulator)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._contacts: dict[str, tuple[str, datetime]] = {}

    def register(self, user: str, contact: str, expires_s: int) -> None:
        if expires_s <= 0:
            self._contacts.pop(user, None)
        else:
            self._contacts[user] = (contact, self.clock.now() + timedelta(seconds=expires_s))

    def contact(self, agent: AgentConfig) -> str | None:
        """Where to call the agent now: the configured address, else a live registration."""
        if agent.address is not None:
            return agent.address
        found = self._contacts.get(agent.user)
        if found is None:
            return None
        if self.clock.now() >= found[1]:
            del self._contacts[agent.user]
            return None
        return found[0]


def identifiable(caller: str) -> bool:
    """Whether the caller's number tells callers apart: withheld numbers ("anonymous", empty)
    are shared by many people, so nothing is remembered or recalled for them."""
    return caller.startswith("+") and caller[1:].isdigit()


@dataclass(frozen=True, slots=True)
class Route:
    """Where a call goes: an agent's phone, or an offline agent's mobile."""

    agent: AgentConfig
    to_mobile: bool = False


class Acd:
    """Routing decisions over the configured agents and the store's live state."""

    def __init__(self, agents: Iterable[AgentConfig], store: AcdStore, history: CallHistory,
                 clock: Clock, after_call_work_ms: int = 0,
                 average_handle_s: Mapping[str, int] | None = None,
                 presence: Presence | None = None) -> None:
        self.agents = {a.user: a for a in agents}
        self.presence = presence
        self.store = store
        self.history = history
        self.clock = clock
        self.after_call_work_ms = after_call_work_ms
        self._aht = dict(average_handle_s or {})
        self._members: dict[str, list[AgentConfig]] = {}
        for agent in sorted(self.agents.values(), key=lambda a: a.user):
            for group in agent.skills:
                self._members.setdefault(group, []).append(agent)

    # ---- agent state
    def status(self, user: str) -> AgentStatus:
        """The agent's state; after-call work ends by itself after `after_call_work_ms`."""
        status = self.store.agent_status(user)
        if status is None:
            return AgentStatus(AgentState.OFFLINE, self.clock.now())
        if status.state is AgentState.AFTER_CALL_WORK:
            done = status.since + timedelta(milliseconds=self.after_call_work_ms)
            if self.clock.now() >= done:
                status = AgentStatus(AgentState.AVAILABLE, done)
                self.store.set_agent_status(user, status)
        return status

    def set_state(self, user: str, state: AgentState) -> None:
        if user not in self.agents:
            raise KeyError(f"unknown agent {user!r}")
        self.store.set_agent_status(user, AgentStatus(state, self.clock.now()))

    def request_state(self, user: str, state: AgentState) -> AgentStatus:
        """A person or a system asks for a state (one of REQUESTABLE). An agent on a call keeps
        it and takes a break or goes offline when it ends; asking for available then cancels
        that. After-call work can be cut short by asking for available."""
        if state not in REQUESTABLE:
            raise ValueError(f"state {state.value!r} can't be asked for")
        current = self.status(user) if user in self.agents else None
        if current is None:
            raise KeyError(f"unknown agent {user!r}")
        if current.state is AgentState.BUSY:
            after = None if state is AgentState.AVAILABLE else state
            current = AgentStatus(AgentState.BUSY, current.since, after)
            self.store.set_agent_status(user, current)
            return current
        if current.state is not state:
            self.set_state(user, state)
        return self.status(user)

    def reachable(self, user: str) -> bool:
        """Whether a call can be placed to the agent now (see `Presence`)."""
        agent = self.agents.get(user)
        if agent is None:
            return False
        return self.presence is None or self.presence.contact(agent) is not None

    def members(self, group: str) -> list[AgentConfig]:
        return self._members.get(group, [])

    def staffing(self, group: str) -> Staffing:
        states = [self.status(a.user).state if self.reachable(a.user) else AgentState.OFFLINE
                  for a in self.members(group)]
        if AgentState.AVAILABLE in states:
            return Staffing.FREE
        if any(s is not AgentState.OFFLINE for s in states):
            return Staffing.BUSY
        return Staffing.NONE

    # ---- queues
    def enqueue(self, call_id: str, group: str, caller: str, priority: int) -> QueueEntry:
        entry = QueueEntry(call_id, group, caller, priority, self.clock.now(),
                           self.store.next_seq())
        self.store.add_entry(entry)
        return entry

    def requeue(self, entry: QueueEntry) -> None:
        """Put a call back in its place (its agent didn't answer)."""
        self.store.add_entry(entry)

    def leave(self, call_id: str) -> None:
        self.store.remove_entry(call_id)

    def waiting(self, group: str) -> int:
        """Calls waiting in the group's queue: what a queue's `capacity` is compared with."""
        return len(self.store.entries(group))

    def ordered(self, group: str) -> list[QueueEntry]:
        return sorted(self.store.entries(group), key=lambda e: (-e.priority, e.seq))

    def position(self, call_id: str, group: str) -> int:
        """1-based place in the group's queue (0 if not queued)."""
        for i, entry in enumerate(self.ordered(group), 1):
            if entry.call_id == call_id:
                return i
        return 0

    def expected_wait_s(self, group: str, position: int) -> int:
        """A plain estimate: position x average handle time / agents logged in."""
        logged_in = sum(1 for a in self.members(group)
                        if self.status(a.user).state is not AgentState.OFFLINE)
        return (position * self._aht.get(group, 120)) // max(logged_in, 1)

    def mobile_fallback(self, group: str) -> AgentConfig | None:
        """An offline member who forwards to a mobile, for when nobody is logged in."""
        if self.staffing(group) is not Staffing.NONE:
            return None
        for agent in self.members(group):
            if agent.forward_when_offline and agent.mobile:
                return agent
        return None

    def try_route(self, entry: QueueEntry, familiar: bool) -> Route | None:
        """Give the entry an agent if one is free and no better-placed call is waiting for it.
        The chosen agent becomes busy and the entry leaves the queue."""
        free = self._available(entry.group)
        if not free:
            return None
        ahead = self.ordered(entry.group)
        if entry not in ahead or ahead.index(entry) >= len(free):
            return None
        agent = None
        if familiar and identifiable(entry.caller):
            previous = self.history.last_agent(entry.caller)
            agent = next((a for a in free if a.user == previous), None)
        if agent is None:
            agent = free[0]
        self.set_state(agent.user, AgentState.BUSY)
        self.store.remove_entry(entry.call_id)
        return Route(agent)

    def _available(self, group: str) -> list[AgentConfig]:
        """Available members, longest idle first; ties by higher skill level, then userName."""
        free = [(self.status(a.user).since, -a.skills[group], a.user, a)
                for a in self.members(group)
                if self.status(a.user).state is AgentState.AVAILABLE and self.reachable(a.user)]
        return [t[3] for t in sorted(free, key=lambda t: t[:3])]

    def next_release(self, group: str) -> datetime | None:
        """When the first member of `group` in after-call work becomes available by itself:
        the one change to routing that the passing of time alone makes (None: no such one)."""
        ends = [status.since + timedelta(milliseconds=self.after_call_work_ms)
                for status in map(self.store.agent_status, (a.user for a in self.members(group)))
                if status is not None and status.state is AgentState.AFTER_CALL_WORK]
        return min(ends, default=None)

    def route_to_agent(self, user: str) -> Route | None:
        """A named agent: available -> that agent (now busy); offline with forwarding -> their
        mobile; otherwise None (busy)."""
        agent = self.agents.get(user)
        if agent is None:
            return None
        state = self.status(user).state
        if state is AgentState.AVAILABLE and self.reachable(user):
            self.set_state(user, AgentState.BUSY)
            return Route(agent)
        if state is AgentState.OFFLINE and agent.forward_when_offline and agent.mobile:
            return Route(agent, to_mobile=True)
        return None

    def finish(self, route: Route, caller: str, answered: bool) -> None:
        """The agent leg ended: remember who served the caller, start after-call work (or free
        the agent at once when it wasn't answered)."""
        if answered and identifiable(caller):
            self.history.remember(caller, route.agent.user)
        if route.to_mobile:
            return
        after = self.store.agent_status(route.agent.user)
        if after is not None and after.after is not None:
            self.set_state(route.agent.user, after.after)
        elif answered:
            self.set_state(route.agent.user, AgentState.AFTER_CALL_WORK)
        else:
            self.set_state(route.agent.user, AgentState.AVAILABLE)

    def request_callback(self, call_id: str, group: str, number: str) -> None:
        self.store.add_callback(CallbackRequest(call_id, group, number, self.clock.now()))
