"""Arm, move and settle deadline rows. Every function runs inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.accountability.append import append
from alerting.accountability.chain import NewEntry
from alerting.domain import OPEN_DEADLINE_STATES, DeadlineKind, DeadlineState, EntryKind
from alerting.storage.schema import deadlines
from escalation.rules import NewDeadline, lateness

OPEN = [s.value for s in OPEN_DEADLINE_STATES]
# What arrives after its whole escalation chain ran is still late and still meets the deadline.
SETTLEABLE = [*OPEN, DeadlineState.EXHAUSTED.value]


async def insert_ignoring_existing(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> int:
    """Insert deadline rows, skipping any whose natural key exists (replicas may race to arm)."""
    if not rows:
        return 0
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    result = await conn.execute(dialect.insert(deadlines).on_conflict_do_nothing(), list(rows))
    return max(0, result.rowcount or 0)


def incident_rows(
    incident_id: str, township: str, new: Iterable[NewDeadline], now: datetime
) -> list[dict[str, Any]]:
    return [
        {
            "incident_id": incident_id,
            "township": township,
            "kind": d.kind.value,
            "seq": d.seq,
            "period": None,
            "due_at": d.due_at,
            "state": DeadlineState.PENDING.value,
            "fire_at": d.due_at,
            "next_round": 0,
            "context": None,
            "met_at": None,
            "met_by": None,
            "created_at": now,
        }
        for d in new
    ]


async def arm_incident(
    conn: AsyncConnection, incident_id: str, township: str, new: Sequence[NewDeadline], now: datetime
) -> datetime | None:
    """Insert an incident's deadlines; return the earliest so the wake-up can be moved."""
    await insert_ignoring_existing(conn, incident_rows(incident_id, township, new, now))
    return min((d.due_at for d in new), default=None)


@dataclass(frozen=True, slots=True)
class Settled:
    deadline_id: int
    kind: DeadlineKind
    seq: int
    due_at: datetime
    late_seconds: int | None
    fired: bool  # the deadline had already fired (its missed-entry is written)


async def settle(
    conn: AsyncConnection,
    *,
    where: Sequence[Any],
    met_at: datetime,
    met_by: str,
) -> list[Settled]:
    """Mark the deadlines matching `where` that are still owed as met; report how late each was."""
    query = select(
        deadlines.c.id, deadlines.c.kind, deadlines.c.seq, deadlines.c.due_at, deadlines.c.next_round
    ).where(deadlines.c.state.in_(SETTLEABLE), *where)
    if conn.dialect.name == "postgresql":
        # Lock the rows: a firing transaction holding one must commit first, and then we read what
        # it wrote, so a deadline it fired is not taken as unfired (which would enter it twice).
        query = query.with_for_update()
    rows = (await conn.execute(query)).all()
    settled = []
    for row in rows:
        await conn.execute(
            deadlines.update()
            .where(deadlines.c.id == row.id, deadlines.c.state.in_(SETTLEABLE))
            .values(state=DeadlineState.MET.value, fire_at=None, met_at=met_at, met_by=met_by)
        )
        delay = lateness(row.due_at, met_at)
        settled.append(
            Settled(
                row.id,
                DeadlineKind(row.kind),
                row.seq,
                row.due_at,
                int(delay.total_seconds()) if delay else None,
                fired=row.next_round > 0,
            )
        )
    return settled


async def record_late(
    conn: AsyncConnection,
    settled: Settled,
    *,
    township: str,
    responsible: str,
    incident_id: str | None,
    report_id: str | None,
    arrived_at: datetime,
    details: dict[str, Any],
    now: datetime,
) -> None:
    """A late_report entry for something that arrived after its deadline."""
    assert settled.late_seconds is not None
    await append(
        conn,
        NewEntry(
            kind=EntryKind.LATE_REPORT,
            township=township,
            responsible=responsible,
            occurred_at=arrived_at,
            incident_id=incident_id,
            report_id=report_id,
            deadline_id=settled.deadline_id,
            delay_seconds=settled.late_seconds,
            details={
                "deadline": settled.kind.value,
                "due_at": settled.due_at.isoformat(),
                "arrived_at": arrived_at.isoformat(),
                **details,
            },
        ),
        now,
    )


async def cancel(conn: AsyncConnection, *, where: Sequence[Any], reason: str) -> int:
    """No longer owed: stop the matching deadlines, escalating ones included."""
    result = await conn.execute(
        deadlines.update()
        .where(deadlines.c.state.in_(OPEN), *where)
        .values(state=DeadlineState.CANCELLED.value, fire_at=None, met_by=reason)
    )
    return result.rowcount or 0
