"""The consumer loop: read a batch (all partitions), store it in one transaction, then commit offsets.

Order of effects per batch: poison messages to the DLQ (acks=all), reports to the database (one
transaction), then the offset commit. A crash anywhere redelivers the batch, and redelivery is a
no-op (upsert on report_id), so nothing accepted is lost and nothing is stored twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.clock import Clock
from alerting.domain import Report
from alerting.errors import InvalidReport
from alerting.failpoints import NONE, Failpoints
from alerting.metrics import Metrics
from alerting.policy.model import Policy
from alerting.settings import Settings
from alerting.storage.engine import write_lock
from consumers.batch import store_batch
from consumers.codec import decode
from consumers.intake import IntakeResult, Outcome

log = logging.getLogger(__name__)

Record: TypeAlias = ConsumerRecord  # aiokafka ships no type information
# Errors caused by a message's content, as opposed to the database being unavailable.
INPUT_ERRORS = (IntegrityError, DataError)
# Records per poll, across partitions, stored in one transaction: large enough that per-batch costs
# vanish, small enough that the SQLite writer lock is never held long.
BATCH_RECORDS = 1000
# Reports planned and written at a time within that transaction. Planning is plain Python on the
# event loop: smaller pieces let the API (same process, all-in-one) answer in between.
STORE_CHUNK = 250


@dataclass(frozen=True, slots=True)
class Rejected:
    record: Record
    reason: str


class ReportConsumer:
    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        policy: Policy,
        clock: Clock,
        producer: AIOKafkaProducer,
        metrics: Metrics,
        on_armed: Callable[[datetime], None],
        failpoints: Failpoints = NONE,
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._policy = policy
        self._clock = clock
        self._producer = producer
        self._metrics = metrics
        self._on_armed = on_armed
        self._failpoints = failpoints
        self._stopping = asyncio.Event()
        self.consumer = AIOKafkaConsumer(
            settings.kafka_topic,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=settings.kafka_group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=max(1024 * 1024, settings.max_message_bytes * 2),
        )

    async def start(self) -> None:
        await self.consumer.start()

    def request_stop(self) -> None:
        self._stopping.set()

    async def stop(self) -> None:
        self._stopping.set()
        await self.consumer.stop()  # commits nothing by itself: offsets were committed per batch

    async def run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                batches = await self.consumer.getmany(timeout_ms=500, max_records=BATCH_RECORDS)
            except KafkaError as exc:
                log.warning("polling failed (%s); the consumer keeps trying", type(exc).__name__)
                await asyncio.sleep(1)
                continue
            if not batches:
                continue
            try:
                # All partitions in one transaction: per-batch costs (commit, offset commit) are shared.
                await self._process([record for records in batches.values() for record in records])
                failures = 0
            except Exception as exc:
                # The database or the DLQ is away (or a bug): keep the messages, rewind, retry later.
                # Nothing is skipped: the partitions wait rather than lose a report.
                failures += 1
                delay = min(30.0, 0.5 * 2**failures)
                log.warning("storing a batch failed (%s); retrying in %.1fs", type(exc).__name__, delay)
                for tp, records in batches.items():
                    self.consumer.seek(tp, records[0].offset)
                await asyncio.sleep(delay)
                continue
            try:
                await self.consumer.commit({tp: records[-1].offset + 1 for tp, records in batches.items()})
            except KafkaError as exc:
                # Stored already; after a rebalance the batch comes again and is a no-op.
                log.warning("offset commit failed (%s)", type(exc).__name__)

    async def _process(self, records: list[Record]) -> None:
        reports: list[tuple[Record, Report]] = []
        rejected: list[Rejected] = []
        for record in records:
            try:
                reports.append(
                    (record, decode(record.value, record.timestamp, self._settings.max_message_bytes))
                )
            except InvalidReport as exc:
                rejected.append(Rejected(record, exc.reason))
            except Exception as exc:  # a decoder bug must not stall the partition
                log.exception("cannot decode %s/%d@%d", record.topic, record.partition, record.offset)
                rejected.append(Rejected(record, f"undecodable: {type(exc).__name__}"))
        try:
            results, refused = await self._store(reports)
        except INPUT_ERRORS:
            # One message the database refuses must not stall the partition: isolate it. Any other
            # database error (it is away, restarting) propagates and the batch is retried whole.
            results, refused = await self._store_one_by_one(reports)
        rejected.extend(refused)
        for item in rejected:
            await self._dead_letter(item)
        self._count(results)

    async def _store(self, reports: list[tuple[Record, Report]]) -> tuple[list[IntakeResult], list[Rejected]]:
        now = self._clock.now()
        results: list[IntakeResult] = []
        refused: list[Rejected] = []
        with self._metrics.intake_seconds.time():
            async with write_lock(self._engine), self._engine.begin() as conn:
                half = len(reports) // 2
                for start in range(0, len(reports), STORE_CHUNK):
                    part = reports[start : start + STORE_CHUNK]
                    stored = await store_batch(conn, [report for _, report in part], self._policy, now)
                    for (record, _), outcome in zip(part, stored, strict=True):
                        if isinstance(outcome, InvalidReport):
                            refused.append(Rejected(record, outcome.reason))
                        else:
                            results.append(outcome)
                    if start < half <= start + len(part):
                        self._failpoints.hit("consumer.mid_batch")
                self._failpoints.hit("consumer.before_db_commit")
        self._failpoints.hit("consumer.after_db_commit")
        return results, refused

    async def _store_one_by_one(
        self, reports: list[tuple[Record, Report]]
    ) -> tuple[list[IntakeResult], list[Rejected]]:
        results: list[IntakeResult] = []
        refused: list[Rejected] = []
        for record, report in reports:
            try:
                more, rej = await self._store([(record, report)])
            except INPUT_ERRORS as exc:
                refused.append(Rejected(record, f"refused by the database: {type(exc.orig).__name__}"))
                continue
            results.extend(more)
            refused.extend(rej)
        return results, refused

    async def _dead_letter(self, item: Rejected) -> None:
        record = item.record
        log.warning("message %s/%d@%d to DLQ: %s", record.topic, record.partition, record.offset, item.reason)
        await self._producer.send_and_wait(
            self._settings.kafka_dlq_topic,
            value=record.value,
            key=record.key,
            headers=[
                ("x-dlq-reason", item.reason.encode("utf-8")),
                ("x-source-topic", record.topic.encode()),
                ("x-source-partition", str(record.partition).encode()),
                ("x-source-offset", str(record.offset).encode()),
            ],
        )
        self._metrics.reports_dlq.inc()

    def _count(self, results: list[IntakeResult]) -> None:
        for result in results:
            self._metrics.reports_received.labels(outcome=result.outcome.value).inc()
            self._metrics.late_reports.inc(result.late_entries)
            if result.outcome is Outcome.STORED and result.earliest_fire_at is not None:
                self._on_armed(result.earliest_fire_at)
