"""Intake: store a report and its incident, settle or arm its deadlines, all in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.accountability.append import append, append_review
from alerting.accountability.chain import NewEntry
from alerting.domain import (
    KEY_FACTS,
    DeadlineKind,
    DeadlineState,
    EntryKind,
    Level,
    Origin,
    Report,
    ReportType,
    ReviewDecision,
)
from alerting.errors import InvalidReport
from alerting.policy.model import Policy
from alerting.storage.schema import accountability_entries, deadlines, incidents, reports
from escalation import arming, cadence, duties, rules


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
    if (refusal := policy.category_refusal(report.category, "urgent")) is not None:
        raise InvalidReport(refusal)
    if not policy.in_directory(report.township):
        raise InvalidReport(f"township {report.township} is not in the policy's township directory")

    incident = (
        await conn.execute(select(incidents).where(incidents.c.id == report.incident_id))
    ).one_or_none()
    armed: list[datetime | None] = []
    if incident is None:
        armed.append(await _open_incident(conn, report, policy, now))
    else:
        if incident.township != report.township:
            raise InvalidReport(
                f"incident {report.incident_id} belongs to {incident.township}, not {report.township}"
            )
        armed.append(await _arm_registered(conn, incident, report, policy, now))
        armed.append(await _earlier_receipt(conn, incident, report, policy, now))

    late = 0
    delays: list[int] = []
    for item in await _settle(conn, report, now):
        if item.kind is DeadlineKind.FOLLOWUP:
            armed.append(await _arm_next_followup(conn, report, item, policy, now))
        if item.late_seconds is not None:
            late += 1
            delays.append(item.late_seconds)
            await arming.record_late(
                conn,
                item,
                township=report.township,
                responsible=report.township,
                incident_id=report.incident_id,
                report_id=report.report_id,
                arrived_at=report.reported_at,
                details={"report_type": report.type.value, "level": report.level.value},
                now=now,
            )
    if incident is not None:
        await _record_corrections(conn, incident, report, now)
        armed.append(await _change_level(conn, incident, report, policy, now))
        await _update_facts(conn, report, now)
    for item in await duties.on_report(conn, policy, report, now):
        if item.late_seconds is not None:
            late += 1
            await arming.record_late(
                conn,
                item,
                township=report.township,
                responsible=report.township,
                incident_id=None,
                report_id=report.report_id,
                arrived_at=report.reported_at,
                details={"report_type": report.type.value, "category": report.category},
                now=now,
            )
    values = report_values(report, policy, now)
    await conn.execute(reports.insert().values(**values, late_by_seconds=max(delays, default=None)))
    due = [a for a in armed if a is not None]
    return IntakeResult(Outcome.STORED, late, min(due) if due else None)


def report_values(report: Report, policy: Policy, now: datetime) -> dict[str, Any]:
    return {
        "report_id": report.report_id,
        "incident_id": report.incident_id,
        "type": report.type.value,
        "township": report.township,
        "category": report.category,
        "level": report.level.value,
        "title": report.title,
        "summary": report.summary,
        "occurred_at": report.occurred_at,
        "known_at": report.known_at,
        "reported_at": report.reported_at,
        "reporter_name": report.reporter.name,
        "reporter_phone": report.reporter.phone,
        "place": report.place,
        "deaths": report.deaths,
        "injured": report.injured,
        "missing_persons": report.missing_persons,
        "is_problem": policy.is_problem(report.category, report.is_problem),
        "stored_at": now,
        "provenance": report.provenance.value,
        "producer_key": report.producer_key,
    }


def incident_values(report: Report, now: datetime) -> dict[str, Any]:
    """The incident a township's report opens."""
    return {
        "id": report.incident_id,
        "township": report.township,
        "level": report.level.value,
        "category": report.category,
        "title": report.title,
        "status": "open",
        "origin": Origin.TOWNSHIP.value,
        "occurred_at": report.occurred_at,
        "known_at": report.known_at,
        "opened_at": report.reported_at,
        "place": report.place,
        "deaths": report.deaths,
        "injured": report.injured,
        "missing_persons": report.missing_persons,
        "updated_at": now,
    }


