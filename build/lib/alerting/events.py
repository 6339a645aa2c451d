"""An incident's timeline notes: things that happened to it besides reports and escalations."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.storage.schema import incident_events


class EventKind(StrEnum):
    REGISTERED = "registered"  # the county learned of it from another channel
    LEVEL_CHANGED = "level_changed"
    LEVEL_NOT_LOWERED = "level_not_lowered"  # a township reported a lighter level: only the county lowers it
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"
    FORWARDED = "forwarded"


async def record(
    conn: AsyncConnection,
    incident_id: str,
    kind: EventKind,
    at: datetime,
    actor: str,
    details: dict[str, Any],
) -> None:
    await conn.execute(
        incident_events.insert().values(
            incident_id=incident_id, kind=kind.value, at=at, actor=actor, details=details
        )
    )
