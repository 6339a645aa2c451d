"""The townships' information networks in bulletins: the latest inspection of the six conditions (六有)
on or before the period's last day, and the officers' vacancy days (信息员空缺天数): the calendar days of
the period on which a township that had had an officer term (starting on or before that day) had none
active. A draft counts the days up to today: days still to come have had no vacancy yet."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import CTE, Date, String, cast, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.domain import NETWORK_CONDITIONS
from alerting.policy.calendar import Period
from alerting.storage.schema import inspections, officers


@dataclass
class Network:
    inspections: dict[str, dict[str, Any]] = field(default_factory=dict)
    vacancy_days: dict[str, int] = field(default_factory=dict)  # townships that had an officer term

    def of(self, township: str) -> dict[str, Any]:
        """The bulletin row's keys; None: never inspected, or no officer term registered yet."""
        return {
            "network_inspection": self.inspections.get(township),
            "officer_vacancy_days": self.vacancy_days.get(township),
        }


def days_of(period: Period, tz: ZoneInfo) -> tuple[date, date]:
    """The period's first and last local calendar day."""
    return period.start.astimezone(tz).date(), (period.end - timedelta(microseconds=1)).astimezone(tz).date()


async def network_of(conn: AsyncConnection, period: Period, now: datetime, tz: ZoneInfo) -> Network:
    first, last = days_of(period, tz)
    network = Network(inspections=await _latest_inspections(conn, last))
    counted_to = min(last, now.astimezone(tz).date())
    if counted_to < first:
        return network
    starts = (
        select(officers.c.township, func.min(officers.c.starts_on).label("first_on"))
        .group_by(officers.c.township)
        .subquery("starts")
    )
    for row in await conn.execute(select(starts.c.township).where(starts.c.first_on <= counted_to)):
        network.vacancy_days[row.township] = 0
    days = _days(conn.dialect.name, first, counted_to)
    term = officers.alias("term")
    covered = (
        select(term.c.id)
        .where(
            term.c.township == starts.c.township,
            term.c.starts_on <= days.c.d,
            or_(term.c.ends_on.is_(None), term.c.ends_on >= days.c.d),
        )
        .exists()
    )
    vacant = (
        select(starts.c.township, func.count().label("n"))
        .select_from(starts.join(days, days.c.d >= starts.c.first_on))
        .where(~covered)
        .group_by(starts.c.township)
    )
    for row in await conn.execute(vacant):
        network.vacancy_days[row.township] = row.n
    return network


def _days(dialect: str, first: date, last: date) -> CTE:
    """One row per calendar day from `first` to `last`, in the database (a recursive CTE)."""
    if dialect == "sqlite":  # SQLite keeps dates as ISO text, and date() steps them
        anchor = select(literal(first.isoformat(), String).label("d")).cte("days", recursive=True)
        step: Any = func.date(anchor.c.d, "+1 day")
        end: Any = literal(last.isoformat(), String)
    else:  # PostgreSQL: date + integer is the next day
        anchor = select(cast(literal(first, Date), Date).label("d")).cte("days", recursive=True)
        step = anchor.c.d + 1
        end = cast(literal(last, Date), Date)
    return anchor.union_all(select(step).where(anchor.c.d < end))


async def _latest_inspections(conn: AsyncConnection, last: date) -> dict[str, dict[str, Any]]:
    rank = (
        func.row_number()
        .over(
            partition_by=inspections.c.township,
            order_by=(inspections.c.inspected_on.desc(), inspections.c.id.desc()),
        )
        .label("rank")
    )
    ranked = select(inspections, rank).where(inspections.c.inspected_on <= last).subquery()
    found: dict[str, dict[str, Any]] = {}
    for row in await conn.execute(select(ranked).where(ranked.c.rank == 1)):
        found[row.township] = {
            "inspection_id": row.id,
            "inspected_on": row.inspected_on.isoformat(),
            "inspectors": list(row.inspectors),
            "met": row.met,
            "of": len(NETWORK_CONDITIONS),
            "unmet": [key for key in NETWORK_CONDITIONS if not row.findings.get(key, False)],
        }
    return found
