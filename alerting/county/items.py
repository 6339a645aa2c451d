"""The information section's work on routine items: review (adopt, return, file), forward upward,
and the read side (lists, one item with its versions and timeline).

A decision names the version it was made on: a decision on a version that is no longer current, or
on an item already decided, is refused with who decided what and when (ConflictError, HTTP 409).
Forwarding upward is the county's act alone (不得越级上报) and only for adopted items.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.domain import ADOPTION_LEVEL_ZH, DECISION_STATUS, ITEM_STATUS_ZH, ItemDecision, ItemStatus
from alerting.errors import ConflictError, NotFound
from alerting.storage.schema import item_events, item_versions, items

EVENT_ZH = {"submitted": "报送", "adopted": "采用", "returned": "退回", "filed": "存档", "forwarded": "上报"}


@dataclass(frozen=True, slots=True)
class Decision:
    decision: ItemDecision
    version: int  # the version the reviewer read
    reason: str | None = None  # required to return
    level: str | None = None  # county | city | province | national: required to adopt
    publication: str | None = None  # 《XX信息》
    issue: str | None = None  # 2026年第12期
    published_on: date | None = None

    def refusal(self) -> str | None:
        """Why this decision is incomplete, or None: the rule both the API and the CLI apply."""
        if self.decision is ItemDecision.RETURN and not self.reason:
            return "退回须写明理由 / a return needs a reason"
        if self.decision is ItemDecision.ADOPT and self.level is None:
            return "采用须写明级别 / an adoption needs a level (county, city, province, national)"
        if self.decision is not ItemDecision.ADOPT and (self.level or self.publication or self.issue):
            return "only an adoption has a level or a publication"
        return None


async def _locked(conn: AsyncConnection, item_id: str) -> Row[Any]:
    row = (await conn.execute(select(items).where(items.c.id == item_id).with_for_update())).one_or_none()
    if row is None:
        raise NotFound(f"未找到日常信息 {item_id} / no routine item {item_id}")
    return row


def _decided(row: Row[Any], tz: ZoneInfo) -> str:
    at = row.decided_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    return (
        f"第 {row.version} 版已由 {row.decided_by} 于 {at} {ITEM_STATUS_ZH[row.status][1:]} / version "
        f"{row.version} was already {row.status} by {row.decided_by} at {row.decided_at.isoformat()}"
    )


async def decide(
    conn: AsyncConnection, item_id: str, decision: Decision, who: str, tz: ZoneInfo, now: datetime
) -> None:
    row = await _locked(conn, item_id)
    if decision.version != row.version:
        raise ConflictError(
            f"第 {decision.version} 版已不是最新：{row.township} 于 "
            f"{row.updated_at.astimezone(tz).strftime('%Y-%m-%d %H:%M')} 报送了第 {row.version} 版 / "
            f"version {decision.version} is stale: version {row.version} is current"
            + (f" ({_decided(row, tz)})" if row.decided_at else "")
        )
    if row.status != ItemStatus.SUBMITTED.value:
        raise ConflictError(_decided(row, tz))
    status = DECISION_STATUS[decision.decision]
    details: dict[str, Any] = {"reason": decision.reason} if decision.reason else {}
    values: dict[str, Any] = {"status": status.value, "decided_at": now, "decided_by": who}
    values["reason"] = decision.reason
    if decision.decision is ItemDecision.ADOPT:
        values |= {
            "adoption_level": decision.level,
            "publication": decision.publication,
            "publication_issue": decision.issue,
            "publication_date": decision.published_on.isoformat() if decision.published_on else None,
        }
        details |= {k: v for k, v in values.items() if k.startswith(("adoption", "publication")) and v}
    await conn.execute(items.update().where(items.c.id == item_id).values(**values, updated_at=now))
    await conn.execute(
        item_events.insert().values(
            item_id=item_id, version=row.version, kind=status.value, at=now, actor=who, details=details
        )
    )


async def forward(
    conn: AsyncConnection, item_id: str, to: str, note: str | None, who: str, tz: ZoneInfo, now: datetime
) -> None:
    """Record that the county sent an adopted item upward (to whom, when, by whom)."""
    row = await _locked(conn, item_id)
    if row.status != ItemStatus.ADOPTED.value:
        raise ConflictError(
            f"日常信息 {item_id} {ITEM_STATUS_ZH[row.status]}，采用后才能上报 / only an adopted item is "
            f"forwarded upward; {item_id} is {row.status}"
        )
    details = {"to": to, **({"note": note} if note else {})}
    await conn.execute(
        item_events.insert().values(
            item_id=item_id, version=row.version, kind="forwarded", at=now, actor=who, details=details
        )
    )


async def list_items(
    conn: AsyncConnection,
    *,
    township: str | None = None,
    status: ItemStatus | None = None,
    category: str | None = None,
    before: datetime | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Newest first; `before` (a submitted_at) pages back; since/until bound submitted_at (until
    exclusive); `offset` for numbered pages."""
    query = select(items).order_by(items.c.submitted_at.desc(), items.c.id.desc()).limit(limit).offset(offset)
    for column, value in ((items.c.township, township), (items.c.category, category)):
        if value is not None:
            query = query.where(column == value)
    if status is not None:
        query = query.where(items.c.status == status.value)
    if before is not None:
        query = query.where(items.c.submitted_at < before)
    if since is not None:
        query = query.where(items.c.submitted_at >= since)
    if until is not None:
        query = query.where(items.c.submitted_at < until)
    return [dict(r._mapping) for r in await conn.execute(query)]


async def item_detail(conn: AsyncConnection, item_id: str, tz: ZoneInfo) -> dict[str, Any]:
    row = (await conn.execute(select(items).where(items.c.id == item_id))).one_or_none()
    if row is None:
        raise NotFound(f"未找到日常信息 {item_id} / no routine item {item_id}")
    versions = await conn.execute(
        select(item_versions).where(item_versions.c.item_id == item_id).order_by(item_versions.c.version)
    )
    events = await conn.execute(
        select(item_events).where(item_events.c.item_id == item_id).order_by(item_events.c.id)
    )
    detail = dict(row._mapping)
    detail["versions"] = [dict(v._mapping) for v in versions]
    detail["timeline"] = [_event(dict(e._mapping), tz) for e in events]
    return detail


def _event(event: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    d = event["details"]
    text = f"{event['actor']}{EVENT_ZH.get(event['kind'], event['kind'])}第 {event['version']} 版"
    if event["kind"] == "adopted":
        text += f"（{ADOPTION_LEVEL_ZH.get(d.get('adoption_level', ''), '')}采用"
        if d.get("publication"):
            text += f"，刊于{d['publication']}{d.get('publication_issue', '')}"
        text += "）"
    elif event["kind"] == "forwarded":
        text += f"，报送{d['to']}"
    if d.get("reason"):
        text += f"（理由：{d['reason']}）"
    return {
        "at": event["at"],
        "kind": event["kind"],
        "version": event["version"],
        "actor": event["actor"],
        "text": text,
        "details": d,
    }
