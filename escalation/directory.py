"""Who is who as firing reads it: a Directory built from the database (the shifts not yet over, the
posts' current holders, the officers' register, people's Feishu ids), kept until any of them
changes. Edits come from alerting.county.directory and the officers' register; a replica sees
another's edit at its next firing pass, without a restart."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.policy.model import Policy
from alerting.policy.roster import (
    Directory,
    OfficerTerm,
    Person,
    RosterPolicy,
    Shift,
    Township,
    phone_key,
)
from alerting.storage.schema import directory_changes, feishu_ids, officer_changes, officers, posts, shifts

COUNTY_POSTS = ("section_chief", "director", "fallback_duty_officer")  # township "" in `posts`
TOWNSHIP_POSTS = ("township_leader",)
# Firing resolves roles at the moment it fires; a shift over this long ago can no longer matter.
_PAST = timedelta(days=2)


async def revision(conn: AsyncConnection) -> tuple[int, int]:
    """Changes so far to the directory and to the officers' register: two index look-ups."""
    row = (
        await conn.execute(
            select(
                select(func.max(directory_changes.c.id)).scalar_subquery(),
                select(func.max(officer_changes.c.id)).scalar_subquery(),
            )
        )
    ).one()
    return row[0] or 0, row[1] or 0


async def current_posts(conn: AsyncConnection) -> dict[tuple[str, str], Person | None]:
    """Each post's holder now, by (role, township); None where the post was left vacant."""
    newest = select(func.max(posts.c.id)).group_by(posts.c.role, posts.c.township)
    rows = await conn.execute(select(posts).where(posts.c.id.in_(newest)))
    return {
        (r.role, r.township): Person(name=r.name, phone=r.phone) if r.name and r.phone else None for r in rows
    }


async def active_shifts(conn: AsyncConnection, since: datetime) -> list[Shift]:
    """Shifts not withdrawn that end after `since`, in the order the directory's precedence needs."""
    rows = await conn.execute(
        select(shifts)
        .where(shifts.c.withdrawn_by.is_(None), shifts.c.ends_at > since)
        .order_by(shifts.c.starts_at, shifts.c.id)
    )
    return [
        Shift(
            start=r.starts_at,
            end=r.ends_at,
            duty_officer=Person(name=r.duty_officer, phone=r.duty_officer_phone),
            leader_on_duty=Person(name=r.leader_on_duty, phone=r.leader_phone)
            if r.leader_on_duty and r.leader_phone
            else None,
        )
        for r in rows
    ]


async def current_feishu_ids(conn: AsyncConnection) -> dict[str, str | None]:
    """Each phone_key's Feishu id now; None where it was cleared."""
    newest = select(func.max(feishu_ids.c.id)).group_by(feishu_ids.c.phone)
    rows = await conn.execute(
        select(feishu_ids.c.phone, feishu_ids.c.feishu_user_id).where(feishu_ids.c.id.in_(newest))
    )
    return {r.phone: r.feishu_user_id for r in rows}


def policy_feishu_ids(policy: Policy) -> dict[str, str]:
    """The Feishu ids the policy's [roster] and [townships] give their people, by phone_key."""
    roster = policy.roster
    people = [roster.section_chief, roster.director, roster.fallback_duty_officer]
    people += [p for s in roster.shifts for p in (s.duty_officer, s.leader_on_duty)]
    people += [t.leader for t in policy.townships.values()]
    return {phone_key(p.phone): p.feishu_user_id for p in people if p is not None and p.feishu_user_id}


async def load(conn: AsyncConnection, policy: Policy, now: datetime) -> Directory:
    held = await current_posts(conn)
    roster = RosterPolicy(**{role: held.get((role, "")) for role in COUNTY_POSTS})
    leaders = {
        town: Township(leader=person)
        for (role, town), person in held.items()
        if role == "township_leader" and person is not None
    }
    terms: dict[str, list[OfficerTerm]] = defaultdict(list)
    for r in await conn.execute(select(officers)):
        terms[r.township].append(OfficerTerm(r.starts_on, r.ends_on, Person(name=r.name, phone=r.phone)))
    return Directory(
        roster,
        csv_shifts=await active_shifts(conn, now - _PAST),
        townships=leaders,
        officers=terms,
        tz=policy.tz,
        # Set at run time (alerting roster feishu-ids) over what the policy says.
        feishu_ids={**policy_feishu_ids(policy), **await current_feishu_ids(conn)},
    )


class DirectoryWatch:
    """The directory as of the last change seen; reloaded when the database has a newer one."""

    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        self._seen: tuple[int, int] | None = None
        self._directory: Directory | None = None

    async def current(self, conn: AsyncConnection, now: datetime) -> Directory:
        seen = await revision(conn)
        if self._directory is None or seen != self._seen:
            self._directory = await load(conn, self._policy, now)
            self._seen = seen
        return self._directory
