"""Assignments (约稿、出题目) as deadline rows: per township one `assignment` row at the due time, whose
miss writes `assignment_overdue`, and `assignment_reminder` rows before it (policy
`[assignments] remind_before`), which only remind. A routine item answering the assignment meets
them all for its township."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.domain import DeadlineKind, RoutineItem
from alerting.policy.model import Policy
from alerting.storage.schema import assignments, deadlines
from escalation.arming import Settled, insert_ignoring_existing, settle
from escalation.duties import duty_row

PREFIX = "assignment:"


def period_of(assignment_id: str) -> str:
    return PREFIX + assignment_id


def rows(
    policy: Policy, assignment_id: str, title: str, township: str, due_at: datetime, now: datetime
) -> list[dict[str, Any]]:
    """The rows one township owes; reminders whose time has passed are not armed."""
    context = {"assignment_id": assignment_id, "title": title}
    made = [duty_row(township, DeadlineKind.ASSIGNMENT, period_of(assignment_id), due_at, now, context)]
    for n, before in enumerate(policy.assignments.remind_before):
        at = due_at - before
        if at > now:
            made.append(
                duty_row(
                    township,
                    DeadlineKind.ASSIGNMENT_REMINDER,
                    f"{period_of(assignment_id)}:{n}",
                    at,
                    now,
                    context,
                )
            )
    return made


async def given_to(conn: AsyncConnection, assignment_id: str) -> list[str] | None:
    """The townships given assignment `assignment_id`; None if there is no such assignment."""
    row = (
        await conn.execute(select(assignments.c.townships).where(assignments.c.id == assignment_id))
    ).one_or_none()
    return None if row is None else list(row.townships)


async def arm(conn: AsyncConnection, made: list[dict[str, Any]]) -> int:
    return await insert_ignoring_existing(conn, made)


async def on_item(conn: AsyncConnection, item: RoutineItem) -> list[Settled]:
    """Meet the assignment the item answers, for the item's township. Only the `assignment` row's
    lateness counts; a reminder met after its time was merely not needed."""
    if item.assignment_id is None:
        return []
    met = await settle(
        conn,
        where=[
            deadlines.c.incident_id.is_(None),
            deadlines.c.township == item.township,
            deadlines.c.kind.in_([DeadlineKind.ASSIGNMENT.value, DeadlineKind.ASSIGNMENT_REMINDER.value]),
            (deadlines.c.period == period_of(item.assignment_id))
            | deadlines.c.period.like(period_of(item.assignment_id) + ":%"),
        ],
        met_at=item.submitted_at,
        met_by=item.submission_id,
    )
    return [s for s in met if s.kind is DeadlineKind.ASSIGNMENT]
