"""Vacancies in the officer network (断档缺人) as deadline rows, recomputed on every registered change.

A gap starts the day after a term ends when no term of the township covers that day. Its row falls
due at the end of the `vacancy_after_working_days`-th working day of the gap (the working-day
calendar: holidays do not count, adjusted working days do) and then writes officer_vacancy. A term
registered later that covers the gap's first day means there was no gap: the row is cancelled (or,
if it already fired, left to the auditors, since the log is never rewritten). One that starts inside
the gap before the row falls due ends it in time: the row is met.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.domain import DeadlineKind, DeadlineState
from alerting.policy.calendar import after_working_days
from alerting.policy.model import Policy
from alerting.storage.schema import deadlines, officers
from escalation.arming import OPEN, insert_ignoring_existing
from escalation.duties import duty_row

PREFIX = "vacancy:"


def _midnight(day: date, policy: Policy) -> datetime:
    return datetime.combine(day, time(0), policy.tz)


def _covers(term: Any, day: date) -> bool:
    return bool(term.starts_on <= day and (term.ends_on is None or term.ends_on >= day))


def _vacancy_row(policy: Policy, township: str, first_day: date, now: datetime) -> dict[str, Any]:
    due = after_working_days(
        _midnight(first_day - timedelta(days=1), policy),  # the gap's first day counts
        policy.officers.vacancy_after_working_days,
        policy.calendar,
        policy.tz,
    )
    context = {"title": "信息员断档", "vacant_since": first_day.isoformat()}
    return duty_row(
        township, DeadlineKind.OFFICER_VACANCY, f"{PREFIX}{first_day.isoformat()}", due, now, context
    )


async def after_change(conn: AsyncConnection, policy: Policy, township: str, now: datetime) -> None:
    """Arm the township's gaps and settle the rows that registered terms now close."""
    terms = (await conn.execute(select(officers).where(officers.c.township == township))).all()
    gaps = {
        term.ends_on + timedelta(days=1)
        for term in terms
        if term.ends_on is not None and not any(_covers(t, term.ends_on + timedelta(days=1)) for t in terms)
    }
    await insert_ignoring_existing(conn, [_vacancy_row(policy, township, day, now) for day in sorted(gaps)])
    rows = (
        await conn.execute(
            select(deadlines.c.id, deadlines.c.period, deadlines.c.state, deadlines.c.due_at).where(
                deadlines.c.incident_id.is_(None),
                deadlines.c.township == township,
                deadlines.c.kind == DeadlineKind.OFFICER_VACANCY.value,
                deadlines.c.state.in_(OPEN),
            )
        )
    ).all()
    for row in rows:
        first_day = date.fromisoformat(row.period.removeprefix(PREFIX))
        if any(_covers(t, first_day) for t in terms):
            if row.state == DeadlineState.PENDING.value:
                await _close(conn, row.id, DeadlineState.CANCELLED, None)
            continue
        starts = [_midnight(t.starts_on, policy) for t in terms if t.starts_on > first_day]
        if starts and min(starts) < row.due_at:
            await _close(conn, row.id, DeadlineState.MET, min(starts))


async def _close(conn: AsyncConnection, row_id: int, state: DeadlineState, met_at: datetime | None) -> None:
    await conn.execute(
        deadlines.update()
        .where(deadlines.c.id == row_id, deadlines.c.state.in_(OPEN))
        .values(state=state.value, fire_at=None, met_at=met_at, met_by="officer register" if met_at else None)
    )
