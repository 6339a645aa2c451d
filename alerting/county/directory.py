"""The directory as the county's office keeps it: the duty roster (值班表), the fixed posts (信息科负责人,
县委办主任, the office's duty phone), and each township's leader, changed at run time.

Every act writes a `directory_changes` row (who, when, why, what) and nothing is overwritten: a
shift is withdrawn, not deleted; a post gets a new holder row. Firing sees the change at its next
pass (escalation/directory.py). The policy's [roster] and [townships] seed an empty database at
first start; after that the database is what counts. Each change re-arms the reminder for a roster
about to run out (escalation/roster_gap.py).
"""

from __future__ import annotations

import hashlib
import json
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.errors import ConflictError, NotFound, UnknownTownship
from alerting.policy.model import Policy
from alerting.policy.roster import ROLES, Person, Shift
from alerting.storage.schema import directory_changes, posts, shifts
from escalation import roster_gap
from escalation.directory import COUNTY_POSTS, TOWNSHIP_POSTS, DirectoryWatch, current_posts, load

POSTS = (*COUNTY_POSTS, *TOWNSHIP_POSTS)
POST_ZH = {**ROLES, "fallback_duty_officer": "总值班电话（无人排班时）"}
ACTION_ZH = {
    "seeded": "由策略文件初始化",
    "shift_added": "新增班次",
    "shift_withdrawn": "撤销班次",
    "imported": "导入值班表",
    "post_set": "设置岗位",
    "feishu_ids_set": "设置飞书 ID",
}


@dataclass(frozen=True, slots=True)
class Imported:
    change_id: int
    added: int
    replaced: int  # active shifts inside the imported span, withdrawn by it
    starts_at: datetime
    ends_at: datetime


