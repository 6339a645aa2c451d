"""A township's own history (我的报送): its urgent reports and its routine items in one list, newest
first, with what became of each (received, acknowledged by whom, adopted at which level, returned
with the reason), filtered and paged in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Integer, String, case, cast, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.storage.schema import incidents, items, reports

Kind = Literal["report", "item"]
# A report is received once stored, acknowledged once the county signed for its incident; an item
# carries its own review status.
STATUS_ZH = {
    "received": "已接收",
    "acknowledged": "已签收",
    "submitted": "待审核",
    "adopted": "已采用",
    "returned": "已退回",
    "filed": "已存档",
}
PAGE_SIZE = 20


@dataclass(frozen=True, slots=True)
class Filters:
    kind: Kind | None = None
    status: str | None = None
    since: datetime | None = None  # at or after
    until: datetime | None = None  # before


@dataclass(frozen=True, slots=True)
class HistoryPage:
    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int


def _union(township: str) -> Any:
    acknowledged = incidents.c.acknowledged_at.is_not(None)
    sent = (
        select(
            literal("report").label("kind"),
            reports.c.report_id.label("id"),
            reports.c.incident_id.label("incident_id"),
            reports.c.type.label("type"),
            reports.c.category.label("category"),
            reports.c.level.label("level"),
            reports.c.title.label("title"),
            reports.c.reported_at.label("at"),
            case((acknowledged, "acknowledged"), else_="received").label("status"),
            incidents.c.acknowledged_by.label("by"),
            incidents.c.acknowledged_at.label("decided_at"),
            cast(None, String).label("reason"),
            literal(0).label("version"),
            reports.c.late_by_seconds.label("late_by_seconds"),
        )
        .select_from(reports.outerjoin(incidents, incidents.c.id == reports.c.incident_id))
        .where(reports.c.township == township)
    )
    routine = select(
        literal("item").label("kind"),
        items.c.id.label("id"),
        cast(None, String).label("incident_id"),
        literal("routine").label("type"),
        items.c.category.label("category"),
        items.c.adoption_level.label("level"),
        items.c.title.label("title"),
        items.c.updated_at.label("at"),
        items.c.status.label("status"),
        items.c.decided_by.label("by"),
        items.c.decided_at.label("decided_at"),
        items.c.reason.label("reason"),
        items.c.version.label("version"),
        cast(None, Integer).label("late_by_seconds"),
    ).where(items.c.township == township)
    return union_all(sent, routine).subquery()


async def page_of(conn: AsyncConnection, township: str, filters: Filters, page: int = 1) -> HistoryPage:
    """One page of `township`'s history, newest first (an item by its latest version or decision)."""
    every = _union(township)
    where = []
    if filters.kind is not None:
        where.append(every.c.kind == filters.kind)
    if filters.status is not None:
        where.append(every.c.status == filters.status)
    if filters.since is not None:
        where.append(every.c.at >= filters.since)
    if filters.until is not None:
        where.append(every.c.at < filters.until)
    total = (await conn.execute(select(func.count()).select_from(every).where(*where))).scalar_one()
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    rows = await conn.execute(
        select(every)
        .where(*where)
        .order_by(every.c.at.desc(), every.c.id)
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    )
    return HistoryPage([dict(r._mapping) for r in rows], total, page, pages)


async def incidents_of(conn: AsyncConnection, township: str) -> list[dict[str, Any]]:
    """The township's incidents, open ones first, then newest: what a written, follow-up or final
    report or a correction refers to (a final report is owed once an incident is closed)."""
    columns = [incidents.c[n] for n in ("id", "title", "level", "category", "status", "known_at")]
    query = (
        select(*columns)
        .where(incidents.c.township == township)
        .order_by(case((incidents.c.status == "open", 0), else_=1), incidents.c.opened_at.desc())
        .limit(200)
    )
    return [dict(r._mapping) for r in await conn.execute(query)]