async def _open_incident(
    conn: AsyncConnection, report: Report, policy: Policy, now: datetime
) -> datetime | None:
    await conn.execute(incidents.insert().values(**incident_values(report, now)))
    level_rules = policy.rules_for(report.level, report.category)
    new = rules.initial_deadlines(report, level_rules, policy.tz)
    return await arming.arm_incident(conn, report.incident_id, report.township, new, now)


async def _arm_registered(
    conn: AsyncConnection, incident: Row[Any], report: Report, policy: Policy, now: datetime
) -> datetime | None:
    """The township's first report on an incident the county registered: start the usual clocks."""
    if incident.origin != Origin.COUNTY.value:
        return None
    has_ack = (
        await conn.execute(
            select(deadlines.c.id).where(
                deadlines.c.incident_id == incident.id, deadlines.c.kind == DeadlineKind.ACK.value
            )
        )
    ).first()
    if has_ack:
        return None
    level_rules = policy.rules_for(report.level, report.category)
    new = [
        d
        for d in rules.initial_deadlines(report, level_rules, policy.tz)
        if d.kind is not DeadlineKind.FIRST_REPORT  # the concealment check stands in for it
    ]
    earliest = await arming.arm_incident(conn, incident.id, incident.township, new, now)
    if incident.acknowledged_at is not None:
        # A duty officer acknowledged the registration before the township reported: that
        # acknowledgement meets the deadline (`ack` would only answer "already").
        await arming.settle(
            conn,
            where=[deadlines.c.incident_id == incident.id, deadlines.c.kind == DeadlineKind.ACK.value],
            met_at=incident.acknowledged_at,
            met_by=incident.acknowledged_by,
        )
    return earliest


async def _earlier_receipt(
    conn: AsyncConnection, incident: Row[Any], report: Report, policy: Policy, now: datetime
) -> datetime | None:
    """Reports that crossed on the bus: this one was received before the one that opened the
    incident, so the county heard of it earlier and the first report was on time after all."""
    if incident.origin != Origin.TOWNSHIP.value or report.reported_at >= incident.opened_at:
        return None
    await conn.execute(
        incidents.update().where(incidents.c.id == incident.id).values(opened_at=report.reported_at)
    )
    first = (
        await conn.execute(
            select(deadlines).where(
                deadlines.c.incident_id == incident.id,
                deadlines.c.kind == DeadlineKind.FIRST_REPORT.value,
                deadlines.c.state == DeadlineState.MET.value,
            )
        )
    ).one_or_none()
    if first is not None and first.met_at > report.reported_at:
        await conn.execute(
            deadlines.update()
            .where(deadlines.c.id == first.id)
            .values(met_at=report.reported_at, met_by=report.report_id)
        )
        if rules.lateness(first.due_at, report.reported_at) is None:
            await _waive_late_entries(conn, first.id, report, now)
    ack = policy.rules_for(Level(incident.level), incident.category).ack
    due = report.reported_at + ack
    moved = await conn.execute(
        deadlines.update()
        .where(
            deadlines.c.incident_id == incident.id,
            deadlines.c.kind == DeadlineKind.ACK.value,
            deadlines.c.state == DeadlineState.PENDING.value,
            deadlines.c.due_at > due,
        )
        .values(due_at=due, fire_at=due)
    )
    return due if moved.rowcount else None


async def _waive_late_entries(conn: AsyncConnection, deadline_id: int, report: Report, now: datetime) -> None:
    """The log is append-only: a late_report that turned out wrong is waived by a system review."""
    late = (
        await conn.execute(
            select(accountability_entries).where(
                accountability_entries.c.deadline_id == deadline_id,
                accountability_entries.c.kind == EntryKind.LATE_REPORT.value,
            )
        )
    ).all()
    reason = f"系统：更早收到的报告 {report.report_id}（{report.reported_at.isoformat()}）已按时报送"
    for entry in late:
        await append_review(conn, entry, ReviewDecision.WAIVE, reason, "system", now, reviewer_role="system")


