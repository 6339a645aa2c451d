"""The gauges the alert rules watch, sampled from real parts: the outbox and deadline tables of a real
database, the accountability chain, a real broker's offsets, the running service's /metrics. Time
moves on the fake clock; the sampling loop wakes when it passes the interval."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.accountability.append import append
from alerting.accountability.chain import NewEntry
from alerting.accountability.verify import verify_chain
from alerting.app.monitoring import Monitors
from alerting.clock import FakeClock
from alerting.county.directory import seed_from_policy
from alerting.domain import DeadlineKind, DeadlineState, EntryKind, Role
from alerting.metrics import Metrics
from alerting.storage.schema import accountability_entries, deadlines, notifications
from consumers.lag import LagGauge
from consumers.topics import ensure_topics
from tests.conftest import PG_PORT
from tests.e2e.test_slice import post_report
from tests.storage.test_verify import behind_the_back, stored, write_chain
from tests.support import (
    due_notification,
    eventually,
    example_policy,
    fired_escalation,
    migrated_engine,
    receiver,
    report_body,
    running_service,
    service_settings,
)

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
EVERY = timedelta(seconds=15)


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


@asynccontextmanager
async def monitoring(
    engine: AsyncEngine, clock: FakeClock, parts: set[str], channels: tuple[str, ...] = ()
) -> AsyncIterator[tuple[Monitors, Metrics]]:
    """The monitors of a process running `parts`, their loops started on `clock`."""
    metrics = Metrics("worker")
    monitors = Monitors(
        engine, metrics, clock, channels=channels, sample_every=EVERY, verify_every=timedelta(hours=6)
    )
    tasks = monitors.start(frozenset(parts))
    try:
        yield monitors, metrics
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def sampled(monitors: Monitors, rounds: int) -> None:
    await eventually(lambda: monitors.sampling.ticks >= rounds, f"sampling round {rounds}")


async def test_delivery_samples_the_outbox_backlog_per_channel_and_its_oldest_age(database_url: str) -> None:
    clock = FakeClock(T0)
    async with migrated_engine(database_url) as engine:
        async with engine.begin() as conn:
            escalation = await fired_escalation(
                conn, DeadlineKind.SILENCE_REMINDER, "p", T0, ["duty_officer"]
            )
            waiting = [
                due_notification(escalation, "wecom", f"w{n}", {"text": "t"}, T0 - timedelta(minutes=10 - n))
                for n in range(3)
            ]
            sent = due_notification(escalation, "wecom", "old", {"text": "t"}, T0 - timedelta(days=2))
            sent.update(state="sent", next_attempt_at=None, sent_at=T0 - timedelta(days=2))
            failed = due_notification(escalation, "sms", "gone", {"text": "t"}, T0 - timedelta(days=1))
            failed.update(state="failed", next_attempt_at=None)
            in_flight = {
                **due_notification(escalation, "sms", "s1", {"text": "t"}, T0 - timedelta(seconds=40))
            }
            in_flight.update(state="sending", next_attempt_at=T0 + timedelta(seconds=20), attempts=1)
            await conn.execute(notifications.insert(), [*waiting, sent, failed, in_flight])

        async with monitoring(engine, clock, {"delivery"}, channels=("hook", "wecom")) as (monitors, m):
            await sampled(monitors, 1)
            assert value(m, "alerting_outbox_pending", channel="wecom") == 3  # the sent one is done
            assert value(m, "alerting_outbox_oldest_pending_age_seconds", channel="wecom") == 600
            assert value(m, "alerting_outbox_pending", channel="sms") == 1  # in flight, not failed
            assert value(m, "alerting_outbox_oldest_pending_age_seconds", channel="sms") == 40
            assert value(m, "alerting_outbox_pending", channel="hook") == 0  # a quiet channel shows 0
            assert value(m, "alerting_outbox_oldest_pending_age_seconds", channel="hook") == 0
            # Delivery samples nothing of the other components.
            assert value(m, "alerting_deadlines_overdue") == 0
            assert value(m, "alerting_component_running", component="delivery") == 1
            assert value(m, "alerting_component_running", component="deadlines") is None

            async with engine.begin() as conn:  # the two oldest go out
                await conn.execute(
                    notifications.update()
                    .where(notifications.c.idempotency_key.in_(["w0", "w1"]))
                    .values(state="sent", next_attempt_at=None)
                )
            await clock.advance(EVERY - timedelta(seconds=1))
            await asyncio.sleep(0.1)
            assert monitors.sampling.ticks == 1  # not before the interval has passed
            await clock.advance(timedelta(seconds=1))
            await sampled(monitors, 2)
            assert value(m, "alerting_outbox_pending", channel="wecom") == 1
            assert value(m, "alerting_outbox_oldest_pending_age_seconds", channel="wecom") == 8 * 60 + 15


async def _deadline(engine: AsyncEngine, period: str, fire_at: datetime | None) -> None:
    state = DeadlineState.PENDING if fire_at is not None else DeadlineState.EXHAUSTED
    async with engine.begin() as conn:
        await conn.execute(
            deadlines.insert().values(
                township="城关镇",
                kind=DeadlineKind.SILENCE_REMINDER.value,
                period=period,
                due_at=fire_at or T0 - timedelta(days=3),
                state=state.value,
                fire_at=fire_at,
                next_round=0,
                created_at=T0 - timedelta(days=3),
            )
        )


async def test_deadlines_samples_overdue_unfired_deadlines_and_the_rosters_end(database_url: str) -> None:
    clock = FakeClock(T0)
    policy = example_policy("http://127.0.0.1:9/hook")
    async with migrated_engine(database_url) as engine:
        await _deadline(engine, "two minutes overdue", T0 - timedelta(minutes=2))
        await _deadline(engine, "half a minute overdue", T0 - timedelta(seconds=30))
        await _deadline(engine, "settled long ago", None)
        await _deadline(engine, "due later", T0 + timedelta(hours=1))
        async with monitoring(engine, clock, {"deadlines"}) as (monitors, m):
            await sampled(monitors, 1)
            assert value(m, "alerting_deadlines_overdue") == 1  # within a minute counts as firing
            assert value(m, "alerting_roster_covered_until_timestamp_seconds") == 0  # no shift entered
            assert value(m, "alerting_outbox_pending", channel="hook") is None  # delivery's, not here

            async with engine.begin() as conn:
                await seed_from_policy(conn, policy, clock.now())
            await clock.advance(EVERY * 2)
            await sampled(monitors, 2)
            assert value(m, "alerting_deadlines_overdue") == 2  # the second one now too
            last_end = max(shift.end for shift in policy.roster.shifts)
            assert value(m, "alerting_roster_covered_until_timestamp_seconds") == last_end.timestamp()


async def test_the_deadlines_component_verifies_the_chain_at_start_and_every_interval(
    database_url: str,
) -> None:
    """From the latest checkpoint on (a full run while there is none), recording the next checkpoint
    when there was something new to verify: an edit after the checkpoint is caught at the next
    interval, one before it only by a full run (`alerting audit verify`, scheduled)."""
    clock = FakeClock(T0)
    async with migrated_engine(database_url) as engine:
        rows = await write_chain(engine)
        async with monitoring(engine, clock, {"deadlines"}) as (monitors, m):
            await eventually(lambda: monitors.verification.ticks >= 1, "the first verification")
            assert value(m, "alerting_chain_verification_ok") == 1
            assert value(m, "alerting_chain_verification_entries") == len(rows)
            assert value(m, "alerting_chain_verification_last_timestamp_seconds") == T0.timestamp()
            assert (value(m, "alerting_chain_verification_duration_seconds") or 0) > 0
            assert value(m, "alerting_chain_verification_interval_seconds") == 6 * 3600
            # No checkpoint yet, so that was a full run, and its checkpoint is the newest entry.
            assert value(m, "alerting_chain_full_verification_last_timestamp_seconds") == T0.timestamp()
            checkpoint = (await stored(engine))[-1]
            assert (checkpoint.id, checkpoint.kind, checkpoint.township, checkpoint.responsible) == (
                rows[-1].id + 1,
                "checkpoint",
                None,
                "system",
            )
            assert (checkpoint.occurred_at, checkpoint.recorded_at, checkpoint.prev_hash) == (
                T0,
                T0,
                rows[-1].hash,
            )
            assert checkpoint.details == {
                "verified_through": rows[-1].id,
                "verified_hash": rows[-1].hash,
                "entries_checked": len(rows),
                "scope": "full",
                "since": None,
            }

            await forge(engine, rows[2])  # before the checkpoint
            await clock.advance(timedelta(hours=6))
            await eventually(lambda: monitors.verification.ticks >= 2, "the next verification")
            assert value(m, "alerting_chain_verification_ok") == 1  # only the checkpoint entry walked
            assert value(m, "alerting_chain_verification_entries") == 1
            stamp = (T0 + timedelta(hours=6)).timestamp()
            assert value(m, "alerting_chain_verification_last_timestamp_seconds") == stamp
            assert (await stored(engine))[-1].id == checkpoint.id  # nothing new: no checkpoint after it

            async with engine.begin() as conn:
                await append(conn, NewEntry(EntryKind.SILENT_UNIT, "青山乡", "青山乡", T0), T0)
            await clock.advance(timedelta(hours=6))
            await eventually(lambda: monitors.verification.ticks >= 3, "the third verification")
            assert value(m, "alerting_chain_verification_ok") == 1
            assert value(m, "alerting_chain_verification_entries") == 2
            second = (await stored(engine))[-1]
            assert second.kind == "checkpoint" and second.details == {
                "verified_through": checkpoint.id + 1,
                "verified_hash": (await stored(engine))[-2].hash,
                "entries_checked": 2,
                "scope": "since_checkpoint",
                "since": checkpoint.id,
            }
            assert second.recorded_at == T0 + timedelta(hours=12)
            # The full run's time stays that of the last full run.
            assert value(m, "alerting_chain_full_verification_last_timestamp_seconds") == T0.timestamp()

            async with engine.begin() as conn:
                await append(conn, NewEntry(EntryKind.SILENT_UNIT, "梅林镇", "梅林镇", T0), T0)
            await forge(engine, (await stored(engine))[-1])  # after the checkpoint
            await clock.advance(timedelta(hours=6))
            await eventually(lambda: monitors.verification.ticks >= 4, "the fourth verification")
            assert value(m, "alerting_chain_verification_ok") == 0
            assert value(m, "alerting_chain_verification_entries") == 2  # the checkpoint, the forged one
            assert (await stored(engine))[-1].kind == "silent_unit"  # no checkpoint of a broken chain

        async with engine.connect() as conn:
            full = await verify_chain(conn)
        assert (full.broken_at, full.problem) == (rows[2].id, "content changed")


async def forge(engine: AsyncEngine, row: Any) -> None:
    await behind_the_back(
        engine,
        accountability_entries.update()
        .where(accountability_entries.c.id == row.id)
        .values(details={**row.details, "n": 99}),
    )


async def test_consumer_lag_per_partition_is_the_end_offset_minus_the_committed_one(
    kafka_bootstrap: str, sqlite_url: str
) -> None:
    settings = service_settings(sqlite_url, kafka_bootstrap, kafka_topic_partitions=2)
    await ensure_topics(settings)
    topic = settings.kafka_topic
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"lag-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    metrics = Metrics("worker")
    lag = LagGauge(consumer, metrics)
    await producer.start()
    await consumer.start()
    try:
        for partition, count in ((0, 5), (1, 3)):
            for _ in range(count):
                await producer.send_and_wait(topic, b"{}", partition=partition)

        async def assigned() -> bool:
            await consumer.getmany(timeout_ms=100, max_records=1)  # joins the group
            return len(consumer.assignment()) == 2

        await eventually(assigned, "the partitions assigned")
        await lag.sample()
        # Nothing committed yet: everything from the start of each partition is owed.
        assert value(metrics, "alerting_consumer_lag", topic=topic, partition="0") == 5
        assert value(metrics, "alerting_consumer_lag", topic=topic, partition="1") == 3

        await consumer.commit({TopicPartition(topic, 0): 5, TopicPartition(topic, 1): 1})
        for _ in range(4):
            await producer.send_and_wait(topic, b"{}", partition=0)
        await lag.sample()
        assert value(metrics, "alerting_consumer_lag", topic=topic, partition="0") == 4
        assert value(metrics, "alerting_consumer_lag", topic=topic, partition="1") == 2

        consumer.unsubscribe()  # revoked: another replica reports these partitions now
        await lag.sample()
        assert value(metrics, "alerting_consumer_lag", topic=topic, partition="0") is None
    finally:
        await consumer.stop()
        await producer.stop()


async def test_the_running_service_reports_intake_lag_readiness_and_its_components(
    sqlite_url: str, kafka_bootstrap: str
) -> None:
    clock = FakeClock(T0)
    settings = service_settings(sqlite_url, kafka_bootstrap)
    async with (
        receiver() as hook,
        running_service(settings, example_policy(hook.url), clock) as run,
    ):
        m = run.service.metrics
        assert value(m, "alerting_intake_last_success_timestamp_seconds") == 0
        township = await run.token(Role.TOWNSHIP, "城关镇")
        await clock.advance(timedelta(seconds=30))
        await post_report(run, township, report_body("MON-1", "城关镇", known_at=clock.now()))

        def stored() -> bool:
            return value(m, "alerting_reports_received_total", outcome="stored") == 1

        await eventually(stored, "the report stored")
        assert value(m, "alerting_intake_last_success_timestamp_seconds") == clock.now().timestamp()
        assert (value(m, "alerting_consumer_records_polled_total") or 0) >= 1

        ticks = run.service.monitors.sampling.ticks
        await clock.advance(EVERY)
        await eventually(lambda: run.service.monitors.sampling.ticks > ticks, "a sampling round")

        def lag_sampled() -> bool:  # the round after the offset commit shows every partition caught up
            lags = [
                value(m, "alerting_consumer_lag", topic=settings.kafka_topic, partition=str(p))
                for p in range(3)
            ]
            return lags == [0, 0, 0]

        async def later_round() -> bool:
            if lag_sampled():
                return True
            await clock.advance(EVERY)
            await asyncio.sleep(0.1)
            return False

        await eventually(later_round, "lag 0 on every partition")

        text = (await run.client.get("/metrics")).text
        for line in (
            "alerting_ready 1.0",
            'alerting_ready_check{check="database"} 1.0',
            'alerting_ready_check{check="kafka"} 1.0',
            'alerting_ready_check{check="intake"} 1.0',
            'alerting_component_running{component="api"} 1.0',
            'alerting_component_running{component="consumer"} 1.0',
            'alerting_component_running{component="deadlines"} 1.0',
            'alerting_component_running{component="delivery"} 1.0',
        ):
            assert line in text.splitlines(), line
        assert 'alerting_process_resident_memory_bytes{process="main"}' in text


async def test_readiness_shows_the_database_going_away_and_coming_back(
    pg_url: str, kafka_bootstrap: str
) -> None:
    clock = FakeClock(T0)
    name = pg_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{PG_PORT}/postgres")
    settings = service_settings(pg_url, kafka_bootstrap, components="api")
    try:
        async with running_service(settings, example_policy("http://127.0.0.1:9/hook"), clock) as run:
            m = run.service.metrics
            assert (await run.client.get("/readyz")).status_code == 200
            assert value(m, "alerting_ready") == 1
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
            )
            text = (await run.client.get("/metrics")).text.splitlines()
            assert "alerting_ready 0.0" in text
            assert 'alerting_ready_check{check="database"} 0.0' in text
            assert 'alerting_ready_check{check="kafka"} 1.0' in text
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')

            async def ready_again() -> bool:
                return (await run.client.get("/readyz")).status_code == 200

            await eventually(ready_again, "ready again")
            assert value(m, "alerting_ready") == 1
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
