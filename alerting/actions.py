"""County-side actions on an incident (acknowledge), each one transaction with its deadline changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.domain import OPEN_DEADLINE_STATES, DeadlineKind, DeadlineState
from alerting.errors import NotFound
from alerting.storage.schema import deadlines, incidents


@dataclass(frozen=True, slots=True)
class Acknowledged:
    incident_id: str
    acknowledged_at: datetime
    acknowledged_by: str
    already: bool  # an earlier acknowledgement stands; this one changed nothing


async def acknowledge(conn: AsyncConnection, incident_id: str, who: str, now: datetime) -> Acknowledged:
    """签收: stop the acknowledgement deadline and its escalation. Idempotent."""
    row = (
        await conn.execute(
            select(incidents.c.acknowledged_at, incidents.c.acknowledged_by).where(
                incidents.c.id == incident_id
            )
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"incident {incident_id} not found")
    if row.acknowledged_at is not None:
        return Acknowledged(incident_id, row.acknowledged_at, row.acknowledged_by, already=True)
    await conn.execute(
        incidents.update()
        .where(incidents.c.id == incident_id)
        .values(acknowledged_at=now, acknowledged_by=who, updated_at=now)
    )
    await conn.execute(
        deadlines.update()
        .where(
            deadlines.c.incident_id == incident_id,
            deadlines.c.kind == DeadlineKind.ACK.value,
            deadlines.c.state.in_([s.value for s in OPEN_DEADLINE_STATES]),
        )
        .values(state=DeadlineState.MET.value, fire_at=None, met_at=now, met_by=who)
    )
    return Acknowledged(incident_id, now, who, already=False)
