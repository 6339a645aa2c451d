"""The information section's notices to townships (信息通报制度): 通报工作动态 and 报送要点, sent to every
township or to some. Each township addressed has a read row from the start; its first read (签收) sets
who and when, once, so the section sees exactly who has read a notice and who has not."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.domain import NOTICE_KIND_ZH, NoticeKind
from alerting.errors import NotFound, UnknownTownship
from alerting.policy.model import Policy
from alerting.storage.schema import notice_reads, notices


@dataclass(frozen=True, slots=True)
class NewNotice:
    kind: NoticeKind
    title: str
    body: str
    townships: tuple[str, ...]  # empty: every township of the directory


def _addressees(new: NewNotice, policy: Policy) -> tuple[str, ...]:
    towns = tuple(dict.fromkeys(new.townships)) or tuple(policy.townships)  # a name given twice: once
    if not towns:
        raise UnknownTownship("乡镇名录为空，请指定乡镇 / the directory is empty: name the townships")
    unknown = [t for t in towns if not policy.in_directory(t)]
    if unknown:
        raise UnknownTownship(
            f"{'、'.join(unknown)} 不在乡镇名录中，可选：{'、'.join(policy.townships)} / not in the directory"
        )
    return towns


async def send(
    conn: AsyncConnection, new: NewNotice, policy: Policy, who: str, now: datetime
) -> dict[str, Any]:
    towns = _addressees(new, policy)
    notice_id = "ntc-" + secrets.token_hex(4)
    await conn.execute(
        notices.insert().values(
            id=notice_id,
            kind=new.kind.value,
            title=new.title,
            body=new.body,
            to_all=not new.townships,
            sent_by=who,
            sent_at=now,
        )
    )
    await conn.execute(notice_reads.insert(), [{"notice_id": notice_id, "township": t} for t in towns])
    return await get(conn, notice_id)


def _notice(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "kind_zh": NOTICE_KIND_ZH.get(row.kind, row.kind),
        "title": row.title,
        "body": row.body,
        "to_all": row.to_all,
        "sent_by": row.sent_by,
        "sent_at": row.sent_at,
    }


def _read(row: Any) -> dict[str, Any]:
    return {
        "township": row.township,
        "read": row.read_at is not None,
        "read_at": row.read_at,
        "read_by": row.read_by,
    }


async def get(conn: AsyncConnection, notice_id: str) -> dict[str, Any]:
    """The notice with every township addressed, read or not (by township name)."""
    row = (await conn.execute(select(notices).where(notices.c.id == notice_id))).one_or_none()
    if row is None:
        raise NotFound(f"未找到通报 {notice_id} / no notice {notice_id}")
    found = _notice(row)
    reads = await conn.execute(
        select(notice_reads).where(notice_reads.c.notice_id == notice_id).order_by(notice_reads.c.township)
    )
    found["reads"] = [_read(r) for r in reads]
    found["read"] = [r["township"] for r in found["reads"] if r["read"]]
    found["unread"] = [r["township"] for r in found["reads"] if not r["read"]]
    return found


async def list_sent(
    conn: AsyncConnection, kind: NoticeKind | None = None, township: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Newest first, each with how many townships it was sent to and how many have read it; with
    `township`, only those sent to it."""
    counts = (
        select(
            notice_reads.c.notice_id,
            func.count().label("addressed"),
            func.count(notice_reads.c.read_at).label("read_count"),
        )
        .group_by(notice_reads.c.notice_id)
        .subquery()
    )
    query = (
        select(notices, counts.c.addressed, counts.c.read_count)
        .join(counts, counts.c.notice_id == notices.c.id)
        .order_by(notices.c.sent_at.desc(), notices.c.id)
        .limit(limit)
    )
    if kind is not None:
        query = query.where(notices.c.kind == kind.value)
    if township is not None:
        mine = select(notice_reads.c.notice_id).where(notice_reads.c.township == township)
        query = query.where(notices.c.id.in_(mine))
    return [
        {**_notice(r), "addressed": r.addressed, "read_count": r.read_count}
        for r in await conn.execute(query)
    ]


async def list_for_township(
    conn: AsyncConnection,
    township: str,
    kind: NoticeKind | None = None,
    unread_only: bool = False,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """What was sent to `township`, newest first, each with whether (and when, by whom) it read it."""
    query = (
        select(notices, notice_reads.c.read_at, notice_reads.c.read_by)
        .join(notice_reads, notice_reads.c.notice_id == notices.c.id)
        .where(notice_reads.c.township == township)
        .order_by(notices.c.sent_at.desc(), notices.c.id)
        .limit(limit)
    )
    if kind is not None:
        query = query.where(notices.c.kind == kind.value)
    if unread_only:
        query = query.where(notice_reads.c.read_at.is_(None))
    return [
        {**_notice(r), "read": r.read_at is not None, "read_at": r.read_at, "read_by": r.read_by}
        for r in await conn.execute(query)
    ]


async def read_of(conn: AsyncConnection, notice_id: str, township: str) -> dict[str, Any] | None:
    """The notice as `township` sees it (its own read only); None if it was not sent to it."""
    found = await get(conn, notice_id)
    own = [r for r in found.pop("reads") if r["township"] == township]
    del found["read"], found["unread"]
    return {**found, **own[0]} if own else None


async def mark_read(
    conn: AsyncConnection, notice_id: str, township: str, who: str, now: datetime
) -> dict[str, Any] | None:
    """签收: the first read is kept (who and when); reading again changes nothing. None if the notice
    was not sent to `township` (NotFound if there is no such notice)."""
    if (await conn.execute(select(notices.c.id).where(notices.c.id == notice_id))).one_or_none() is None:
        raise NotFound(f"未找到通报 {notice_id} / no notice {notice_id}")
    key = (notice_reads.c.notice_id == notice_id) & (notice_reads.c.township == township)
    first = await conn.execute(
        notice_reads.update().where(key, notice_reads.c.read_at.is_(None)).values(read_at=now, read_by=who)
    )
    row = (await conn.execute(select(notice_reads).where(key))).one_or_none()
    if row is None:
        return None
    return {"notice_id": notice_id, **_read(row), "already_read": not first.rowcount}
