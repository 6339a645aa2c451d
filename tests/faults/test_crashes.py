"""Nothing lost, nothing fired twice: the service as a real process, killed with SIGKILL at each
boundary, stopped with deadlines pending, stopped with SIGTERM under load, and run as two replicas."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from alerting.storage.schema import deadlines, escalations, notifications
from tests.faults.harness import (
    ServiceProcess,
    counts,
    dedup_receiver,
    fault_policy,
    notification_states,
    produce_reports,
    service_env,
    summary,
    wait_for,
)

REPORTS = 300
DEADLINES_PER_REPORT = 3  # first report (met), written report, acknowledgement


@pytest.mark.parametrize(
    "point", ["consumer.before_db_commit", "consumer.after_db_commit", "consumer.mid_batch"]
)
async def test_kill_at_each_intake_boundary(
    point: str, pg_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    async with dedup_receiver() as hook:
        env = service_env(pg_url, kafka_bootstrap, fault_policy(tmp_path / "policy.toml", ack="1h"), hook.url)
        service = ServiceProcess(env, tmp_path / "service.log")
        service.start(ALERTING_FAILPOINTS=f"{point}:2")  # dies in its second batch
        try:
            await produce_reports(kafka_bootstrap, env, REPORTS, "K")
            await asyncio.to_thread(service.wait_crash, 60)
            stored_before = (await counts(pg_url))["reports"]
            assert stored_before < REPORTS  # the crash really interrupted the stream

            service.start()  # no failpoint: resumes from the last committed offsets

            async def all_stored() -> bool:
                return (await counts(pg_url))["reports"] >= REPORTS

            await wait_for(all_stored, "every report stored after the restart")
        finally:
            service.stop_quietly()
    rows = await counts(pg_url)
    assert rows["reports"] == REPORTS and rows["incidents"] == REPORTS
    incident_deadlines = await _incident_deadlines(pg_url)
    assert incident_deadlines == REPORTS * DEADLINES_PER_REPORT
    summary(
        f"kill-9 {point}",
        sent=REPORTS,
        stored_before_crash=stored_before,
        stored=rows["reports"],
        deadlines=incident_deadlines,
        lost=REPORTS - rows["reports"],
    )


async def _incident_deadlines(url: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(select(deadlines.c.id).where(deadlines.c.incident_id.is_not(None)))
            ).all()
            return len(rows)
    finally:
        await engine.dispose()


async def test_kill_while_notifications_in_flight(pg_url: str, kafka_bootstrap: str, tmp_path: Path) -> None:
    count = 20
    async with dedup_receiver() as hook:
        env = service_env(
            pg_url,
            kafka_bootstrap,
            fault_policy(tmp_path / "policy.toml", ack="1s", timeout="2s"),
            hook.url,
            ALERTING_SEND_LEASE_S="3",
        )
        service = ServiceProcess(env, tmp_path / "service.log")
        service.start(ALERTING_FAILPOINTS="outbox.in_flight:1")
        try:
            await produce_reports(kafka_bootstrap, env, count, "N")
            await asyncio.to_thread(service.wait_crash, 60)
            in_flight = await notification_states(pg_url)
            assert in_flight.get("sending", 0) >= 1  # marked as being sent, no answer recorded

            service.start()

            async def all_sent() -> bool:
                states = await notification_states(pg_url)
                return states.get("sent", 0) == count and sum(states.values()) == count

            await wait_for(all_sent, "every notification delivered after the restart")
        finally:
            service.stop_quietly()
    assert hook.unique == count  # the receiver, deduplicating by key, processes each once
    summary(
        "kill-9 in-flight",
        notifications=count,
        in_flight_at_kill=in_flight.get("sending", 0),
        delivered=hook.unique,
        redelivered=hook.duplicates,
    )


async def test_deadlines_that_fell_due_while_stopped_fire_once(
    pg_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    count = 50
    async with dedup_receiver() as hook:
        env = service_env(pg_url, kafka_bootstrap, fault_policy(tmp_path / "policy.toml", ack="3s"), hook.url)
        service = ServiceProcess(env, tmp_path / "service.log")
        service.start()
        try:
            await produce_reports(kafka_bootstrap, env, count, "D")

            async def stored() -> bool:
                return (await counts(pg_url))["reports"] == count

            await wait_for(stored, "reports stored")
            assert service.terminate() == 0
            assert (await counts(pg_url))["escalations"] == 0  # stopped before any acknowledgement was due
            await asyncio.sleep(4)  # real time passes while the service is down: every ack deadline falls due

            service.start()

            async def delivered() -> bool:
                return hook.unique == count

            await wait_for(delivered, "every overdue deadline fired at start-up")
            await asyncio.sleep(2)  # several more ticks: nothing fires again
        finally:
            service.stop_quietly()
    rows = await counts(pg_url)
    assert rows["escalations"] == count and rows["notifications"] == count
    assert hook.duplicates == 0
    summary(
        "restart-after-due",
        deadlines=count,
        fired=rows["escalations"],
        delivered=hook.unique,
        duplicates=hook.duplicates,
    )


async def test_sigterm_under_load_commits_and_leaves(
    pg_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    async with dedup_receiver() as hook:
        env = service_env(pg_url, kafka_bootstrap, fault_policy(tmp_path / "policy.toml", ack="1h"), hook.url)
        service = ServiceProcess(env, tmp_path / "service.log")
        service.start()
        try:
            producing = asyncio.create_task(produce_reports(kafka_bootstrap, env, 2000, "T"))

            async def busy() -> bool:
                return (await counts(pg_url))["reports"] > 100

            await wait_for(busy, "consumption under way")
            exit_code = await asyncio.to_thread(service.terminate, 60)
            await producing
        finally:
            service.stop_quietly()
        stored_at_stop = (await counts(pg_url))["reports"]
        committed = await _committed(kafka_bootstrap, env)
    assert exit_code == 0, service.log()[-2000:]
    assert "LeaveGroup request succeeded" in service.log()
    # Offsets were committed for exactly what was stored: nothing stored is left uncommitted.
    assert committed == stored_at_stop
    summary("sigterm", produced=2000, stored=stored_at_stop, committed=committed, exit_code=exit_code)


async def _committed(bootstrap: str, env: dict[str, str]) -> int:
    """The group's committed offsets on the topic, summed over partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(env["ALERTING_KAFKA_GROUP_ID"])
    finally:
        await admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == env["ALERTING_KAFKA_TOPIC"])


