"""Clocks: the wall clock for live calls, a fake one for tests and simulations.

Everything in the runtime that asks "what time is it" (work hours, queue waits, idle times, call
records) goes through a `Clock`, so a test can place a call on 2026-12-25 10:00 in Shanghai and
let a 90-second queue timeout pass in microseconds.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class SystemClock:
    """The real time (UTC)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that moves only when told to; callbacks scheduled for a time run as it passes.

    Scheduled callbacks model things that happen while a call waits, e.g. an agent becoming free
    30 s into the queue.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start time")
        self._now = start
        self._pending: list[tuple[datetime, int, Callable[[], None]]] = []
        self._seq = itertools.count()

    def now(self) -> datetime:
        return self._now

    def advance(self, ms: int) -> None:
        """Move forward by `ms`, running due callbacks in time order (at their own time)."""
        target = self._now + timedelta(milliseconds=max(ms, 0))
        while self._pending and self._pending[0][0] <= target:
            at, _, callback = heapq.heappop(self._pending)
            self._now = max(self._now, at)
            callback()
        self._now = target

    def call_at(self, at: datetime, callback: Callable[[], None]) -> None:
        """Run `callback` when the clock reaches `at` (at once on the next advance if past)."""
        heapq.heappush(self._pending, (at, next(self._seq), callback))

    def call_later(self, ms: int, callback: Callable[[], None]) -> None:
        self.call_at(self._now + timedelta(milliseconds=ms), callback)

    def next_due(self) -> datetime | None:
        """When the earliest scheduled callback runs (None: nothing is scheduled)."""
        return self._pending[0][0] if self._pending else None


class StartedClock:
    """The real passage of time from a chosen start: a live call "on 2026-12-25 10:00" whose
    timeouts still take real seconds (tests and demos of `ccc serve --clock`)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("StartedClock needs a timezone-aware start time")
        self._start = start
        self._origin = datetime.now(UTC)

    def now(self) -> datetime:
        return self._start + (datetime.now(UTC) - self._origin)
