"""Work hours in the schedule's own time zone: midnight, DST, holidays, exceptions, overnight."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from ccc_runtime.hours import HoursStatus, Schedule, parse_dates, parse_range

NY = ZoneInfo("America/New_York")
SH = ZoneInfo("Asia/Shanghai")
WEEKDAYS_9_TO_5 = {d: (parse_range("09:00-17:00"),) for d in range(5)}


def ny(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
       second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=NY)


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SH)


def test_boundaries_are_start_inclusive_end_exclusive() -> None:
    s = Schedule(NY, WEEKDAYS_9_TO_5)
    assert s.status(ny(2026, 11, 18, 8, 59, 59)) is HoursStatus.CLOSED
    assert s.status(ny(2026, 11, 18, 9, 0)) is HoursStatus.OPEN
    assert s.status(ny(2026, 11, 18, 16, 59, 59)) is HoursStatus.OPEN
    assert s.status(ny(2026, 11, 18, 17, 0)) is HoursStatus.CLOSED
    assert s.status(ny(2026, 11, 21, 12, 0)) is HoursStatus.CLOSED  # Saturday


def test_the_instant_is_read_in_the_schedules_zone() -> None:
    s = Schedule(SH, WEEKDAYS_9_TO_5)
    # 01:30 UTC Wednesday is 09:30 in Shanghai.
    assert s.status(datetime(2026, 11, 18, 1, 30, tzinfo=UTC)) is HoursStatus.OPEN
    # 23:30 UTC Friday is 07:30 Saturday in Shanghai.
    assert s.status(datetime(2026, 11, 20, 23, 30, tzinfo=UTC)) is HoursStatus.CLOSED


def test_dst_changes_keep_wall_clock_hours() -> None:
    s = Schedule(NY, WEEKDAYS_9_TO_5)
    # Monday after the spring change (2026-03-08): 09:00 EDT is 13:00 UTC, not 14:00.
    assert s.status(datetime(2026, 3, 9, 13, 0, tzinfo=UTC)) is HoursStatus.OPEN
    assert s.status(datetime(2026, 3, 9, 12, 59, tzinfo=UTC)) is HoursStatus.CLOSED
    # Monday after the autumn change (2026-11-01): 09:00 EST is 14:00 UTC.
    assert s.status(datetime(2026, 11, 2, 13, 59, tzinfo=UTC)) is HoursStatus.CLOSED
    assert s.status(datetime(2026, 11, 2, 14, 0, tzinfo=UTC)) is HoursStatus.OPEN


def test_around_midnight_and_overnight_ranges() -> None:
    night = Schedule(NY, {4: (parse_range("22:00-02:00"),), 5: (parse_range("00:00-24:00"),)})
    assert night.status(ny(2026, 11, 20, 21, 59)) is HoursStatus.CLOSED  # Friday
    assert night.status(ny(2026, 11, 20, 23, 59, 59)) is HoursStatus.OPEN
    assert night.status(ny(2026, 11, 21, 0, 0)) is HoursStatus.OPEN  # Saturday, all day
    assert night.status(ny(2026, 11, 21, 23, 59, 59)) is HoursStatus.OPEN
    assert night.status(ny(2026, 11, 22, 0, 0)) is HoursStatus.CLOSED  # Sunday
    thu_night = Schedule(NY, {3: (parse_range("22:00-02:00"),)})
    assert thu_night.status(ny(2026, 11, 20, 1, 59)) is HoursStatus.OPEN  # Friday early
    assert thu_night.status(ny(2026, 11, 20, 2, 0)) is HoursStatus.CLOSED


def test_holidays_and_exceptions() -> None:
    s = Schedule(SH, WEEKDAYS_9_TO_5, frozenset(parse_dates("2026-10-01..2026-10-07")),
                 {date(2026, 10, 10): (parse_range("09:00-17:00"),),
                  date(2026, 10, 7): (parse_range("10:00-12:00"),),
                  date(2026, 11, 18): ()})
    assert s.status(sh(2026, 10, 1, 0, 0)) is HoursStatus.HOLIDAY
    assert s.status(sh(2026, 10, 6, 23, 59)) is HoursStatus.HOLIDAY
    assert s.status(sh(2026, 10, 7, 11, 0)) is HoursStatus.OPEN  # exception beats holiday
    assert s.status(sh(2026, 10, 7, 13, 0)) is HoursStatus.CLOSED
    assert s.status(sh(2026, 10, 10, 9, 0)) is HoursStatus.OPEN  # working Saturday
    assert s.status(sh(2026, 11, 18, 10, 0)) is HoursStatus.CLOSED  # closed by exception
    assert s.status(sh(2026, 10, 8, 9, 0)) is HoursStatus.OPEN


def test_parsing_errors() -> None:
    with pytest.raises(ValueError, match="09:00-18:00"):
        parse_range("9am-6pm")
    with pytest.raises(ValueError, match="ends before it starts"):
        parse_dates("2026-10-07..2026-10-01")
    with pytest.raises(ValueError):
        Schedule(NY, {}).status(datetime(2026, 1, 1))
