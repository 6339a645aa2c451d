"""Local calendar time: working days (the policy's [calendar]), reporting periods and wall-clock times."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    model_validator,
)

from alerting.policy.durations import LONGEST

_DAY = timedelta(days=1)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _dates(text: str) -> list[date]:
    """Every date in `text`: one date "2026-02-15" or an inclusive range "2026-02-15..2026-02-23"."""
    parts = [p.strip() for p in text.split("..")]
    # fromisoformat alone would also take "20260215" and "2026-W07-1"
    if len(parts) > 2 or not all(_ISO_DATE.fullmatch(p) for p in parts):
        raise ValueError(f"{text!r} is not a date or range; write e.g. 2026-02-15 or 2026-02-15..2026-02-23")
    try:
        first, last = date.fromisoformat(parts[0]), date.fromisoformat(parts[-1])
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a date: {exc}") from None
    if last < first:
        raise ValueError(f"{text!r} ends before it starts")
    if (last - first).days >= LONGEST.days:
        raise ValueError(f"{text!r} is longer than {LONGEST.days} days")
    return [first + n * _DAY for n in range((last - first).days + 1)]


def _unquoted_date(value: object) -> object:
    # TOML reads an unquoted 2026-02-15 as a date, not a string
    return value.isoformat() if isinstance(value, date) else value


def _checked(text: str) -> str:
    _dates(text)
    return text


DayOrRange = Annotated[str, BeforeValidator(_unquoted_date), AfterValidator(_checked)]
Weekday = Annotated[int, Field(ge=1, le=7)]


class CalendarPolicy(BaseModel):
    """Which local dates are working days: not weekend nor holiday, unless listed as an adjusted workday."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weekend: tuple[Weekday, ...] = (6, 7)
    holidays: tuple[DayOrRange, ...] = ()
    workdays: tuple[DayOrRange, ...] = ()

    _rest: frozenset[date] = PrivateAttr(default=frozenset())
    _work: frozenset[date] = PrivateAttr(default=frozenset())

    @model_validator(mode="after")
    def _expand(self) -> CalendarPolicy:
        # a week with no working day would let after_working_days search forever
        if len(set(self.weekend)) == 7:
            raise ValueError("weekend holds all seven days; a week needs at least one working day")
        rest = frozenset(d for text in self.holidays for d in _dates(text))
        work = frozenset(d for text in self.workdays for d in _dates(text))
        if both := rest & work:
            raise ValueError(f"{min(both).isoformat()} is in both holidays and workdays")
        self._rest, self._work = rest, work
        return self

    def is_working_day(self, day: date) -> bool:
        # a datetime never equals a date, so it would silently miss every listed day
        if isinstance(day, datetime):
            raise TypeError("is_working_day takes a local date, not a datetime")
        if day in self._work:
            return True
        return day not in self._rest and day.isoweekday() not in self.weekend


def _local(at: datetime, tz: ZoneInfo) -> datetime:
    # astimezone on a naive datetime would assume the host's zone
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at.isoformat()} has no timezone")
    return at.astimezone(tz)


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of local `day`, in UTC (fold=0 gives that even when DST skips or repeats 00:00)."""
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def after_working_days(start: datetime, days: int, calendar: CalendarPolicy, tz: ZoneInfo) -> datetime:
    """The end (next local midnight, in UTC) of the `days`-th working day after `start`'s local date.

    Start's own day never counts, however early in it `start` falls: from Monday 10:00, one working
    day ends at Wednesday 00:00. It is the first instant t with working_days_between(start, t) == days.
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, not {days}")
    return _working_days_end(_local(start, tz).date(), days, calendar, tz)


@lru_cache(maxsize=4096)  # intake asks this for every report; the answer depends on the date alone
def _working_days_end(day: date, days: int, calendar: CalendarPolicy, tz: ZoneInfo) -> datetime:
    left = days
    while left:
        day += _DAY
        if calendar.is_working_day(day):
            left -= 1
    return _midnight(day + _DAY, tz)


