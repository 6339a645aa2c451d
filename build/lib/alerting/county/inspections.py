"""Inspections of the townships' information networks (信息网络建设检查): the information section checks,
督促 and 指导 the six conditions (六有: 有办公场所、有必要经费、有设施设备、有相关刊物、有分管领导、
有专兼职信息人员) and records what it found. Each inspection is a row of its own; nothing is overwritten,
so a township's history shows whether a missing condition was put right."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.domain import NETWORK_CONDITIONS
from alerting.errors import ConflictError, NotFound, UnknownTownship
from alerting.policy.model import Policy
from alerting.storage.schema import inspections


@dataclass(frozen=True, slots=True)
class Conditions:
    """Whether each of the six is met: all six are always stated (no "not checked")."""

    office: bool  # 有办公场所
    funding: bool  # 有必要经费
    equipment: bool  # 有设施设备
    publications: bool  # 有相关刊物
    leader: bool  # 有分管领导
    staff: bool  # 有专兼职信息人员

    def as_dict(self) -> dict[str, bool]:
        return {key: bool(getattr(self, key)) for key in NETWORK_CONDITIONS}


@dataclass(frozen=True, slots=True)
class Inspection:
    township: str
    inspected_on: date
    inspectors: tuple[str, ...]  # names of those who inspected
    findings: Conditions
    note: str = ""


async def record(
    conn: AsyncConnection, inspection: Inspection, policy: Policy, who: str, now: datetime
) -> dict[str, Any]:
    if not policy.in_directory(inspection.township):
        known = "、".join(policy.townships)
        raise UnknownTownship(f"{inspection.township} 不在乡镇名录中，可选：{known} / not in the directory")
    today = now.astimezone(policy.tz).date()
    if inspection.inspected_on > today:
        raise ConflictError(
            f"检查日期 {inspection.inspected_on} 晚于今天 {today} / the inspection date is in the future"
        )
    findings = inspection.findings.as_dict()
    inspection_id = (
        await conn.execute(
            inspections.insert()
            .values(
                township=inspection.township,
                inspected_on=inspection.inspected_on,
                inspectors=list(inspection.inspectors),
                findings=findings,
                met=sum(findings.values()),
                note=inspection.note,
                recorded_by=who,
                recorded_at=now,
            )
            .returning(inspections.c.id)
        )
    ).scalar_one()
    return await get(conn, inspection_id)


def _shown(row: Any) -> dict[str, Any]:
    found = dict(row._mapping)
    found.pop("rank", None)
    unmet = [key for key in NETWORK_CONDITIONS if not found["findings"].get(key, False)]
    found["of"] = len(NETWORK_CONDITIONS)
    found["unmet"] = unmet
    found["unmet_zh"] = [NETWORK_CONDITIONS[key] for key in unmet]
    return found


async def get(conn: AsyncConnection, inspection_id: int) -> dict[str, Any]:
    row = (await conn.execute(select(inspections).where(inspections.c.id == inspection_id))).one_or_none()
    if row is None:
        raise NotFound(f"未找到检查记录 {inspection_id} / no inspection {inspection_id}")
    return _shown(row)


async def history(
    conn: AsyncConnection, township: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Latest inspection first (by the day inspected, then the order recorded)."""
    query = (
        select(inspections).order_by(inspections.c.inspected_on.desc(), inspections.c.id.desc()).limit(limit)
    )
    if township is not None:
        query = query.where(inspections.c.township == township)
    return [_shown(r) for r in await conn.execute(query)]


async def latest(conn: AsyncConnection, on: date | None = None) -> list[dict[str, Any]]:
    """Each township's latest inspection (on or before `on`), by township; those never inspected are
    not listed."""
    rank = (
        func.row_number()
        .over(
            partition_by=inspections.c.township,
            order_by=(inspections.c.inspected_on.desc(), inspections.c.id.desc()),
        )
        .label("rank")
    )
    ranked = select(inspections, rank)
    if on is not None:
        ranked = ranked.where(inspections.c.inspected_on <= on)
    sub = ranked.subquery()
    query = select(sub).where(sub.c.rank == 1).order_by(sub.c.township)
    return [_shown(r) for r in await conn.execute(query)]
