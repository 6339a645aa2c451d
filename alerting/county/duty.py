"""What the duty officers need beside the board: the newest open incidents (the banner of a new one)
and what was done during a shift (交接班: acknowledged, closed, forwarded, in the order done)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.events import EventKind
from alerting.storage.schema import incident_events, incidents

SHIFT_ACTS = (EventKind.ACKNOWLEDGED, EventKind.CLOSED, EventKind.FORWARDED)
ACT_ZH = {
    EventKind.ACKNOWLEDGED.value: "签收",
    EventKind.CLOSED.value: "办结",
    EventKind.FORWARDED.value: "上报市委办",
}


async def newest_open(conn: AsyncConnection, limit: int = 20) -> list[dict[str, Any]]:
    """Open incidents the county heard of last, newest first: whatever page or filter the board
    shows, a browser compares these ids with those it has seen."""
    rows = await conn.execute(
        select(incidents.c.id, incidents.c.township, incidents.c.level, incidents.c.title)
        .where(incidents.c.status == "open")
        .order_by(incidents.c.opened_at.desc(), incidents.c.id.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


async def shift_acts(conn: AsyncConnection, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """The county's acts on incidents in [since, until), oldest first, with the incident's title."""
    rows = await conn.execute(
        select(
            incident_events.c.at,
            incident_events.c.kind,
            incident_events.c.actor,
            incident_events.c.details,
            incidents.c.id.label("incident_id"),
            incidents.c.township,
            incidents.c.level,
            incidents.c.title,
        )
        .join(incidents, incidents.c.id == incident_events.c.incident_id)
        .where(
            incident_events.c.at >= since,
            incident_events.c.at < until,
            incident_events.c.kind.in_([k.value for k in SHIFT_ACTS]),
        )
        .order_by(incident_events.c.at, incident_events.c.id)
    )
    return [{**dict(r._mapping), "act": ACT_ZH[r.kind]} for r in rows]


async def last_act(conn: AsyncConnection, incident_id: str, kind: EventKind, mode: str = "") -> Any:
    """The latest act of `kind` on the incident (of that forward `mode`), or None: who refuses a
    repeated act says whose act stands."""
    rows = await conn.execute(
        select(incident_events.c.at, incident_events.c.actor, incident_events.c.details)
        .where(incident_events.c.incident_id == incident_id, incident_events.c.kind == kind.value)
        .order_by(incident_events.c.id.desc())
    )
    return next((r for r in rows if not mode or (r.details or {}).get("mode") == mode), None)