def working_days_between(start: datetime, end: datetime, calendar: CalendarPolicy, tz: ZoneInfo) -> int:
    """Working days strictly after `start`'s local date and strictly before `end`'s: those wholly elapsed
    between the end of start's day and `end` (0 if none, or if `end` is not after `start`)."""
    first = _local(start, tz).date() + _DAY
    stop = _local(end, tz).date()
    return sum(calendar.is_working_day(first + n * _DAY) for n in range((stop - first).days))


@dataclass(frozen=True, slots=True)
class Period:
    """A reporting month ("2026-03") or quarter ("2026-Q1"); its local bounds in UTC, end exclusive."""

    key: str
    start: datetime
    end: datetime


_MONTH_KEY = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
_QUARTER_KEY = re.compile(r"(\d{4})-Q([1-4])")


def _first_of_next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _month(year: int, month: int, tz: ZoneInfo) -> Period:
    first = date(year, month, 1)
    return Period(f"{year:04d}-{month:02d}", _midnight(first, tz), _midnight(_first_of_next_month(first), tz))


def _quarter(year: int, quarter: int, tz: ZoneInfo) -> Period:
    first = date(year, 3 * quarter - 2, 1)
    end = _first_of_next_month(_first_of_next_month(_first_of_next_month(first)))
    return Period(f"{year:04d}-Q{quarter}", _midnight(first, tz), _midnight(end, tz))


def _parse_key(key: str) -> tuple[int, int, bool]:
    """(year, first month, is a quarter) of a period key."""
    if match := _MONTH_KEY.fullmatch(key):
        return int(match[1]), int(match[2]), False
    if match := _QUARTER_KEY.fullmatch(key):
        return int(match[1]), 3 * int(match[2]) - 2, True
    raise ValueError(f"{key!r} is not a period key; expected e.g. 2026-03 or 2026-Q1")


def month_of(at: datetime, tz: ZoneInfo) -> Period:
    local = _local(at, tz)
    return _month(local.year, local.month, tz)


def quarter_of(at: datetime, tz: ZoneInfo) -> Period:
    local = _local(at, tz)
    return _quarter(local.year, (local.month - 1) // 3 + 1, tz)


def next_period(period: Period, tz: ZoneInfo) -> Period:
    """The month or quarter (as the key says) after `period`; built from the key, not from `period.end`."""
    year, month, is_quarter = _parse_key(period.key)
    month += 3 if is_quarter else 1
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return _quarter(year, (month + 2) // 3, tz) if is_quarter else _month(year, month, tz)


def day_of_month_deadline(period: Period, day: int, tz: ZoneInfo) -> datetime:
    """ "By the `day`th": the local midnight ending that day of the period's month (a quarter's first
    month), in UTC; a day past the month's end means its last day."""
    if day < 1:
        raise ValueError(f"day must be at least 1, not {day}")
    year, month, _ = _parse_key(period.key)
    first = date(year, month, 1)
    last = (_first_of_next_month(first) - _DAY).day
    return _midnight(first.replace(day=min(day, last)) + _DAY, tz)


def local_times_after(after: datetime, times: tuple[time, ...], tz: ZoneInfo) -> datetime:
    """The first instant strictly after `after` whose local wall-clock time is one of `times`, in UTC.

    Each time comes once a local day: its first occurrence if DST repeats it, later by the gap if
    DST skips it.
    """
    if not times or any(t.tzinfo is not None for t in times):
        raise ValueError("times must be one or more local times without a timezone")
    today = _local(after, tz).date()
    # yesterday too: a DST gap can push a late time past midnight
    candidates = (
        datetime.combine(today + n * _DAY, t, tzinfo=tz).astimezone(UTC) for n in (-1, 0, 1) for t in times
    )
    return min(c for c in candidates if c > after)
