"""Claiming due notifications as messages to send: which rows go now, together, and within budget.

Due rows are locked (FOR UPDATE SKIP LOCKED on PostgreSQL; on SQLite the transaction holds the only
write lock). A channel that takes digests gets all its due rows packed into as few messages as its
size limit allows; a row that went out in a digest before goes again in the same digest. Each
message then needs a slot of the channel's rate budget: the messages that get one are marked
`sending` with a lease, the rows of the others wait (next_attempt_at) until a slot frees.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.policy.model import Policy
from alerting.storage.schema import notifications
from escalation.notify import budget, dispatch
from escalation.notify.digest import digest_key, digest_payload, pack

# How many more due rows of a digesting channel one claim reads: the members of its digests.
DIGEST_ROWS = 2000


@dataclass(frozen=True, slots=True)
class Member:
    """One notification row in a message."""

    id: int
    escalation_id: int
    incident_id: str | None
    key: str
    payload: dict[str, Any]
    attempts: int  # including this one


@dataclass(frozen=True, slots=True)
class Batch:
    """One message: a notification, or a digest of several."""

    channel: str
    members: tuple[Member, ...]
    digest_key: str | None
    grant: budget.Grant

    @property
    def key(self) -> str:
        return self.digest_key or self.members[0].key

    @property
    def payload(self) -> dict[str, Any]:
        if self.digest_key is None:
            return self.members[0].payload
        return digest_payload([m.payload for m in self.members], self.digest_key)


_COLUMNS = (
    notifications.c.id,
    notifications.c.escalation_id,
    notifications.c.incident_id,
    notifications.c.channel,
    notifications.c.idempotency_key,
    notifications.c.payload,
    notifications.c.attempts,
    notifications.c.digest_key,
)


class Claims:
    """Claims for one outbox; remembers which channels' slot rows exist already."""

    def __init__(self, policy: Policy, lease: timedelta) -> None:
        self._policy = policy
        self._lease = lease
        self._slotted: set[str] = set()
        self.deferred: Callable[[str, int], None] = lambda channel, rows: None

    async def claim(self, conn: AsyncConnection, now: datetime, free: int) -> list[Batch]:
        """At most `free` messages to send now, their rows marked sending."""
        rows = list(await conn.execute(self._due(conn, now, free)))
        digesting = {r.channel for r in rows if self._fits(r.channel) is not None}
        if digesting:
            more = self._due(conn, now, DIGEST_ROWS).where(
                notifications.c.channel.in_(digesting), notifications.c.id.not_in([r.id for r in rows])
            )
            rows += list(await conn.execute(more))
        by_channel: dict[str, list[Row[Any]]] = {}
        for row in rows:
            by_channel.setdefault(row.channel, []).append(row)
        batches: list[Batch] = []
        for channel, channel_rows in by_channel.items():
            groups = self._groups(channel, channel_rows)[: free - len(batches)]
            batches += await self._within_budget(conn, channel, groups, now)
        await self._mark_sending(conn, batches, now)
        return batches

    def _due(self, conn: AsyncConnection, now: datetime, limit: int) -> Any:
        query = (
            select(*_COLUMNS)
            .where(notifications.c.next_attempt_at.is_not(None), notifications.c.next_attempt_at <= now)
            .order_by(notifications.c.next_attempt_at, notifications.c.id)
            .limit(limit)
        )
        return query.with_for_update(skip_locked=True) if conn.dialect.name == "postgresql" else query

    def _fits(self, channel: str) -> Callable[[dict[str, Any]], bool] | None:
        configured = self._policy.channels.get(channel)
        return None if configured is None else dispatch.digest_fits(configured)

    def _groups(self, channel: str, rows: Sequence[Row[Any]]) -> list[tuple[str | None, list[Row[Any]]]]:
        """The messages the rows make, oldest first: earlier digests as they were, then new ones."""
        fits = self._fits(channel)
        earlier: dict[str, list[Row[Any]]] = {}
        loose: list[Row[Any]] = []
        for row in rows:
            if row.digest_key is not None:
                earlier.setdefault(row.digest_key, []).append(row)
            else:
                loose.append(row)
        groups: list[tuple[str | None, list[Row[Any]]]] = list(earlier.items())
        if fits is None:
            groups += [(None, [row]) for row in loose]
        else:
            for group in pack(loose, lambda r: r.payload, lambda r: r.idempotency_key, fits):
                key = digest_key(r.idempotency_key for r in group) if len(group) > 1 else None
                groups.append((key, group))
        return sorted(groups, key=lambda g: min(r.id for r in g[1]))

    async def _within_budget(
        self,
        conn: AsyncConnection,
        channel: str,
        groups: list[tuple[str | None, list[Row[Any]]]],
        now: datetime,
    ) -> list[Batch]:
        configured = self._policy.channels.get(channel)
        limits = configured.rate_limits if configured is not None else ()
        if limits and channel not in self._slotted:
            await budget.ensure_slots(conn, channel, limits)
            self._slotted.add(channel)
        grants, next_free = await budget.take(conn, channel, limits, len(groups), now, now + self._lease)
        waiting = [row.id for _key, group in groups[len(grants) :] for row in group]
        if waiting and next_free is not None:
            await conn.execute(
                notifications.update()
                .where(notifications.c.id.in_(waiting))
                .values(next_attempt_at=next_free)
            )
            self.deferred(channel, len(waiting))
        return [
            Batch(
                channel,
                tuple(
                    Member(r.id, r.escalation_id, r.incident_id, r.idempotency_key, r.payload, r.attempts + 1)
                    for r in group
                ),
                key,
                grant,
            )
            for (key, group), grant in zip(groups, grants, strict=False)
        ]

    async def _mark_sending(self, conn: AsyncConnection, batches: list[Batch], now: datetime) -> None:
        # One statement per digest (and one for the single notifications): the rows are ours until
        # commit, so none can change in between.
        by_key: dict[str | None, list[int]] = {}
        for batch in batches:
            by_key.setdefault(batch.digest_key, []).extend(m.id for m in batch.members)
        for key, ids in by_key.items():
            await conn.execute(
                notifications.update()
                .where(notifications.c.id.in_(ids))
                .values(
                    state="sending",
                    attempts=notifications.c.attempts + 1,
                    next_attempt_at=now + self._lease,
                    digest_key=key,
                )
            )
