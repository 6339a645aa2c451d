"""The townships' information work beyond urgent reports, for bulletins and the ranking: routine
items submitted, adopted (and where), returned; assignments met on time or still owed."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.domain import DeadlineKind, DeadlineState, ItemStatus
from alerting.policy.calendar import Period
from alerting.policy.model import ScoringRules
from alerting.storage.schema import deadlines, item_events, items


@dataclass
class Work:
    items: int = 0  # first submitted in the period
    adopted: int = 0  # adopted in the period
    returned: int = 0  # returned in the period (each return counts)
    adoption_points: float = 0.0
    assignments_due: int = 0
    assignments_on_time: int = 0
    adopted_by_level: dict[str, int] = field(default_factory=dict)


async def routine_work(
    conn: AsyncConnection, period: Period, scoring: ScoringRules, now: datetime, tz: ZoneInfo
) -> tuple[dict[str, Work], list[dict[str, Any]]]:
    """Per township, and the adopted items by title (oldest adoption first)."""
    work: dict[str, Work] = defaultdict(Work)
    for row in await conn.execute(
        select(items.c.township, func.count().label("n"))
        .where(items.c.submitted_at >= period.start, items.c.submitted_at < period.end)
        .group_by(items.c.township)
    ):
        work[row.township].items += row.n
    for row in await conn.execute(
        select(items.c.township, func.count().label("n"))
        .join(item_events, item_events.c.item_id == items.c.id)
        .where(
            item_events.c.kind == ItemStatus.RETURNED.value,
            item_events.c.at >= period.start,
            item_events.c.at < period.end,
        )
        .group_by(items.c.township)
    ):
        work[row.township].returned += row.n
    adopted: list[dict[str, Any]] = []
    for row in await conn.execute(
        select(items)
        .where(
            items.c.status == ItemStatus.ADOPTED.value,
            items.c.decided_at >= period.start,
            items.c.decided_at < period.end,
        )
        .order_by(items.c.decided_at, items.c.id)
    ):
        w = work[row.township]
        w.adopted += 1
        w.adoption_points += scoring.adoption.get(row.adoption_level, 0)
        w.adopted_by_level[row.adoption_level] = w.adopted_by_level.get(row.adoption_level, 0) + 1
        adopted.append(
            {
                "township": row.township,
                "item_id": row.id,
                "title": row.title,
                "category": row.category,
                "level": row.adoption_level,
                "publication": row.publication,
                "issue": row.publication_issue,
                "adopted_at": row.decided_at.astimezone(tz).isoformat(),
            }
        )
    for row in await conn.execute(
        select(deadlines.c.township, deadlines.c.state, deadlines.c.due_at, deadlines.c.met_at).where(
            deadlines.c.incident_id.is_(None),
            deadlines.c.kind == DeadlineKind.ASSIGNMENT.value,
            deadlines.c.due_at >= period.start,
            deadlines.c.due_at < min(period.end, now),
            deadlines.c.state != DeadlineState.CANCELLED.value,
        )
    ):
        work[row.township].assignments_due += 1
        if row.met_at is not None and row.met_at <= row.due_at:
            work[row.township].assignments_on_time += 1
    return work, adopted