def policy_fingerprint(policy: Policy) -> str:
    """What the policy says of the directory, hashed: whether it changed since it seeded the database."""
    said = {
        "shifts": [s.model_dump(mode="json") for s in policy.roster.shifts],
        "posts": {
            r: getattr(policy.roster, r) and getattr(policy.roster, r).model_dump() for r in COUNTY_POSTS
        },
        "leaders": {t: entry.leader.model_dump() for t, entry in sorted(policy.townships.items())},
    }
    return hashlib.sha256(json.dumps(said, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


async def record_change(
    conn: AsyncConnection, action: str, by: str, note: str, details: dict[str, Any], now: datetime
) -> int:
    change_id: int = (
        await conn.execute(
            directory_changes.insert()
            .values(action=action, by=by, at=now, note=note, details=details)
            .returning(directory_changes.c.id)
        )
    ).scalar_one()
    return change_id


def _shift_row(shift: Shift, source: str, change_id: int) -> dict[str, Any]:
    leader = shift.leader_on_duty
    return {
        "starts_at": shift.start,
        "ends_at": shift.end,
        "duty_officer": shift.duty_officer.name,
        "duty_officer_phone": shift.duty_officer.phone,
        "leader_on_duty": leader.name if leader else None,
        "leader_phone": leader.phone if leader else None,
        "source": source,
        "change_id": change_id,
        "withdrawn_by": None,
    }


def _post_row(role: str, township: str, person: Person | None, change_id: int) -> dict[str, Any]:
    return {
        "role": role,
        "township": township,
        "name": person.name if person else None,
        "phone": person.phone if person else None,
        "change_id": change_id,
    }


async def seed_from_policy(conn: AsyncConnection, policy: Policy, now: datetime) -> str | None:
    """At first start, copy the policy's roster, posts and leaders in. Later, say (in the returned
    text) if the policy now differs from what it seeded: the database's directory stays in effect."""
    if conn.dialect.name == "postgresql":  # replicas starting together: one seeds, the others see it
        # An advisory lock, not LOCK TABLE: that needs UPDATE or DELETE on directory_changes, which
        # the service's role does not have (the table is append-only; alerting/storage/grants.py).
        await conn.execute(text("SELECT pg_advisory_xact_lock(7281002)"))
    last = (
        await conn.execute(
            select(directory_changes.c.details, directory_changes.c.at)
            .where(directory_changes.c.action == "seeded")
            .order_by(directory_changes.c.id.desc())
            .limit(1)
        )
    ).first()
    fingerprint = policy_fingerprint(policy)
    if last is not None:
        if last.details.get("fingerprint") == fingerprint:
            return None
        return (
            f"the policy's [roster]/[townships] differ from what seeded the directory on {last.at:%Y-%m-%d}; "
            "the database's directory is in effect: change it with `alerting roster import`, "
            "`alerting post set` or /api/v1/directory"
        )
    held = [(r, "", getattr(policy.roster, r)) for r in COUNTY_POSTS if getattr(policy.roster, r)]
    held += [("township_leader", t, entry.leader) for t, entry in policy.townships.items()]
    details = {"fingerprint": fingerprint, "shifts": len(policy.roster.shifts), "posts": len(held)}
    change = await record_change(
        conn, "seeded", "policy", "由策略文件初始化 / seeded from the policy", details, now
    )
    if policy.roster.shifts:
        await conn.execute(shifts.insert(), [_shift_row(s, "policy", change) for s in policy.roster.shifts])
    if held:
        await conn.execute(posts.insert(), [_post_row(role, town, p, change) for role, town, p in held])
    await roster_gap.after_change(conn, policy, now)
    return None


async def add_shift(
    conn: AsyncConnection, policy: Policy, shift: Shift, by: str, note: str, source: str, now: datetime
) -> dict[str, Any]:
    """Add one shift (a swap or an extra shift: it wins over the shifts it overlaps that started before)."""
    change = await record_change(conn, "shift_added", by, note, {"starts_at": shift.start.isoformat()}, now)
    shift_id = (
        await conn.execute(shifts.insert().values(_shift_row(shift, source, change)).returning(shifts.c.id))
    ).scalar_one()
    await roster_gap.after_change(conn, policy, now)
    return await get_shift(conn, shift_id)


async def import_shifts(
    conn: AsyncConnection,
    policy: Policy,
    new: Sequence[Shift],
    by: str,
    note: str,
    source: str,
    now: datetime,
) -> Imported:
    """Import the office's roster: its shifts replace the active ones lying wholly inside its span
    (re-importing a corrected month replaces that month), and the shifts outside it stay."""
    if not new:
        raise ConflictError("值班表中没有班次 / the roster holds no shift")
    start, end = min(s.start for s in new), max(s.end for s in new)
    inside = (shifts.c.withdrawn_by.is_(None), shifts.c.starts_at >= start, shifts.c.ends_at <= end)
    replaced = (await conn.execute(select(func.count()).where(*inside))).scalar_one()
    details = {"added": len(new), "replaced": replaced, "from": start.isoformat(), "to": end.isoformat()}
    change = await record_change(conn, "imported", by, note, details, now)
    await conn.execute(shifts.update().where(*inside).values(withdrawn_by=change))
    await conn.execute(shifts.insert(), [_shift_row(s, source, change) for s in new])
    await roster_gap.after_change(conn, policy, now)
    return Imported(change, len(new), replaced, start, end)


async def withdraw_shift(
    conn: AsyncConnection, policy: Policy, shift_id: int, by: str, note: str, now: datetime
) -> dict[str, Any]:
    found = await get_shift(conn, shift_id)
    if found["withdrawn_by"] is not None:
        raise ConflictError(
            f"班次 {shift_id} 已于变更 {found['withdrawn_by']} 撤销 / shift {shift_id} was already withdrawn"
        )
    change = await record_change(conn, "shift_withdrawn", by, note, {"shift_id": shift_id}, now)
    await conn.execute(shifts.update().where(shifts.c.id == shift_id).values(withdrawn_by=change))
    await roster_gap.after_change(conn, policy, now)
    return await get_shift(conn, shift_id)


async def set_post(
    conn: AsyncConnection,
    policy: Policy,
    role: str,
    township: str | None,
    person: Person | None,
    by: str,
    note: str,
    now: datetime,
) -> dict[str, Any]:
    """Give a post a new holder (None leaves it vacant) from now on; the old holder stays in history."""
    if role not in POSTS:
        raise NotFound(
            f"没有岗位 {role}，可选：{'、'.join(POSTS)} / no post {role}; posts are {', '.join(POSTS)}"
        )
    if role in TOWNSHIP_POSTS:
        if not township or not policy.in_directory(township):
            raise UnknownTownship(
                f"{township or '（未填）'} 不在乡镇名录中，可选：{'、'.join(policy.townships)} / "
                "not in the township directory"
            )
    elif township:
        raise ConflictError(f"{role} 是县级岗位，不属于乡镇 / {role} is a county post: give no township")
    town = township or ""
    details = {"role": role, "township": town, "vacant": person is None}
    change = await record_change(conn, "post_set", by, note, details, now)
    await conn.execute(posts.insert().values(_post_row(role, town, person, change)))
    return {
        "role": role,
        "township": town or None,
        "holder": person.model_dump() if person else None,
        "change_id": change,
        "set_at": now.isoformat(),
        "set_by": by,
    }


async def get_shift(conn: AsyncConnection, shift_id: int) -> dict[str, Any]:
    row = (await conn.execute(select(shifts).where(shifts.c.id == shift_id))).first()
    if row is None:
        raise NotFound(f"没有班次 {shift_id} / no shift {shift_id}")
    return _shift_view(row)


def _shift_view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "starts_at": row.starts_at.isoformat(),
        "ends_at": row.ends_at.isoformat(),
        "duty_officer": {"name": row.duty_officer, "phone": row.duty_officer_phone},
        "leader_on_duty": {"name": row.leader_on_duty, "phone": row.leader_phone}
        if row.leader_on_duty
        else None,
        "source": row.source,
        "change_id": row.change_id,
        "withdrawn_by": row.withdrawn_by,
    }


async def list_shifts(
    conn: AsyncConnection, start: datetime, end: datetime, *, withdrawn: bool = False
) -> list[dict[str, Any]]:
    """Shifts overlapping [start, end), by start; with `withdrawn`, the withdrawn ones too."""
    query = select(shifts).where(shifts.c.starts_at < end, shifts.c.ends_at > start)
    if not withdrawn:
        query = query.where(shifts.c.withdrawn_by.is_(None))
    return [_shift_view(r) for r in await conn.execute(query.order_by(shifts.c.starts_at, shifts.c.id))]


async def list_posts(conn: AsyncConnection, policy: Policy) -> list[dict[str, Any]]:
    """Every post, held or not: the county's, then each township's leader."""
    held = await current_posts(conn)
    slots = [(r, "") for r in COUNTY_POSTS] + [("township_leader", t) for t in policy.townships]
    slots += sorted(k for k in held if k not in slots)
    return [
        {
            "role": role,
            "post": POST_ZH[role],
            "township": town or None,
            "holder": person.model_dump() if (person := held.get((role, town))) else None,
        }
        for role, town in slots
    ]


async def changes(conn: AsyncConnection, limit: int = 100, before: int | None = None) -> list[dict[str, Any]]:
    """The directory's history, newest first (keyset by id)."""
    query = select(directory_changes).order_by(directory_changes.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(directory_changes.c.id < before)
    return [
        {
            "id": r.id,
            "action": r.action,
            "action_zh": ACTION_ZH.get(r.action, r.action),
            "by": r.by,
            "at": r.at.isoformat(),
            "note": r.note,
            "details": r.details,
        }
        for r in await conn.execute(query)
    ]


# Boards ask who is on duty on every refresh: the directory is kept per database until it changes.
_WATCHES: weakref.WeakKeyDictionary[Any, DirectoryWatch] = weakref.WeakKeyDictionary()


async def on_duty(
    conn: AsyncConnection, policy: Policy, at: datetime, township: str | None, *, present: bool = False
) -> dict[str, Any]:
    """Who an escalation at `at` would reach in each role (a township's roles with `township`).
    With `present` (`at` is now), the directory is the one kept until the next change."""
    roles = ["duty_officer", "leader_on_duty", "section_chief", "director"]
    if township:
        roles += ["township_leader", "township_officer"]
    if present:
        watch = _WATCHES.setdefault(conn.sync_engine, DirectoryWatch(policy))
        found = await watch.current(conn, at)
    else:
        found = await load(conn, policy, at)
    people, unfilled = found.resolve(roles, at, township)
    return {
        "at": at.isoformat(),
        "township": township,
        "holders": [
            {"role": p.role, "post": POST_ZH[p.role], "name": p.name, "phone": p.phone} for p in people
        ],
        "unfilled": unfilled,
    }