async def test_two_replicas_one_killed_every_deadline_fires_once(
    pg_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    count = 400
    async with dedup_receiver() as hook:
        env = service_env(pg_url, kafka_bootstrap, fault_policy(tmp_path / "policy.toml", ack="2s"), hook.url)
        first = ServiceProcess(env, tmp_path / "first.log")
        second = ServiceProcess(env, tmp_path / "second.log")
        first.start()
        second.start()
        try:
            producing = asyncio.create_task(produce_reports(kafka_bootstrap, env, count, "R"))

            async def half() -> bool:
                return (await counts(pg_url))["reports"] > count // 3

            await wait_for(half, "both replicas consuming")
            second.kill9()  # a rebalance: its partitions move to the first replica
            await producing
            second.start()  # and back again

            async def done() -> bool:
                rows = await counts(pg_url)
                return rows["reports"] == count and hook.unique == count

            await wait_for(done, "every report stored and every deadline delivered")
            await asyncio.sleep(3)  # more ticks on both replicas: nothing fires again
        finally:
            first.stop_quietly()
            second.stop_quietly()
    rows = await counts(pg_url)
    assert rows["reports"] == count
    assert rows["escalations"] == count  # one round per acknowledgement deadline, on either replica
    assert await _fired_twice(pg_url) == 0
    # A request is sent again only after a failed attempt (a timeout under load counts: the receiver
    # may have processed it) or after the replica that sent it died; the key makes that harmless.
    retried = await _retried(pg_url)
    assert hook.duplicates <= retried
    summary(
        "two-replicas",
        reports=count,
        fired=rows["escalations"],
        delivered=hook.unique,
        resent=hook.duplicates,
        retried_rows=retried,
    )


async def _retried(url: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(select(notifications.c.attempts).where(notifications.c.attempts > 1))
            ).all()
            return sum(r.attempts - 1 for r in rows)
    finally:
        await engine.dispose()


async def _fired_twice(url: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(escalations.c.deadline_id, escalations.c.round))).all()
            return len(rows) - len(set(rows))
    finally:
        await engine.dispose()
