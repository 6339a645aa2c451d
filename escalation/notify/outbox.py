"""Deliver outbox rows: claim with a lease, send each message in its own task, record the outcome.

A message is one notification or a digest of several (escalation/notify/claims.py), within its
channel's rate budget (escalation/notify/budget.py).

A row is `pending` (next_attempt_at = when to try), `sending` (next_attempt_at = lease end: if the
process dies mid-send the row is claimed again after the lease), `sent` or `failed` (terminal,
next_attempt_at NULL). The outcome is written only after the receiver answered.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from alerting.clock import Clock
from alerting.errors import DeliveryError, PartialDelivery, PermanentDelivery, RetryableDelivery
from alerting.failpoints import NONE, Failpoints
from alerting.metrics import Metrics
from alerting.policy.channels import AnyChannel
from alerting.policy.model import Policy
from alerting.storage.engine import reading, write_lock
from alerting.storage.schema import notifications
from escalation.notify import ack_codes, budget, dispatch
from escalation.notify.claims import Batch, Claims, Member

log = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(seconds=2)
BACKOFF_CAP = timedelta(minutes=5)


def _by_attempts(members: list[Member]) -> dict[int, list[int]]:
    grouped: dict[int, list[int]] = {}
    for member in members:
        grouped.setdefault(member.attempts, []).append(member.id)
    return grouped


def backoff(
    attempts: int, retry_after: timedelta | None, jitter: Callable[[], float] = random.random
) -> timedelta:
    """Exponential backoff with jitter (half to full), never sooner than the receiver asked."""
    ceiling: timedelta = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(max(0, attempts - 1), 16))
    delay = ceiling * (0.5 + 0.5 * jitter())
    return max(delay, retry_after) if retry_after else delay


class Outbox:
    def __init__(
        self,
        engine: AsyncEngine,
        policy: Policy,
        clock: Clock,
        client: httpx.AsyncClient,
        metrics: Metrics,
        lease: timedelta,
        concurrency: int = 50,
        failpoints: Failpoints = NONE,
    ) -> None:
        self._engine = engine
        self._policy = policy
        self._clock = clock
        self._client = client
        self._metrics = metrics
        self._lease = lease
        self._failpoints = failpoints
        self._concurrency = concurrency
        self._claims = Claims(policy, lease)
        self._claims.deferred = lambda channel, rows: metrics.notifications_deferred.labels(
            channel=channel
        ).inc(rows)
        self._tasks: set[asyncio.Task[None]] = set()
        self.on_settled: Callable[[], None] = lambda: None

    async def tick(self, now: datetime) -> datetime | None:
        """Claim due rows and start sending them; return when the next row falls due."""
        free = self._concurrency - len(self._tasks)  # claim no more than can be sent now
        claimed = await self._claim(now, free) if free else []
        for batch in claimed:
            task = asyncio.create_task(self._deliver(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        async with reading(self._engine) as conn:
            return (
                await conn.execute(
                    select(notifications.c.next_attempt_at)
                    .where(notifications.c.next_attempt_at.is_not(None))
                    .order_by(notifications.c.next_attempt_at)
                    .limit(1)
                )
            ).scalar_one_or_none()

    async def _claim(self, now: datetime, limit: int) -> list[Batch]:
        async with write_lock(self._engine), self._engine.begin() as conn:
            return await self._claims.claim(conn, now, limit)

    async def _deliver(self, batch: Batch) -> None:
        channel = self._policy.channels.get(batch.channel)
        error: DeliveryError | None = None
        try:
            if channel is None:
                raise PermanentDelivery(f"channel {batch.channel!r} is no longer in the policy")
            payload = batch.payload
            if ack_codes.needs_codes(channel):  # cloud SMS: codes for the links, numbers settled
                payload = await ack_codes.with_ack_codes(
                    self._engine, batch.members[0].id, payload, self._clock.now()
                )
            sending = dispatch.send(self._client, channel, payload, batch.key, self._clock)
            if self._failpoints.armed("outbox.in_flight"):
                sending = self._crash_in_flight(sending)
            await sending
        except PartialDelivery as exc:  # the next attempt sends to the numbers still owed only
            await ack_codes.record_settled(self._engine, batch.members[0].id, exc.settled, self._clock.now())
            error = exc
        except DeliveryError as exc:
            error = exc
        except Exception as exc:  # a bug in an integration must not leave the rows leased forever
            log.exception("notification %s: unexpected error", batch.key)
            error = RetryableDelivery(f"internal error: {type(exc).__name__}")
        await self._record(batch, channel, error)
        self.on_settled()

    async def _crash_in_flight(self, sending: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(sending)
        await asyncio.sleep(0.2)  # the request reaches the receiver, the answer is still to come
        self._failpoints.hit("outbox.in_flight")
        await task

    async def _record(self, batch: Batch, channel: AnyChannel | None, error: DeliveryError | None) -> None:
        now = self._clock.now()
        max_attempts = channel.max_attempts if channel else 1
        outcomes: dict[str, list[Member]] = {"sent": [], "retry": [], "failed": []}
        for member in batch.members:
            if error is None:
                outcomes["sent"].append(member)
            elif isinstance(error, RetryableDelivery) and member.attempts < max_attempts:
                outcomes["retry"].append(member)
            else:
                outcomes["failed"].append(member)
        for member in outcomes["failed"]:
            log.error(
                "notification %s to channel %s failed for good after %d attempts: %s",
                member.id,
                batch.channel,
                member.attempts,
                error,
            )
        retry_at = None
        if error is not None:
            retry_at = now + backoff(
                max(m.attempts for m in batch.members), getattr(error, "retry_after", None)
            )
        async with write_lock(self._engine), self._engine.begin() as conn:
            for outcome, members in outcomes.items():
                if not members:
                    continue
                values = self._settled_values(outcome, now, error, retry_at)
                for attempts, ids in _by_attempts(members).items():
                    # Only the holder of this attempt may settle it (a lease may have expired meanwhile).
                    settled = await conn.execute(
                        notifications.update()
                        .where(
                            notifications.c.id.in_(ids),
                            notifications.c.attempts == attempts,
                            notifications.c.state == "sending",
                        )
                        .values(**values)
                    )
                    if outcome == "failed" and settled.rowcount:
                        for member in members:
                            if member.id in ids:
                                await self._fail_over(conn, batch.channel, member, now)
                self._metrics.notifications.labels(channel=batch.channel, outcome=outcome).inc(len(members))
            limits = channel.rate_limits if channel is not None else ()
            await budget.answered(conn, batch.channel, limits, batch.grant, now, error)

    @staticmethod
    def _settled_values(
        outcome: str, now: datetime, error: DeliveryError | None, retry_at: datetime | None
    ) -> dict[str, Any]:
        if outcome == "sent":
            return {"state": "sent", "sent_at": now, "next_attempt_at": None, "last_error": None}
        if outcome == "retry":
            return {"state": "pending", "last_error": str(error), "next_attempt_at": retry_at}
        return {"state": "failed", "last_error": str(error), "next_attempt_at": None}

    async def _fail_over(self, conn: AsyncConnection, channel: str, row: Member, now: datetime) -> None:
        """A notification that could not be delivered is itself an alert, through the fallback channels."""
        if row.payload.get("event") == "delivery_failed":
            return  # an alert about an alert that failed goes no further than the log
        fallbacks = [c for c in self._policy.delivery_failure_channels if c != channel]
        if not fallbacks:
            return
        text = f"【通知发送失败】经渠道 {channel} 的提醒未能送达，请人工联系：{row.payload.get('text', '')}"
        payload = {**row.payload, "event": "delivery_failed", "failed_channel": channel, "text": text}
        key = f"{row.key}:failover"
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        await conn.execute(
            dialect.insert(notifications).on_conflict_do_nothing(),
            [
                {
                    "escalation_id": row.escalation_id,
                    "incident_id": row.incident_id,
                    "channel": fallback,
                    "idempotency_key": key,
                    "payload": {**payload, "idempotency_key": key},
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for fallback in fallbacks
            ],
        )

    async def drain(self) -> None:
        """Wait for sends in flight (used at shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
