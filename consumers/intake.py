"""Intake: store a report and its incident, settle or arm its deadlines, all in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting import accountability
from alerting.accountability import NewEntry
from alerting.domain import OPEN_DEADLINE_STATES, DeadlineKind, DeadlineState, EntryKind, Report
from alerting.errors import InvalidReport
from alerting.policy import Policy
from alerting.storage.schema import deadlines, incidents, reports
from escalation import rules


class Outcome(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class IntakeResult:
    outcome: Outcome
    late_entries: int = 0
    earliest_fire_at: datetime | None = None  # wake the deadline loop no later than this


async def store_report(conn: AsyncConnection, report: Report, policy: Policy, now: datetime) -> IntakeResult:
    """Idempotent on report_id: a redelivered report changes nothing."""
    existing = (
        await conn.execute(select(reports.c.incident_id).where(reports.c.report_id == report.report_id))
    ).scalar_one_or_none()
    if existing is not None:
        if existing != report.incident_id:
            raise InvalidReport(f"report_id {report.report_id} already belongs to incident {existing}")
        return IntakeResult(Outcome.DUPLICATE)

    incident = (
        await conn.execute(select(incidents.c.township).where(incidents.c.id == report.incident_id))
    ).one_or_none()
    earliest: datetime | None = None
    if incident is None:
        earliest = await _open_incident(conn, report, policy, now)
    elif incident.township != report.township:
        raise InvalidReport(
            f"incident {report.incident_id} belongs to {incident.township}, not {report.township}"
        )
    late = await _settle_deadlines(conn, report, now)
    await conn.execute(
        reports.insert().values(
            report_id=report.report_id,
            incident_id=report.incident_id,
            type=report.type.value,
            township=report.township,
            category=report.category,
            level=report.level.value,
            title=report.title,
            summary=report.summary,
            occurred_at=report.occurred_at,
            known_at=report.known_at,
            reported_at=report.reported_at,
            reporter_name=report.reporter.name,
            reporter_phone=report.reporter.phone,
            stored_at=now,
            late_by_seconds=max(late) if late else None,
        )
    )
    return IntakeResult(Outcome.STORED, len(late), earliest)


async def _open_incident(
    conn: AsyncConnection, report: Report, policy: Policy, now: datetime
) -> datetime | None:
    await conn.execute(
        incidents.insert().values(
            id=report.incident_id,
            township=report.township,
            level=report.level.value,
            category=report.category,
            title=report.title,
            status="open",
            occurred_at=report.occurred_at,
            known_at=report.known_at,
            opened_at=report.reported_at,
            updated_at=now,
        )
    )
    new = rules.initial_deadlines(report, policy.levels[report.level])
    await conn.execute(
        deadlines.insert(),
        [
            {
                "incident_id": report.incident_id,
                "kind": d.kind.value,
                "seq": 0,
                "due_at": d.due_at,
                "state": DeadlineState.PENDING.value,
                "fire_at": d.due_at,
                "next_round": 0,
                "created_at": now,
            }
            for d in new
        ],
    )
    return min(d.due_at for d in new)


async def _settle_deadlines(conn: AsyncConnection, report: Report, now: datetime) -> list[int]:
    """Mark the open deadlines this report meets; return the delays (s) of the late ones."""
    rows = (
        await conn.execute(
            select(deadlines.c.id, deadlines.c.kind, deadlines.c.due_at).where(
                deadlines.c.incident_id == report.incident_id,
                deadlines.c.state.in_([s.value for s in OPEN_DEADLINE_STATES]),
            )
        )
    ).all()
    delays: list[int] = []
    for row in rows:
        kind = DeadlineKind(row.kind)
        if not rules.meets(report, kind):
            continue
        await conn.execute(
            deadlines.update()
            .where(deadlines.c.id == row.id)
            .values(
                state=DeadlineState.MET.value,
                fire_at=None,
                met_at=report.reported_at,
                met_by=report.report_id,
            )
        )
        delay = rules.lateness(row.due_at, report.reported_at)
        if delay is None:
            continue
        seconds = int(delay.total_seconds())
        delays.append(seconds)
        await accountability.append(
            conn,
            NewEntry(
                kind=EntryKind.LATE_REPORT,
                township=report.township,
                responsible=report.township,
                occurred_at=report.reported_at,
                incident_id=report.incident_id,
                report_id=report.report_id,
                deadline_id=row.id,
                delay_seconds=seconds,
                details={
                    "deadline": kind.value,
                    "due_at": row.due_at.isoformat(),
                    "reported_at": report.reported_at.isoformat(),
                    "report_type": report.type.value,
                    "level": report.level.value,
                },
            ),
            now,
        )
    return delays
