"""The read side of incidents: one incident's whole record with its timeline, and lists of incidents."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.county.timeline import timeline
from alerting.errors import NotFound
from alerting.storage.schema import (
    accountability_entries,
    deadlines,
    escalations,
    incident_events,
    incidents,
    notifications,
    reports,
)


def _rows(result: Any) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in result]


async def incident_detail(conn: AsyncConnection, incident_id: str, tz: ZoneInfo) -> dict[str, Any]:
    row = (await conn.execute(select(incidents).where(incidents.c.id == incident_id))).one_or_none()
    if row is None:
        raise NotFound(f"incident {incident_id} not found")
    detail = dict(row._mapping)
    detail["reports"] = _rows(
        await conn.execute(
            select(reports).where(reports.c.incident_id == incident_id).order_by(reports.c.reported_at)
        )
    )
    detail["deadlines"] = _rows(
        await conn.execute(
            select(deadlines).where(deadlines.c.incident_id == incident_id).order_by(deadlines.c.due_at)
        )
    )
    sent = _rows(
        await conn.execute(
            select(
                notifications.c.escalation_id,
                notifications.c.channel,
                notifications.c.state,
                notifications.c.attempts,
                notifications.c.last_error,
                notifications.c.sent_at,
                notifications.c.digest_key.is_not(None).label("in_digest"),
            ).where(notifications.c.incident_id == incident_id)
        )
    )
    detail["escalations"] = [
        {**e, "notifications": [n for n in sent if n["escalation_id"] == e["id"]]}
        for e in _rows(
            await conn.execute(
                select(escalations)
                .where(escalations.c.incident_id == incident_id)
                .order_by(escalations.c.fired_at)
            )
        )
    ]
    detail["entries"] = _rows(
        await conn.execute(
            select(accountability_entries)
            .where(accountability_entries.c.incident_id == incident_id)
            .order_by(accountability_entries.c.id)
        )
    )
    notes = _rows(
        await conn.execute(
            select(incident_events)
            .where(incident_events.c.incident_id == incident_id)
            .order_by(incident_events.c.id)
        )
    )
    detail["timeline"] = timeline(detail, notes, tz)
    return detail


async def list_incidents(
    conn: AsyncConnection, *, status: str | None, township: str | None, limit: int
) -> list[dict[str, Any]]:
    query = select(incidents).order_by(incidents.c.opened_at.desc()).limit(limit)
    if status:
        query = query.where(incidents.c.status == status)
    if township:
        query = query.where(incidents.c.township == township)
    return _rows(await conn.execute(query))
