"""County-side actions on incidents, each one transaction with its deadline changes and timeline note."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting import events
from alerting.accountability.append import append
from alerting.accountability.chain import NewEntry
from alerting.domain import MISSED_ENTRY_KIND, DeadlineKind, Level, Origin, ReportType, responsible_for
from alerting.errors import ConflictError, NotFound, UnknownTownship
from alerting.events import EventKind
from alerting.policy.model import Policy
from alerting.storage.schema import deadlines, incidents, reports
from escalation import arming, cadence
from escalation.rules import NewDeadline


async def _incident(conn: AsyncConnection, incident_id: str) -> Row[Any]:
    row = (await conn.execute(select(incidents).where(incidents.c.id == incident_id))).one_or_none()
    if row is None:
        raise NotFound(f"incident {incident_id} not found")
    return row


async def _late_before_firing(
    conn: AsyncConnection, settled: list[arming.Settled], incident: Row[Any], now: datetime
) -> None:
    """A county deadline met late before the engine fired it: its entry would otherwise never exist."""
    for item in settled:
        entry_kind = MISSED_ENTRY_KIND[item.kind]
        if item.late_seconds is None or item.fired or entry_kind is None:
            continue
        await append(
            conn,
            NewEntry(
                kind=entry_kind,
                township=incident.township,
                responsible=responsible_for(item.kind, incident.township),
                occurred_at=item.due_at,
                incident_id=incident.id,
                deadline_id=item.deadline_id,
                delay_seconds=item.late_seconds,
                details={
                    "deadline": item.kind.value,
                    "due_at": item.due_at.isoformat(),
                    "level": incident.level,
                },
            ),
            now,
        )


@dataclass(frozen=True, slots=True)
class Acknowledged:
    incident_id: str
    acknowledged_at: datetime
    acknowledged_by: str
    already: bool  # an earlier acknowledgement stands; this one changed nothing


async def acknowledge(conn: AsyncConnection, incident_id: str, who: str, now: datetime) -> Acknowledged:
    """签收: stop the acknowledgement deadline and its escalation. Idempotent."""
    taken = await conn.execute(
        incidents.update()
        .where(incidents.c.id == incident_id, incidents.c.acknowledged_at.is_(None))
        .values(acknowledged_at=now, acknowledged_by=who, updated_at=now)
    )
    row = await _incident(conn, incident_id)
    if taken.rowcount == 0:  # acknowledged before, or by someone at the same moment: theirs stands
        return Acknowledged(incident_id, row.acknowledged_at, row.acknowledged_by, already=True)
    settled = await arming.settle(
        conn,
        where=[deadlines.c.incident_id == incident_id, deadlines.c.kind == DeadlineKind.ACK.value],
        met_at=now,
        met_by=who,
    )
    await _late_before_firing(conn, settled, row, now)
    await events.record(conn, incident_id, EventKind.ACKNOWLEDGED, now, who, {})
    return Acknowledged(incident_id, now, who, already=False)


async def close(
    conn: AsyncConnection, incident_id: str, who: str, policy: Policy, now: datetime, *, note: str = ""
) -> datetime:
    """应急响应结束 (办结): stop follow-ups and start the final-report deadline; returns its time.
    A `note` (办结说明) is kept on the timeline."""
    row = await _incident(conn, incident_id)
    if row.status == "closed":
        raise ConflictError(f"incident {incident_id} is already closed")
    await conn.execute(
        incidents.update()
        .where(incidents.c.id == incident_id)
        .values(status="closed", closed_at=now, updated_at=now)
    )
    await arming.cancel(
        conn,
        where=[deadlines.c.incident_id == incident_id, deadlines.c.kind == DeadlineKind.FOLLOWUP.value],
        reason="response ended",
    )
    due = now + policy.rules_for(Level(row.level), row.category).final_report
    final = (
        await conn.execute(
            select(reports.c.report_id).where(
                reports.c.incident_id == incident_id, reports.c.type == ReportType.FINAL.value
            )
        )
    ).first()
    if final is None:
        await arming.arm_incident(
            conn, incident_id, row.township, [NewDeadline(DeadlineKind.FINAL_REPORT, due)], now
        )
    details: dict[str, Any] = (
        {"final_report_due": due.isoformat()} if final is None else {"final_report": final.report_id}
    )
    if note.strip():
        details["note"] = note.strip()
    await events.record(conn, incident_id, EventKind.CLOSED, now, who, details)
    return due


async def forward(
    conn: AsyncConnection,
    incident_id: str,
    mode: Literal["phone", "written"],
    who: str,
    note: str,
    now: datetime,
) -> list[arming.Settled]:
    """上报市委办: meets the county's forward deadline of that mode (late ones are recorded)."""
    row = await _incident(conn, incident_id)
    kind = DeadlineKind.FORWARD_PHONE if mode == "phone" else DeadlineKind.FORWARD_WRITTEN
    settled = await arming.settle(
        conn,
        where=[deadlines.c.incident_id == incident_id, deadlines.c.kind == kind.value],
        met_at=now,
        met_by=who,
    )
    await _late_before_firing(conn, settled, row, now)
    await events.record(conn, incident_id, EventKind.FORWARDED, now, who, {"mode": mode, "note": note})
    return settled


