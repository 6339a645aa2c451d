"""A channel's rate budget in the database, so every replica keeps the provider's limit together.

Each RateLimit of a channel owns `count` rows of `channel_slots`. A message may go when, for every
limit, a slot is free: its used_at is NULL or at least `per` ago. Taking a slot sets used_at to the
end of the send's lease (nobody can take it meanwhile, and a crashed sender's slot stays spent);
settling sets it to the time the answer came, which is after the provider counted the message. So
two messages through one slot are at least `per` apart as the provider sees them, whatever the
network took. What finds no slot is not dropped: it waits until one frees.

On PostgreSQL slots are claimed FOR UPDATE SKIP LOCKED, so replicas take different slots at once;
on SQLite the claiming transaction holds the only write lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from alerting.errors import DeliveryError, Throttled
from alerting.policy.rates import RateLimit
from alerting.storage.schema import channel_slots

# When slots are locked by another replica, their free time is unknown here: look again soon.
RECHECK = timedelta(seconds=1)
# A rate refusal without a Retry-After holds the channel this long (WeCom counts by the minute).
THROTTLE_HOLD = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Grant:
    """The slots one message holds: a (rule, slot) per limit of its channel; () when unlimited."""

    slots: tuple[tuple[str, int], ...] = ()


async def ensure_slots(conn: AsyncConnection, channel: str, limits: Sequence[RateLimit]) -> None:
    """Create the channel's slot rows that do not exist yet (idempotent, safe between replicas)."""
    rows = [
        {"channel": channel, "rule": limit.rule, "slot": n, "used_at": None}
        for limit in limits
        for n in range(limit.count)
    ]
    if rows:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        await conn.execute(dialect.insert(channel_slots).on_conflict_do_nothing(), rows)


def _free(channel: str, limit: RateLimit, now: datetime) -> ColumnElement[bool]:
    return and_(
        channel_slots.c.channel == channel,
        channel_slots.c.rule == limit.rule,
        channel_slots.c.slot < limit.count,
        or_(channel_slots.c.used_at.is_(None), channel_slots.c.used_at <= now - limit.per),
    )


async def take(
    conn: AsyncConnection,
    channel: str,
    limits: Sequence[RateLimit],
    wanted: int,
    now: datetime,
    hold_until: datetime,
) -> tuple[list[Grant], datetime | None]:
    """Up to `wanted` grants, each reserved until `hold_until`; and, when fewer than wanted, when
    the next slot frees (None when all were granted)."""
    if not limits:
        return [Grant() for _ in range(wanted)], None
    if wanted <= 0:
        return [], None
    free: list[list[int]] = []
    for limit in limits:
        query = (
            select(channel_slots.c.slot)
            .where(_free(channel, limit, now))
            .order_by(channel_slots.c.used_at.nulls_first(), channel_slots.c.slot)
            .limit(wanted)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        free.append(list((await conn.execute(query)).scalars()))
    granted = min(len(slots) for slots in free)
    for limit, slots in zip(limits, free, strict=True):
        if granted:
            await conn.execute(
                channel_slots.update()
                .where(
                    channel_slots.c.channel == channel,
                    channel_slots.c.rule == limit.rule,
                    channel_slots.c.slot.in_(slots[:granted]),
                )
                .values(used_at=hold_until)
            )
    grants = [
        Grant(tuple((limit.rule, slots[n]) for limit, slots in zip(limits, free, strict=True)))
        for n in range(granted)
    ]
    if granted == wanted:
        return grants, None
    return grants, await _next_free(
        conn, channel, [lim for lim, s in zip(limits, free, strict=True) if len(s) == granted], now
    )


async def _next_free(
    conn: AsyncConnection, channel: str, binding: Sequence[RateLimit], now: datetime
) -> datetime:
    """When the binding limits may next have a slot free (the latest of their earliest). A slot
    still reserved by a send in flight counts as if answered now: its answer comes no earlier, so
    this is a lower bound, and a row that looks then and finds none waits again."""
    when = now + RECHECK
    for limit in binding:
        used = (
            await conn.execute(
                select(channel_slots.c.used_at).where(
                    channel_slots.c.channel == channel,
                    channel_slots.c.rule == limit.rule,
                    channel_slots.c.slot < limit.count,
                )
            )
        ).scalars()
        earliest = min((min(at, now) for at in used if at is not None), default=None)
        if earliest is not None:
            when = max(when, earliest + limit.per)
    return when


async def settle(conn: AsyncConnection, channel: str, grant: Grant, answered_at: datetime) -> None:
    """The message's answer came at `answered_at`: its slots count from then."""
    if grant.slots:
        await conn.execute(
            channel_slots.update()
            .where(
                channel_slots.c.channel == channel,
                tuple_(channel_slots.c.rule, channel_slots.c.slot).in_(grant.slots),
            )
            .values(used_at=answered_at)
        )


async def answered(
    conn: AsyncConnection,
    channel: str,
    limits: Sequence[RateLimit],
    grant: Grant,
    at: datetime,
    error: DeliveryError | None,
) -> None:
    """The answer to a message came `at`: its slots count from then, and a rate refusal (Throttled)
    holds the whole channel for the provider's window."""
    await settle(conn, channel, grant, at)
    if isinstance(error, Throttled):
        await hold(conn, channel, limits, at + (error.retry_after or THROTTLE_HOLD))


async def hold(conn: AsyncConnection, channel: str, limits: Sequence[RateLimit], until: datetime) -> None:
    """The provider refused for rate (someone else shares the robot, or its clock differs): no slot
    of the channel frees before `until`."""
    for limit in limits:
        await conn.execute(
            channel_slots.update()
            .where(
                channel_slots.c.channel == channel,
                channel_slots.c.rule == limit.rule,
                or_(channel_slots.c.used_at.is_(None), channel_slots.c.used_at < until - limit.per),
            )
            .values(used_at=until - limit.per)
        )
