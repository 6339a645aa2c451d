"""The information section's assignments (约稿、出题目): a topic given to some or all townships with a
due time and a note; each township's part is met by a routine item that answers it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.domain import DeadlineKind, DeadlineState
from alerting.errors import ConflictError, NotFound, UnknownTownship
from alerting.policy.model import Policy
from alerting.storage.schema import assignments, deadlines
from escalation.assignments import arm, period_of, rows

# A township's part of an assignment, from its deadline row.
STATE_OF = {
    DeadlineState.PENDING.value: "owed",
    DeadlineState.MET.value: "met",
    DeadlineState.ESCALATING.value: "overdue",
    DeadlineState.EXHAUSTED.value: "overdue",
    DeadlineState.CANCELLED.value: "cancelled",
}


@dataclass(frozen=True, slots=True)
class NewAssignment:
    title: str
    note: str
    due_at: datetime
    townships: tuple[str, ...]  # empty: every township of the directory


def due_by_end_of(day: date, tz: ZoneInfo) -> datetime:
    """An assignment due on a day is due by the end of that local day (the next midnight)."""
    return datetime.combine(day + timedelta(days=1), time(0), tz)


async def create(
    conn: AsyncConnection, new: NewAssignment, policy: Policy, who: str, now: datetime
) -> dict[str, Any]:
    if new.due_at <= now:
        raise ConflictError("截止时间已过 / the due time is in the past")
    towns = new.townships or tuple(policy.townships)
    if not towns:
        raise UnknownTownship("乡镇名录为空，请指定乡镇 / the directory is empty: name the townships")
    unknown = [t for t in towns if not policy.in_directory(t)]
    if unknown:
        raise UnknownTownship(
            f"{'、'.join(unknown)} 不在乡镇名录中，可选：{'、'.join(policy.townships)} / not in the directory"
        )
    assignment_id = "asg-" + secrets.token_hex(4)
    await conn.execute(
        assignments.insert().values(
            id=assignment_id,
            title=new.title,
            note=new.note,
            due_at=new.due_at,
            townships=list(towns),
            created_by=who,
            created_at=now,
        )
    )
    for town in towns:
        await arm(conn, rows(policy, assignment_id, new.title, town, new.due_at, now))
    return await get(conn, assignment_id)


async def get(conn: AsyncConnection, assignment_id: str) -> dict[str, Any]:
    row = (await conn.execute(select(assignments).where(assignments.c.id == assignment_id))).one_or_none()
    if row is None:
        raise NotFound(f"未找到约稿 {assignment_id} / no assignment {assignment_id}")
    return (await _with_parts(conn, [dict(row._mapping)]))[0]


async def list_assignments(
    conn: AsyncConnection, township: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Newest due first; with `township`, only those it was given, with its own part."""
    query = select(assignments).order_by(assignments.c.due_at.desc()).limit(limit)
    found = [dict(r._mapping) for r in await conn.execute(query)]
    if township is not None:
        found = [a for a in found if township in a["townships"]]
    return await _with_parts(conn, found, township)


async def _with_parts(
    conn: AsyncConnection, found: list[dict[str, Any]], township: str | None = None
) -> list[dict[str, Any]]:
    if not found:
        return found
    query = select(
        deadlines.c.township, deadlines.c.period, deadlines.c.state, deadlines.c.met_at, deadlines.c.met_by
    ).where(
        deadlines.c.incident_id.is_(None),
        deadlines.c.kind == DeadlineKind.ASSIGNMENT.value,
        deadlines.c.period.in_([period_of(a["id"]) for a in found]),
    )
    if township is not None:
        query = query.where(deadlines.c.township == township)
    parts: dict[str, list[dict[str, Any]]] = {}
    for r in await conn.execute(query):
        parts.setdefault(r.period, []).append(
            {
                "township": r.township,
                "state": STATE_OF.get(r.state, r.state),
                "met_at": r.met_at,
                "met_by": r.met_by,
            }
        )
    for a in found:
        a["parts"] = sorted(parts.get(period_of(a["id"]), []), key=lambda p: str(p["township"]))
    return found