async def _settle(conn: AsyncConnection, report: Report, now: datetime) -> list[arming.Settled]:
    kinds = [k.value for k in DeadlineKind if rules.meets(report, k) and k is not DeadlineKind.FOLLOWUP]
    where: list[Any] = [deadlines.c.incident_id == report.incident_id]
    settled = await arming.settle(
        conn, where=[*where, deadlines.c.kind.in_(kinds)], met_at=report.reported_at, met_by=report.report_id
    )
    if report.type is ReportType.FOLLOWUP:
        # One follow-up meets one slot: the earliest still owed.
        earliest = (
            await conn.execute(
                select(deadlines.c.id)
                .where(
                    *where,
                    deadlines.c.kind == DeadlineKind.FOLLOWUP.value,
                    deadlines.c.state.in_(arming.OPEN),
                )
                .order_by(deadlines.c.seq)
                .limit(1)
            )
        ).scalar_one_or_none()
        if earliest is not None:
            settled += await arming.settle(
                conn, where=[deadlines.c.id == earliest], met_at=report.reported_at, met_by=report.report_id
            )
    if report.type is ReportType.FINAL:
        await arming.cancel(
            conn, where=[*where, deadlines.c.kind == DeadlineKind.FOLLOWUP.value], reason="final report"
        )
    return settled


async def _arm_next_followup(
    conn: AsyncConnection, report: Report, settled: arming.Settled, policy: Policy, now: datetime
) -> datetime | None:
    incident = (await conn.execute(select(incidents).where(incidents.c.id == report.incident_id))).one()
    if incident.status != "open":
        return None
    after = max(settled.due_at, report.reported_at)
    return await cadence.arm_followup_after(conn, incident, settled.seq, after, policy, now)


async def _record_corrections(
    conn: AsyncConnection, incident: Row[Any], report: Report, now: datetime
) -> None:
    """误报: a correction that changes a key fact the county had been told."""
    if report.type is not ReportType.CORRECTION:
        return
    before = {f: getattr(incident, f) for f in KEY_FACTS}
    after = {**before, "level": report.level.value, "occurred_at": report.occurred_at}
    for field in ("place", "deaths", "injured", "missing_persons"):
        if getattr(report, field) is not None:
            after[field] = getattr(report, field)
    changed = [f for f in KEY_FACTS if before[f] is not None and after[f] != before[f]]
    if not changed:
        return
    await append(
        conn,
        NewEntry(
            kind=EntryKind.ERRONEOUS_REPORT,
            township=report.township,
            responsible=report.township,
            occurred_at=report.reported_at,
            incident_id=report.incident_id,
            report_id=report.report_id,
            details={
                "fields": changed,
                "before": {f: _plain(before[f]) for f in changed},
                "after": {f: _plain(after[f]) for f in changed},
            },
        ),
        now,
    )


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


async def _change_level(
    conn: AsyncConnection, incident: Row[Any], report: Report, policy: Policy, now: datetime
) -> datetime | None:
    if report.level.value == incident.level:
        return None
    change = await cadence.change_level(
        conn, incident, report.level, report.reported_at, f"report {report.report_id}", policy, now
    )
    return change.earliest


async def _update_facts(conn: AsyncConnection, report: Report, now: datetime) -> None:
    values: dict[str, Any] = {"updated_at": now}
    for field in ("place", "deaths", "injured", "missing_persons"):
        if getattr(report, field) is not None:
            values[field] = getattr(report, field)
    if report.type is ReportType.CORRECTION:
        values["occurred_at"] = report.occurred_at
    await conn.execute(incidents.update().where(incidents.c.id == report.incident_id).values(**values))
