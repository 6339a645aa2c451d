"""A bug that some record sets off in intake, with the real broker, the real database and the real
service: it is counted and logged with where it happened (never the record's content), /readyz turns
503 while the batch keeps failing, and then the record that fails alone goes to the DLQ while the rest
is stored and the partition moves on. A fault that every record sets off dead-letters nothing.

The fault is injected by wrapping the consumer's store step (`ReportConsumer.store`); everything around
it is the product's own."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.clock import FakeClock
from alerting.domain import Report
from alerting.policy.model import Policy
from alerting.storage.schema import reports
from consumers.batch import Result
from consumers.signing import sign
from tests.support import (
    Running,
    eventually,
    example_policy,
    producer_key,
    receiver,
    report_body,
    running_service,
    service_settings,
)

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
TOWN = "城关镇"
SECRET_LOOKING = "0791-88888888"  # in the exception's message: it must never reach the log


def message(report_id: str) -> bytes:
    body = report_body(f"INC-{report_id}", TOWN, known_at=T0 - timedelta(minutes=1), report_id=report_id)
    return json.dumps({"schema_version": 1, **body}, ensure_ascii=False).encode()


Store = Callable[[AsyncConnection, list[Report], Policy, datetime], Awaitable[list[Result]]]


class Fault:
    """Wraps the real store: fails every batch while `everything`, else batches holding a `bad` id."""

    def __init__(self, real: Store, bad: set[str], everything: bool) -> None:
        self.real, self.bad, self.everything = real, bad, everything
        self.calls = 0
        self.hold = asyncio.Event()  # set: the calls after the first three go on
        self.hold.set()

    async def __call__(
        self, conn: AsyncConnection, batch: list[Report], policy: Policy, now: datetime
    ) -> list[Result]:
        self.calls += 1
        if self.calls > 3:
            await self.hold.wait()
        if self.everything or any(r.report_id in self.bad for r in batch):
            raise RuntimeError(f"a bug that quotes {SECRET_LOOKING}")
        return await self.real(conn, batch, policy, now)


async def produce(run: Running, ids: list[str]) -> None:
    key = await producer_key(run.service.settings.database_url)
    producer = AIOKafkaProducer(bootstrap_servers=run.service.settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        for report_id in ids:
            value = message(report_id)
            await producer.send_and_wait(
                run.service.settings.kafka_topic, value, key=b"k", headers=sign(value, key)
            )
    finally:
        await producer.stop()


async def stored_ids(run: Running) -> set[str]:
    async with run.service.engine.connect() as conn:
        return set((await conn.execute(select(reports.c.report_id))).scalars())


async def dead_letters(run: Running, expected: int) -> list[tuple[str, dict[str, str]]]:
    consumer = AIOKafkaConsumer(
        run.service.settings.kafka_dlq_topic,
        bootstrap_servers=run.service.settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        found: list[tuple[str, dict[str, str]]] = []
        while True:
            batch = await consumer.getmany(timeout_ms=1000)
            if not batch:
                return found
            for record in (r for records in batch.values() for r in records):
                headers = {k: v.decode() for k, v in record.headers}
                found.append((json.loads(record.value)["report_id"], headers))
            if len(found) > expected:
                return found
    finally:
        await consumer.stop()


async def readiness(run: Running) -> tuple[int, dict[str, str]]:
    response = await run.client.get("/readyz")
    return response.status_code, response.json()


def failures(text: str) -> float:
    prefix = 'alerting_intake_failures_total{error="RuntimeError"} '
    return sum(float(line.removeprefix(prefix)) for line in text.splitlines() if line.startswith(prefix))


async def test_the_record_that_breaks_intake_goes_to_the_dlq_and_the_rest_is_stored(
    database_url: str, kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="consumers.loop")
    settings = service_settings(database_url, kafka_bootstrap, kafka_topic_partitions=1)
    async with receiver() as hook, running_service(settings, example_policy(hook.url), FakeClock(T0)) as run:
        fault = Fault(run.service.consumer.store, bad={"r-bug"}, everything=True)
        run.service.consumer.store = fault
        fault.hold.clear()  # the search waits until /readyz has been seen failing
        await produce(run, ["r-ok-1", "r-bug", "r-ok-2", "r-ok-3"])

        async def failing() -> bool:
            return await readiness(run) == (503, {"database": "ok", "kafka": "ok", "intake": "failing"})

        await eventually(failing, what="/readyz reporting intake failing", within=20)
        fault.everything = False  # from now on only the batches holding r-bug fail
        fault.hold.set()

        async def rest_stored() -> bool:
            return await stored_ids(run) == {"r-ok-1", "r-ok-2", "r-ok-3"}

        await eventually(rest_stored, what="the other reports stored", within=20)
        assert await dead_letters(run, 1) == [
            (
                "r-bug",
                {
                    "x-dlq-reason": "internal error: RuntimeError",
                    "x-source-topic": settings.kafka_topic,
                    "x-source-partition": "0",
                    "x-source-offset": "1",
                },
            )
        ]
        await eventually(lambda: run.service.consumer.healthy, what="intake healthy again")
        assert await readiness(run) == (200, {"database": "ok", "kafka": "ok", "intake": "ok"})
        metrics = (await run.client.get("/metrics")).text
    assert failures(metrics) >= 4  # three whole-batch failures, then r-bug failing alone
    assert "Traceback (most recent call last)" in caplog.text and "in __call__" in caplog.text
    assert SECRET_LOOKING not in caplog.text


async def test_a_fault_every_record_sets_off_dead_letters_nothing(
    database_url: str, kafka_bootstrap: str
) -> None:
    settings = service_settings(database_url, kafka_bootstrap, kafka_topic_partitions=1)
    async with receiver() as hook, running_service(settings, example_policy(hook.url), FakeClock(T0)) as run:
        fault = Fault(run.service.consumer.store, bad=set(), everything=True)
        run.service.consumer.store = fault
        await produce(run, ["r-a", "r-b", "r-c"])
        # Three failures, then the search: every record fails alone (two halves, then one by one).
        await eventually(lambda: fault.calls >= 3 + 5, what="the batch searched", within=20)
        assert not run.service.consumer.healthy
        assert await stored_ids(run) == set()
        fault.everything = False  # the fault is mended (a fixed release): the next retry stores all

        async def all_stored() -> bool:
            return await stored_ids(run) == {"r-a", "r-b", "r-c"}

        await eventually(all_stored, what="every report stored after the fix", within=30)
        assert await dead_letters(run, 0) == []
