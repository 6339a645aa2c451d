"""What the alert rules watch beyond the counters, sampled periodically by the component that owns
it: the outbox backlog (delivery), overdue deadlines and the roster's end (deadlines), consumer lag
(consumer); and the periodic verification of the accountability chain since its latest checkpoint,
recording the next checkpoint when it is intact (deadlines).

Only the process running a component samples for it, so in the merged exposition of the API and its
worker (alerting/metrics.py) each gauge has one source and the other process reports 0."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from alerting.accountability.checkpoints import latest_full_checkpoint_at, record_checkpoint
from alerting.accountability.verify import ChainReport, verify_chain
from alerting.clock import Clock, utc
from alerting.metrics import Metrics
from alerting.storage.directory_tables import shifts
from alerting.storage.engine import reading, write_lock
from alerting.storage.schema import deadlines, notifications
from consumers.lag import LagGauge
from escalation.wakeup import WakeupLoop

log = logging.getLogger(__name__)

# A deadline this far past its fire time and still not fired means firing is not running (the
# lateness histogram cannot show it: it observes only the rounds that did fire). Firing normally
# takes well under a second, a burst of 10,000 under a few.
OVERDUE_AFTER = timedelta(seconds=60)
# A verification that could not run (the database away) is tried again this soon, not a full interval.
VERIFY_RETRY = timedelta(minutes=5)


async def outbox_backlog(conn: AsyncConnection) -> dict[str, tuple[int, datetime]]:
    """channel -> (notifications not settled, the oldest one's creation time). Settled rows have no
    next_attempt_at, so this reads the indexed unsettled rows only."""
    query = (
        select(notifications.c.channel, func.count(), func.min(notifications.c.created_at))
        .where(notifications.c.next_attempt_at.is_not(None))
        .group_by(notifications.c.channel)
    )
    return {row[0]: (int(row[1]), utc(row[2])) for row in await conn.execute(query)}


async def overdue_deadlines(conn: AsyncConnection, now: datetime) -> int:
    """Deadlines whose fire time is over OVERDUE_AFTER ago (the partial index on fire_at)."""
    query = select(func.count()).where(
        deadlines.c.fire_at.is_not(None), deadlines.c.fire_at <= now - OVERDUE_AFTER
    )
    return int((await conn.execute(query)).scalar_one())


async def roster_end(conn: AsyncConnection) -> datetime | None:
    """The end of the last shift entered and not withdrawn (what escalation/roster_gap.py watches)."""
    query = select(func.max(shifts.c.ends_at)).where(shifts.c.withdrawn_by.is_(None))
    value = (await conn.execute(query)).scalar_one_or_none()
    return None if value is None else utc(value)


class Monitors:
    """The sampling loop and the chain verification loop of one process, for the components it runs."""

    def __init__(
        self,
        engine: AsyncEngine,
        metrics: Metrics,
        clock: Clock,
        *,
        channels: Iterable[str],
        sample_every: timedelta,
        verify_every: timedelta,
        lag: LagGauge | None = None,
    ) -> None:
        self._engine = engine
        self._metrics = metrics
        self._clock = clock
        self._channels = set(channels)  # every channel shows, 0 when it has nothing waiting
        self._sample_every = sample_every
        self._verify_every = verify_every
        self._lag = lag
        self._parts: frozenset[str] = frozenset()
        self.sampling = WakeupLoop("metrics sampling", clock, self.sample, sample_every)
        self.verification = WakeupLoop("chain verification", clock, self.verify, verify_every)

    def start(self, parts: frozenset[str]) -> list[asyncio.Task[None]]:
        """Start the loops `parts` (the components running here) need."""
        self._parts = parts
        for part in parts:
            self._metrics.component_running.labels(component=part).set(1)
        tasks = []
        if parts & {"consumer", "deadlines", "delivery"}:
            tasks.append(asyncio.create_task(self.sampling.run(), name="metrics sampling"))
        if "deadlines" in parts:  # one replica family verifies: the one that fires deadlines
            self._metrics.chain_interval.set(self._verify_every.total_seconds())
            tasks.append(asyncio.create_task(self.verification.run(), name="chain verification"))
        return tasks

    async def sample(self, now: datetime) -> datetime:
        """One round of samples; one that fails leaves its gauges as they were and the others go on."""
        steps: list[tuple[str, Callable[[datetime], Awaitable[None]]]] = []
        if "delivery" in self._parts:
            steps.append(("outbox", self._sample_outbox))
        if "deadlines" in self._parts:
            steps.append(("deadlines", self._sample_deadlines))
        if "consumer" in self._parts and self._lag is not None:
            steps.append(("consumer lag", self._sample_lag))
        for name, step in steps:
            try:
                await step(now)
            except Exception as exc:
                log.warning("sampling %s for the metrics failed (%s)", name, type(exc).__name__)
        return now + self._sample_every

    async def _sample_outbox(self, now: datetime) -> None:
        async with reading(self._engine) as conn:
            backlog = await outbox_backlog(conn)
        self._channels |= backlog.keys()
        for channel in self._channels:
            count, oldest = backlog.get(channel, (0, now))
            self._metrics.outbox_pending.labels(channel=channel).set(count)
            age = max(0.0, (now - oldest).total_seconds())
            self._metrics.outbox_oldest_age.labels(channel=channel).set(age)

    async def _sample_deadlines(self, now: datetime) -> None:
        async with reading(self._engine) as conn:
            overdue = await overdue_deadlines(conn, now)
            end = await roster_end(conn)
        self._metrics.deadlines_overdue.set(overdue)
        self._metrics.roster_covered_until.set(0 if end is None else end.timestamp())

    async def _sample_lag(self, _now: datetime) -> None:
        if self._lag is not None:
            await self._lag.sample()

    async def verify(self, now: datetime) -> datetime:
        """Verify the chain since its latest checkpoint (a full run while there is none; the hashing
        runs off the event loop, see verify_chain) and, when it is intact and reached entries past
        that checkpoint, record the next one. Full runs are `alerting audit verify`'s, scheduled."""
        started = time.monotonic()
        try:
            async with reading(self._engine) as conn:
                report = await verify_chain(conn, since_checkpoint=True)
            if _worth_recording(report):
                async with write_lock(self._engine), self._engine.begin() as conn:
                    recorded = await record_checkpoint(conn, report, self._clock.now())
                # The head in the log too: one more copy of it outside the database.
                log.info(
                    "校验检查点 / checkpoint %s: chain verified through entry %s, head %s",
                    recorded,
                    report.verified_through,
                    report.last_hash,
                )
            async with reading(self._engine) as conn:
                full_at = await latest_full_checkpoint_at(conn)
        except Exception as exc:
            log.warning("verifying the accountability chain failed (%s); trying again", type(exc).__name__)
            return now + min(self._verify_every, VERIFY_RETRY)
        if not report.intact:
            log.error(
                "账簿校验失败 / accountability chain verification failed at entry %s: %s",
                report.broken_at,
                report.problem,
            )
        self._metrics.chain_ok.set(1 if report.intact else 0)
        self._metrics.chain_full_verified_at.set(0 if full_at is None else full_at.timestamp())
        self._metrics.chain_entries.set(report.entries_checked)
        self._metrics.chain_seconds.set(time.monotonic() - started)
        self._metrics.chain_verified_at.set(self._clock.now().timestamp())
        return now + self._verify_every


def _worth_recording(report: ChainReport) -> bool:
    """Intact and past the checkpoint it started from: an idle log gets no checkpoint after checkpoint."""
    if not report.intact or report.verified_through is None:
        return False
    return report.checkpoint is None or report.verified_through > report.checkpoint
