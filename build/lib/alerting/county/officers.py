"""The register of township information officers (信息员队伍), kept by the information section.

Each term is a row: name, phone, full- or part-time, first and last day. A change is registered (备案)
with its date and who registered it; nothing is overwritten. A term's end is set once; a new term is
a new row. A term that ends before it starts, or that overlaps the same person's other term in the
same township, is refused. Every change recomputes the township's vacancies (escalation/officers.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.errors import ConflictError, NotFound, UnknownTownship
from alerting.policy.model import Policy
from alerting.storage.schema import officer_changes, officers
from escalation import officers as vacancies

Employment = Literal["full_time", "part_time"]
EMPLOYMENT_ZH = {"full_time": "专职", "part_time": "兼职"}
PHONE_PATTERN = r"^[0-9+\-() ]+$"  # digits and + - ( ) and spaces, 3 to 40 of them
PHONE_LENGTH = (3, 40)


@dataclass(frozen=True, slots=True)
class Term:
    township: str
    name: str
    phone: str
    employment: Employment
    starts_on: date
    ends_on: date | None = None  # its last day; None: until further notice


def _overlaps(a_start: date, a_end: date | None, b_start: date, b_end: date | None) -> bool:
    return (a_end is None or b_start <= a_end) and (b_end is None or a_start <= b_end)


async def register(
    conn: AsyncConnection, term: Term, policy: Policy, who: str, note: str, now: datetime
) -> dict[str, Any]:
    if not policy.in_directory(term.township):
        raise UnknownTownship(
            f"{term.township} 不在乡镇名录中，可选：{'、'.join(policy.townships)} / not in the directory"
        )
    if term.ends_on is not None and term.ends_on < term.starts_on:
        raise ConflictError(
            f"任期结束日 {term.ends_on} 早于开始日 {term.starts_on} / the term ends before it starts"
        )
    same = await conn.execute(
        select(officers).where(
            officers.c.township == term.township, officers.c.name == term.name, officers.c.phone == term.phone
        )
    )
    for other in same:
        if _overlaps(term.starts_on, term.ends_on, other.starts_on, other.ends_on):
            raise ConflictError(
                f"{term.name} 在{term.township}已有任期 {other.starts_on}～{other.ends_on or '至今'}（编号 "
                f"{other.id}），与新任期重叠 / overlaps term {other.id} of the same person"
            )
    officer_id = (
        await conn.execute(
            officers.insert()
            .values(
                township=term.township,
                name=term.name,
                phone=term.phone,
                employment=term.employment,
                starts_on=term.starts_on,
                ends_on=term.ends_on,
                registered_by=who,
                registered_at=now,
            )
            .returning(officers.c.id)
        )
    ).scalar_one()
    await _change(conn, officer_id, "registered", term.starts_on, who, note, now)
    await vacancies.after_change(conn, policy, term.township, now)
    return await get(conn, officer_id)


async def end_term(
    conn: AsyncConnection, officer_id: int, ends_on: date, policy: Policy, who: str, note: str, now: datetime
) -> dict[str, Any]:
    """Register the last day of an open-ended term (调离、离任)."""
    row = (
        await conn.execute(select(officers).where(officers.c.id == officer_id).with_for_update())
    ).one_or_none()
    if row is None:
        raise NotFound(f"未找到信息员任期 {officer_id} / no officer term {officer_id}")
    if row.ends_on is not None:
        raise ConflictError(
            f"任期 {officer_id} 已于 {row.ends_on} 结束 / term {officer_id} already ends on {row.ends_on}"
        )
    if ends_on < row.starts_on:
        raise ConflictError(
            f"结束日 {ends_on} 早于开始日 {row.starts_on} / the term would end before it starts"
        )
    await conn.execute(officers.update().where(officers.c.id == officer_id).values(ends_on=ends_on))
    await _change(conn, officer_id, "ended", ends_on, who, note, now)
    await vacancies.after_change(conn, policy, row.township, now)
    return await get(conn, officer_id)


async def _change(
    conn: AsyncConnection, officer_id: int, kind: str, on: date, who: str, note: str, now: datetime
) -> None:
    await conn.execute(
        officer_changes.insert().values(
            officer_id=officer_id, kind=kind, effective_on=on, by=who, at=now, note=note
        )
    )


async def get(conn: AsyncConnection, officer_id: int) -> dict[str, Any]:
    row = (await conn.execute(select(officers).where(officers.c.id == officer_id))).one_or_none()
    if row is None:
        raise NotFound(f"未找到信息员任期 {officer_id} / no officer term {officer_id}")
    found = dict(row._mapping)
    changes = await conn.execute(
        select(officer_changes)
        .where(officer_changes.c.officer_id == officer_id)
        .order_by(officer_changes.c.id)
    )
    found["changes"] = [dict(c._mapping) for c in changes]
    return found


async def register_of(
    conn: AsyncConnection, township: str | None = None, active_on: date | None = None
) -> list[dict[str, Any]]:
    """Terms by township and start; with `active_on`, only those covering that day."""
    query = select(officers).order_by(officers.c.township, officers.c.starts_on, officers.c.id)
    if township is not None:
        query = query.where(officers.c.township == township)
    if active_on is not None:
        query = query.where(
            officers.c.starts_on <= active_on,
            (officers.c.ends_on.is_(None)) | (officers.c.ends_on >= active_on),
        )
    return [dict(r._mapping) for r in await conn.execute(query)]
