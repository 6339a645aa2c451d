"""值班表排完提醒: when no shift covers the next 24 hours, remind the section chief to extend the roster.

One open deadline row at a time, for the roster's current end: due a day before the last active
shift ends (at once if that is already past). A change that moves the end settles the open row (met)
and arms one for the new end, which may fall due sooner (shifts withdrawn) or later (extended).
A county that never entered a shift (it relies on the office's duty phone alone) is not watched.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.domain import DeadlineKind, DeadlineState
from alerting.policy.model import Policy
from alerting.storage.schema import deadlines, shifts
from escalation.arming import OPEN, insert_ignoring_existing
from escalation.duties import duty_row

AHEAD = timedelta(hours=24)
PREFIX = "roster:"
COUNTY = ""  # the row is the county's own, no township's


def _local(at: datetime, policy: Policy) -> str:
    return at.astimezone(policy.tz).strftime("%Y-%m-%d %H:%M")


async def after_change(conn: AsyncConnection, policy: Policy, now: datetime) -> datetime | None:
    """Re-arm the reminder for the roster as it now stands; return its due time, if one is armed."""
    last_end: datetime | None = (
        await conn.execute(select(func.max(shifts.c.ends_at)).where(shifts.c.withdrawn_by.is_(None)))
    ).scalar_one_or_none()
    ends = last_end.isoformat() if last_end is not None else None
    open_rows = (
        await conn.execute(
            select(deadlines.c.id, deadlines.c.context, deadlines.c.due_at).where(
                deadlines.c.incident_id.is_(None),
                deadlines.c.kind == DeadlineKind.ROSTER_GAP.value,
                deadlines.c.state.in_(OPEN),
            )
        )
    ).all()
    kept = None
    for row in open_rows:
        if (row.context or {}).get("roster_ends_at") == ends:
            kept = row.due_at
            continue
        await conn.execute(  # the roster now ends elsewhere: that reminder is settled
            deadlines.update()
            .where(deadlines.c.id == row.id, deadlines.c.state.in_(OPEN))
            .values(state=DeadlineState.MET.value, fire_at=None, met_at=now, met_by="roster changed")
        )
    if last_end is None or kept is not None:
        return kept
    due = max(last_end - AHEAD, now)
    context = {"title": f"值班表排至 {_local(last_end, policy)}", "roster_ends_at": ends}
    # Keyed by when it was armed too: a roster cut back to an end it once had is reminded of again.
    period = f"{PREFIX}{last_end:%Y%m%dT%H%M}@{now:%Y%m%dT%H%M%S.%f}"
    await insert_ignoring_existing(
        conn, [duty_row(COUNTY, DeadlineKind.ROSTER_GAP, period, due, now, context)]
    )
    return due
