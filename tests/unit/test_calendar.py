import tomllib
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerting.policy.calendar import (
    CalendarPolicy,
    Period,
    after_working_days,
    day_of_month_deadline,
    local_times_after,
    month_of,
    next_period,
    quarter_of,
    working_days_between,
)

SH = ZoneInfo("Asia/Shanghai")
UTC_ZONE = ZoneInfo("UTC")
PLAIN = CalendarPolicy()
# Spring Festival 2026: Sun 15 to Mon 23 February off; Saturdays 14 and 28 February worked
SPRING = CalendarPolicy(holidays=("2026-02-15..2026-02-23",), workdays=("2026-02-14", "2026-02-28"))
US = timedelta(microseconds=1)


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SH)


def test_one_working_day_from_monday_morning_ends_wednesday_midnight() -> None:
    end = after_working_days(sh(2026, 3, 2, 10), 1, PLAIN, SH)
    assert end == sh(2026, 3, 4)
    assert end.tzinfo is UTC


def test_start_day_is_the_local_one() -> None:
    # 17:00Z Monday is 01:00 Tuesday in Shanghai, so Wednesday is the first full working day
    start = datetime(2026, 3, 2, 17, tzinfo=UTC)
    assert after_working_days(start, 1, PLAIN, SH) == sh(2026, 3, 5)
    assert after_working_days(start, 1, PLAIN, UTC_ZONE) == datetime(2026, 3, 4, tzinfo=UTC)


def test_weekend_is_skipped() -> None:
    assert after_working_days(sh(2026, 3, 6, 10), 1, PLAIN, SH) == sh(2026, 3, 10)


def test_spring_festival_week_is_skipped_and_adjusted_saturdays_count() -> None:
    # From Thu 12 Feb: Fri 13 (1), Sat 14 worked (2), 15-23 off, Tue 24-Fri 27 (3-6),
    # Sat 28 worked (7), Sun 1 Mar off, Mon 2-Wed 4 Mar (8-10): ends Thu 5 Mar 00:00.
    assert after_working_days(sh(2026, 2, 12, 9), 10, SPRING, SH) == sh(2026, 3, 5)
    assert after_working_days(sh(2026, 2, 12, 9), 10, PLAIN, SH) == sh(2026, 2, 27)


def test_is_working_day() -> None:
    assert SPRING.is_working_day(date(2026, 2, 14))  # adjusted Saturday
    assert not SPRING.is_working_day(date(2026, 2, 16))  # holiday Monday
    assert not SPRING.is_working_day(date(2026, 3, 1))  # plain Sunday
    assert SPRING.is_working_day(date(2026, 3, 2))
    with pytest.raises(TypeError):
        SPRING.is_working_day(datetime(2026, 2, 16))


def test_custom_weekend() -> None:
    friday_off = CalendarPolicy(weekend=(5,))
    assert not friday_off.is_working_day(date(2026, 3, 6))
    assert friday_off.is_working_day(date(2026, 3, 7))


