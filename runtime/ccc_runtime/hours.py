"""Work hours: open, closed or holiday at an instant, in the schedule's own IANA time zone.

Rules, in order, for the local date of the instant: an exception date uses its own hours (a
working Saturday, or a closed day: no hours), a holiday is "holiday", otherwise the weekly hours
of that weekday. A range whose end is not after its start runs past midnight into the next day
(22:00-02:00). Times are local wall-clock times, so DST needs no special case: 09:00 is 09:00
whether the offset is -05:00 or -04:00.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class HoursStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    HOLIDAY = "holiday"



@dataclass(frozen=True, slots=True)
class TimeRange:
    """[start, end) local time; `end` None means until midnight (written 24:00)."""

    start: time
    end: time | None

    @property
    def overnight(self) -> bool:
        return self.end is not None and self.end <= self.start

    def covers_same_day(self, t: time) -> bool:
        if self.overnight or self.end is None:
            return t >= self.start
        return self.start <= t < self.end

    def covers_next_day(self, t: time) -> bool:
        """Whether this range, begun yesterday, still covers time `t` today."""
        return self.overnight and self.end is not None and t < self.end


def parse_range(text: str) -> TimeRange:
    """'09:00-18:00' -> TimeRange; '24:00' as an end means midnight. ValueError if malformed."""
    try:
        start_s, end_s = (part.strip() for part in text.split("-"))
        start = time.fromisoformat(start_s)
        end = None if end_s == "24:00" else time.fromisoformat(end_s)
    except ValueError:
        raise ValueError(f"expected a time range like 09:00-18:00, got {text!r}") from None
    if start.tzinfo is not None or (end is not None and end.tzinfo is not None):
        raise ValueError(f"a time range has no time zone of its own: {text!r}")
    return TimeRange(start, end)


@dataclass(frozen=True, slots=True)
class Schedule:
    """A weekly schedule (0 = Monday) with holidays and exceptions, in one time zone."""

    timezone: ZoneInfo
    weekly: dict[int, tuple[TimeRange, ...]]
    holidays: frozenset[date] = frozenset()
    exceptions: dict[date, tuple[TimeRange, ...]] = field(default_factory=dict)

    def _ranges(self, day: date) -> tuple[TimeRange, ...] | None:
        """The hours that apply on `day`; None when it is a holiday."""
        if day in self.exceptions:
            return self.exceptions[day]
        if day in self.holidays:
            return None
        return self.weekly.get(day.weekday(), ())

    def status(self, at: datetime) -> HoursStatus:
        """Open, closed or holiday at the instant `at` (timezone-aware)."""
        if at.tzinfo is None:
            raise ValueError("work hours need a timezone-aware instant")
        local = at.astimezone(self.timezone)
        day, t = local.date(), local.time().replace(tzinfo=None)
        today = self._ranges(day)
        yesterday = self._ranges(day - timedelta(days=1)) or ()
        if any(r.covers_next_day(t) for r in yesterday):
            return HoursStatus.OPEN
        if today is None:
            return HoursStatus.HOLIDAY
        if any(r.covers_same_day(t) for r in today):
            return HoursStatus.OPEN
        return HoursStatus.CLOSED


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_dates(entry: str) -> list[date]:
    """'2026-10-01' or an inclusive range '2026-10-01..2026-10-07'."""
    if ".." in entry:
        first_s, last_s = entry.split("..", 1)
        first, last = date.fromisoformat(first_s.strip()), date.fromisoformat(last_s.strip())
        if last < first:
            raise ValueError(f"date range ends before it starts: {entry!r}")
        if (last - first).days > 366:
            raise ValueError(f"date range longer than a year: {entry!r}")
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return [date.fromisoformat(entry.strip())]
