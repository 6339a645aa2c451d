"""Composition root: builds every stage from settings and policy, starts and stops them in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

import httpx
from aiokafka import AIOKafkaProducer
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.accounts.sessions import Lifetime
from alerting.app.asgi import create_app
from alerting.app.monitoring import Monitors
from alerting.audit import bulletins
from alerting.audit.bulletins import bulletin_schedule
from alerting.clock import Clock, SystemClock
from alerting.county.directory import seed_from_policy
from alerting.errors import ConflictError, KafkaAccessError, SettingsError
from alerting.failpoints import Failpoints
from alerting.http.context import ServiceContext, WebConfig, WorkerLink
from alerting.links import AckLinks
from alerting.metrics import Metrics
from alerting.policy.calendar import month_of
from alerting.policy.model import Policy
from alerting.policy.roster import Directory
from alerting.producer_keys import encryption_key, service_key
from alerting.settings import Settings
from alerting.storage import keys
from alerting.storage.engine import create_engine, reading, write_lock
from alerting.storage.revision import prepare_schema
from alerting.storage.schema import deadlines
from alerting.tokens import TokenCache
from consumers.kafka_access import check_access
from consumers.lag import LagGauge
from consumers.loop import ReportConsumer
from consumers.publisher import ReportPublisher, make_producer
from consumers.topics import ensure_topics
from escalation import engine
from escalation.directory import DirectoryWatch
from escalation.duties import ensure_duties
from escalation.engine import Firing
from escalation.notify.outbox import Outbox
from escalation.wakeup import Backlog, WakeupLoop

log = logging.getLogger(__name__)

FIRE_BATCH = 1000  # a burst: fewer, larger transactions; one holds the SQLite writer ~0.1 s
# Batches fired at once on PostgreSQL: a batch that comes back full opens the next, so that during a
# burst one batch's Python work overlaps another's database work. They take different rows (SKIP
# LOCKED) and take turns at the accountability chain's tail. SQLite has one writer: one at a time.
FIRE_LANES = 2
# While a burst of due deadlines is still being written, delivery waits (up to this long): sends share
# the event loop (and on SQLite the writer) with firing, and the escalations are the record.
DELIVERY_HOLD = timedelta(seconds=5)


class Service:
    """One replica: intake API, consumer, deadline firing and notification delivery."""

    def __init__(
        self,
        settings: Settings,
        policy: Policy,
        clock: Clock | None = None,
        *,
        directory: Directory | None = None,
        links: AckLinks | None = None,
        worker: WorkerLink | None = None,
        process: str = "main",
        migrate: bool | None = None,
    ) -> None:
        """`directory` and `links` default to what the policy and settings say (see `build`); with
        `worker`, the other components run in that child process (settings.components is "api").
        `process` is "worker" in that child (it labels the process metrics). `migrate` defaults to
        ALERTING_MIGRATE_ON_START; false, start only checks the schema."""
        self.settings = settings
        self.migrate = settings.migrate_on_start if migrate is None else migrate
        self.policy = policy
        self.clock: Clock = clock or SystemClock()
        lease = timedelta(seconds=settings.send_lease_s)
        for name, channel in policy.channels.items():
            if channel.timeout >= lease:
                raise SettingsError(
                    f"channels.{name}.timeout ({channel.timeout}) must be shorter than "
                    f"ALERTING_SEND_LEASE_S ({settings.send_lease_s:g} s), or sends would overlap"
                )
        self.metrics = Metrics(process)
        self._serves_api = process == "main"  # the worker child serves health and metrics only
        self.database = settings.database()
        self.engine: AsyncEngine = create_engine(self.database)
        self.producer: AIOKafkaProducer = make_producer(settings)
        self.http = httpx.AsyncClient(follow_redirects=False)
        idle = timedelta(seconds=settings.sweep_interval_s)
        failpoints = Failpoints(settings.failpoints)
        self.outbox = Outbox(
            self.engine,
            policy,
            self.clock,
            self.http,
            self.metrics,
            lease=lease,
            failpoints=failpoints,
        )
        self.backlog = Backlog(DELIVERY_HOLD)
        self.delivery = WakeupLoop("delivery", self.clock, self._deliver_tick, idle)
        self.outbox.on_settled = self.delivery.poke
        # Who is who comes from the database (seeded from the policy at first start), unless given.
        self.firing = Firing(policy, directory or Directory(policy.roster, townships=policy.townships), links)
        self.directory = DirectoryWatch(policy) if directory is None else None
        self.deadlines = WakeupLoop("deadlines", self.clock, self._fire_tick, idle)
        self.consumer = ReportConsumer(
            settings,
            self.engine,
            policy,
            self.clock,
            self.producer,
            self.metrics,
            on_armed=self.deadlines.poke,
            failpoints=failpoints,
        )
        # The API's own writes arm deadlines too: wake the loop, in this process or in the worker's.
        on_armed = worker.poke if worker is not None else self.deadlines.poke
        self.context = ServiceContext(
            engine=self.engine,
            publisher=ReportPublisher(self.producer, settings.kafka_topic, settings.kafka_produce_timeout_s),
            clock=self.clock,
            metrics=self.metrics,
            kafka_ready=self.kafka_ready,
            links=lambda: self.firing.links,
            policy=policy,
            on_armed=on_armed,
            tokens=TokenCache(),
            worker=worker,
            http=self.http,
            intake_ok=(lambda: self.consumer.healthy) if "consumer" in settings.component_set() else None,
            web=WebConfig(
                Lifetime(
                    idle=timedelta(minutes=settings.session_idle_minutes),
                    absolute=timedelta(hours=settings.session_absolute_hours),
                ),
                secure_cookies=settings.secure_cookies(),
                form_key=lambda: self._form_key,
            ),
        )
        self.app: FastAPI = create_app(self.context)
        self.monitors = Monitors(
            self.engine,
            self.metrics,
            self.clock,
            channels=policy.channels,
            sample_every=timedelta(seconds=settings.metrics_sample_interval_s),
            verify_every=timedelta(seconds=settings.chain_verify_interval_s),
            lag=LagGauge(self.consumer.consumer, self.metrics),
        )
        self.scheduler = AsyncIOScheduler(timezone=policy.tz)
        self._tasks: list[asyncio.Task[None]] = []
        self._consuming: asyncio.Task[None] | None = None
        self._gauge_at: datetime | None = None
        self._duties_period: str | None = None  # duties are armed once per month per replica
        self._form_key: bytes | None = None  # signs the sign-in form's CSRF token, shared by replicas

    async def start(self) -> None:
        await prepare_schema(self.engine, self.database, self.migrate)
        async with write_lock(self.engine), self.engine.begin() as conn:
            if (stale := await seed_from_policy(conn, self.policy, self.clock.now())) is not None:
                log.warning(stale)
        if self.firing.links is None:
            self.firing = replace(self.firing, links=await self._ack_links())
        async with self.engine.begin() as conn:
            self._form_key = (await keys.load_or_create(conn, "web_form_secret")).encode()
        kek = await self._signing_key()
        # Wrong credentials, an untrusted certificate or a protocol mismatch stop start-up here,
        # naming the setting; the clients below would only retry or say "Unable to bootstrap".
        try:
            await check_access(self.settings)
        except KafkaAccessError:
            await self._close_unused()
            raise
        await self.producer.start()
        await ensure_topics(self.settings)
        parts = self.settings.component_set()
        if "consumer" in parts:
            await self.consumer.start(kek)
            self._consuming = asyncio.create_task(self.consumer.run(), name="consumer")
        if "deadlines" in parts:
            await self._start_deadlines()
        if "delivery" in parts:
            self._tasks.append(asyncio.create_task(self.delivery.run(), name="delivery"))
        self._tasks += self.monitors.start(parts | ({"api"} if self._serves_api else set()))
        log.info(
            "service started (%s): topic %s, group %s",
            ", ".join(sorted(parts)),
            self.settings.kafka_topic,
            self.settings.kafka_group_id,
        )

    async def _start_deadlines(self) -> None:
        await self.publish_bulletins()  # catch up on a quarter end the service slept through
        # A cron job, not a deadline: APScheduler's job store stays in memory, and a run missed
        # while down is made up by the call above (misfire_grace_time=None runs late ones anyway).
        self.scheduler.add_job(
            self.publish_bulletins,
            bulletin_schedule(self.policy.tz),
            id="bulletins",
            misfire_grace_time=None,
            coalesce=True,
            max_instances=1,
        )
        self.scheduler.start()
        # The first deadline tick fires whatever fell due while the service was down.
        self._tasks.append(asyncio.create_task(self.deadlines.run(), name="deadlines"))

    async def publish_bulletins(self) -> None:
        """Publish the quarterly bulletin and year-end ranking that are due and not yet published."""
        try:
            async with write_lock(self.engine), self.engine.begin() as conn:
                done = await bulletins.publish_due(conn, self.policy, self.clock.now())
        except ConflictError:
            return  # another replica published first
        if done:
            log.info("published bulletins: %s", ", ".join(done))

    async def stop(self) -> None:
        """Finish the batch in hand, commit, leave the group, then close everything."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.consumer.request_stop()
        if self._consuming is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._consuming), timeout=30)
            self._consuming.cancel()
            await asyncio.gather(self._consuming, return_exceptions=True)
        await self.consumer.stop()  # built in __init__ even where it never ran: close its client
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.outbox.drain()
        await self.producer.stop()
        await self.http.aclose()
        await self.engine.dispose()
        self._tasks.clear()

    async def _close_unused(self) -> None:
        """Start-up stopped before anything ran: release what __init__ opened (quietly: aiokafka
        warns about clients never closed)."""
        await self.producer.stop()
        await self.consumer.consumer.stop()
        await self.http.aclose()
        await self.engine.dispose()

    async def _ack_links(self) -> AckLinks:
        secret = self.settings.link_secret
        if secret is not None:
            key = secret.get_secret_value()
        else:
            async with self.engine.begin() as conn:
                key = await keys.load_or_create(conn, "ack_link_secret")
        return AckLinks(key.encode(), self.settings.link_base(), self.policy.ack_link_ttl)

    async def _signing_key(self) -> bytes:
        """Give the publisher the service's own key; return the key-encryption key."""
        configured = self.settings.key_encryption_key
        if configured is None:
            log.warning(
                "ALERTING_KEY_ENCRYPTION_KEY is unset: producer keys are encrypted under a key the "
                "database holds; set it where the database is shared or backed up"
            )
        async with self.engine.begin() as conn:
            kek = await encryption_key(conn, configured)
            self.context.publisher.key = await service_key(conn, kek, self.clock.now())
        return kek

    async def kafka_ready(self) -> bool:
        try:
            async with asyncio.timeout(2):
                await self.producer.client.fetch_all_metadata()
            return True
        except Exception:
            return False

    async def _fire_tick(self, now: datetime) -> datetime | None:
        most = FIRE_LANES if self.engine.dialect.name == "postgresql" else 1
        lanes: list[asyncio.Task[list[engine.Fired]]] = []

        def open_lane() -> None:  # called by a lane whose batch came back full
            if len(lanes) < most:
                lanes.append(asyncio.create_task(self._fire_batch(now, len(lanes), open_lane)))

        open_lane()
        try:
            while running := [lane for lane in lanes if not lane.done()]:
                await asyncio.wait(running)  # a lane may open another meanwhile
        except asyncio.CancelledError:  # stopping: the lanes roll back, as one batch would
            for lane in lanes:
                lane.cancel()
            await asyncio.gather(*lanes, return_exceptions=True)
            raise
        failures = [error for lane in lanes if (error := lane.exception()) is not None]
        batches = [lane.result() for lane in lanes if lane.exception() is None]
        fired = [item for batch in batches for item in batch]
        for kind, count in Counter(item.kind.value for item in fired).items():
            self.metrics.escalations.labels(kind=kind).inc(count)
        for item in fired:
            self.metrics.firing_lateness.observe((now - item.scheduled_for).total_seconds())
        if failures:
            raise failures[0]  # what the other lanes committed is counted above
        behind = any(len(batch) == FIRE_BATCH for batch in batches)
        self.backlog.note(behind, now)
        if not behind and fired:
            self.delivery.poke()
        await self._refresh_gauge(now)
        if behind:
            return now
        async with reading(self.engine) as conn:
            return await engine.next_fire_at(conn)

    async def _fire_batch(self, now: datetime, lane: int, on_full: Callable[[], None]) -> list[engine.Fired]:
        armed: str | None = None
        async with write_lock(self.engine), self.engine.begin() as conn:
            if lane == 0 and self._duties_period != (period := month_of(now, self.policy.tz).key):
                await ensure_duties(conn, self.policy, now)
                armed = period
            if self.directory is not None:  # an edit made since the last pass takes effect now
                self.firing = replace(self.firing, directory=await self.directory.current(conn, now))
            fired = await engine.fire_due(conn, self.firing, now, FIRE_BATCH, on_full)
        if armed is not None:  # only once committed: a tick that rolled back arms them again
            self._duties_period = armed
        return fired

    async def _deliver_tick(self, now: datetime) -> datetime | None:
        if (until := self.backlog.hold_until(now)) is not None:
            return until  # or sooner: firing pokes delivery once it has caught up
        return await self.outbox.tick(now)

    async def _refresh_gauge(self, now: datetime) -> None:
        if self._gauge_at and now - self._gauge_at < timedelta(seconds=15):
            return
        self._gauge_at = now
        async with reading(self.engine) as conn:
            pending = (
                await conn.execute(select(func.count()).where(deadlines.c.fire_at.is_not(None)))
            ).scalar_one()
        self.metrics.deadlines_pending.set(pending)