def test_unquoted_toml_dates_are_accepted() -> None:
    raw = tomllib.loads("holidays = [2026-02-16, '2026-02-17..2026-02-18']")
    calendar = CalendarPolicy.model_validate(raw)
    working = [calendar.is_working_day(date(2026, 2, d)) for d in (16, 17, 18, 19)]
    assert working == [False, False, False, True]


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"holidays": ["2026-02-30"]}, "2026-02-30"),
        ({"holidays": ["2026-2-15"]}, "2026-2-15"),
        ({"holidays": ["20260215"]}, "20260215"),
        ({"workdays": ["2026-02-23..2026-02-15"]}, "2026-02-23..2026-02-15"),
        ({"holidays": ["2026-01-01..2027-01-02"]}, "2026-01-01..2027-01-02"),
        ({"holidays": ["2026-02-15..2026-02-23"], "workdays": ["2026-02-14..2026-02-15"]}, "2026-02-15"),
        ({"weekend": [8]}, "less than or equal to 7"),
        ({"weekend": [0]}, "greater than or equal to 1"),
        ({"weekend": [1, 2, 3, 4, 5, 6, 7]}, "seven"),
        ({"holiday": ["2026-02-15"]}, "Extra inputs"),
    ],
)
def test_rejects(fields: dict[str, list[object]], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        CalendarPolicy.model_validate(fields)


def test_days_must_be_positive() -> None:
    with pytest.raises(ValueError):
        after_working_days(sh(2026, 3, 2), 0, PLAIN, SH)


def test_naive_times_are_rejected() -> None:
    with pytest.raises(ValueError):
        after_working_days(datetime(2026, 3, 2), 1, PLAIN, SH)


def test_working_days_between() -> None:
    monday = sh(2026, 3, 2, 10)
    assert working_days_between(monday, sh(2026, 3, 3, 23, 59), PLAIN, SH) == 0
    assert working_days_between(monday, sh(2026, 3, 4), PLAIN, SH) == 1
    assert working_days_between(monday, sh(2026, 3, 10), PLAIN, SH) == 5
    assert working_days_between(monday, sh(2026, 2, 1), PLAIN, SH) == 0


STARTS = [sh(2026, 2, 12, 9), sh(2026, 2, 13, 23, 59), datetime(2026, 2, 20, 20, tzinfo=UTC)]


@pytest.mark.parametrize("start", STARTS)
def test_after_working_days_is_the_first_instant_the_count_reaches_n(start: datetime) -> None:
    for n in range(1, 13):
        end = after_working_days(start, n, SPRING, SH)
        assert working_days_between(start, end, SPRING, SH) == n
        assert working_days_between(start, end - US, SPRING, SH) == n - 1


def test_month_boundary_is_local() -> None:
    april = month_of(datetime(2026, 3, 31, 16, 30, tzinfo=UTC), SH)
    assert april == Period("2026-04", sh(2026, 4, 1), sh(2026, 5, 1))
    assert april.start == datetime(2026, 3, 31, 16, tzinfo=UTC)
    assert month_of(datetime(2026, 3, 31, 15, 59, 59, tzinfo=UTC), SH).key == "2026-03"
    assert month_of(datetime(2026, 3, 31, 16, 30, tzinfo=UTC), UTC_ZONE).key == "2026-03"


def test_quarter_boundary_is_local() -> None:
    boundary = datetime(2026, 3, 31, 16, tzinfo=UTC)
    q1 = quarter_of(boundary - US, SH)
    assert q1 == Period("2026-Q1", datetime(2025, 12, 31, 16, tzinfo=UTC), boundary)
    assert quarter_of(boundary, SH) == Period("2026-Q2", boundary, datetime(2026, 6, 30, 16, tzinfo=UTC))
    assert quarter_of(boundary, UTC_ZONE).key == "2026-Q1"


def test_next_period_crosses_the_year_end() -> None:
    december = month_of(sh(2026, 12, 15), SH)
    assert next_period(december, SH) == Period("2027-01", sh(2027, 1, 1), sh(2027, 2, 1))
    q4 = quarter_of(sh(2026, 11, 1), SH)
    assert next_period(q4, SH) == Period("2027-Q1", q4.end, sh(2027, 4, 1))
    with pytest.raises(ValueError):
        next_period(Period("2026-13", q4.start, q4.end), SH)


def test_day_of_month_deadline() -> None:
    february = month_of(sh(2026, 2, 10), SH)
    assert day_of_month_deadline(february, 15, SH) == datetime(2026, 2, 15, 16, tzinfo=UTC)
    assert day_of_month_deadline(february, 31, SH) == sh(2026, 3, 1) == february.end
    # a quarterly report due by the 15th of the quarter after
    q2 = next_period(quarter_of(sh(2026, 2, 10), SH), SH)
    assert day_of_month_deadline(q2, 15, SH) == sh(2026, 4, 16)
    with pytest.raises(ValueError):
        day_of_month_deadline(february, 0, SH)


TWICE = (time(8), time(17))


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (sh(2026, 3, 2, 17), sh(2026, 3, 3, 8)),
        (sh(2026, 3, 2, 23, 59), sh(2026, 3, 3, 8)),
        (sh(2026, 3, 2, 8), sh(2026, 3, 2, 17)),
        (sh(2026, 3, 2, 8) - US, sh(2026, 3, 2, 8)),
        (datetime(2026, 3, 2, 23, 30, tzinfo=UTC), sh(2026, 3, 3, 8)),
    ],
)
def test_local_times_after(after: datetime, expected: datetime) -> None:
    got = local_times_after(after, TWICE, SH)
    assert got == expected
    assert got.tzinfo is UTC


def test_local_times_after_order_does_not_matter() -> None:
    assert local_times_after(sh(2026, 3, 2, 9), (time(17), time(8)), SH) == sh(2026, 3, 2, 17)