async def regrade(
    conn: AsyncConnection,
    incident_id: str,
    level: Level,
    reason: str,
    who: str,
    policy: Policy,
    now: datetime,
) -> cadence.LevelChange:
    """调整等级: the county re-grades an incident, with a reason. A graver level brings the pending
    clocks forward; a lighter one relaxes them (a township's report can only make them graver)."""
    row = await _incident(conn, incident_id)
    if row.level == level.value:
        raise ConflictError(
            f"事件已是 {level.value} 级 / incident {incident_id} is already level {level.value}"
        )
    return await cadence.change_level(conn, row, level, now, who, policy, now, reason=reason, lower=True)


@dataclass(frozen=True, slots=True)
class Registration:
    incident_id: str
    township: str
    level: Level
    category: str
    title: str
    summary: str
    source: str
    occurred_at: datetime | None
    learned_at: datetime


async def register(
    conn: AsyncConnection, reg: Registration, who: str, policy: Policy, now: datetime
) -> datetime:
    """The county learned of an incident elsewhere: the township must report within the first-report
    limit from that moment, or a concealment_suspected entry is written. Returns that deadline."""
    if not policy.in_directory(reg.township):
        known = "、".join(policy.townships)
        raise UnknownTownship(
            f"乡镇名录中没有「{reg.township}」（名录：{known}）/ "
            f"{reg.township} is not in the township directory"
        )
    existing = (await conn.execute(select(incidents.c.id).where(incidents.c.id == reg.incident_id))).first()
    if existing:
        raise ConflictError(f"incident {reg.incident_id} already exists")
    await conn.execute(
        incidents.insert().values(
            id=reg.incident_id,
            township=reg.township,
            level=reg.level.value,
            category=reg.category,
            title=reg.title,
            status="open",
            origin=Origin.COUNTY.value,
            source=reg.source,
            registered_by=who,
            occurred_at=reg.occurred_at or reg.learned_at,
            known_at=reg.learned_at,
            opened_at=reg.learned_at,
            updated_at=now,
        )
    )
    level_rules = policy.rules_for(reg.level, reg.category)
    due = reg.learned_at + level_rules.first_report
    await arming.arm_incident(
        conn, reg.incident_id, reg.township, [NewDeadline(DeadlineKind.CONCEALMENT_CHECK, due)], now
    )
    await events.record(
        conn,
        reg.incident_id,
        EventKind.REGISTERED,
        reg.learned_at,
        who,
        {"source": reg.source, "summary": reg.summary, "township_report_due": due.isoformat()},
    )
    return due
