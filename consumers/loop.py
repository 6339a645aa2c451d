"""The consumer loop: read a batch (all partitions), store it in one transaction, then commit offsets.

Order of effects per batch: poison messages to the DLQ (acks=all), reports to the database (one
transaction), then the offset commit. A crash anywhere redelivers the batch, and redelivery is a
no-op (upsert on report_id), so nothing accepted is lost and nothing is stored twice.

A batch that fails is retried. While the database or Kafka is away it is retried as long as it takes.
A failure of any other kind (a bug that some record sets off) is retried a few times, then the batch
is stored in halves until the record that fails alone is found: it goes to the DLQ with the reason
`internal error: <class>` and the partition moves on.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError
from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from alerting.clock import Clock
from alerting.domain import Report, RoutineItem
from alerting.errors import InvalidReport
from alerting.failpoints import NONE, Failpoints
from alerting.metrics import Metrics
from alerting.policy.model import Policy
from alerting.settings import Settings
from alerting.storage.engine import write_lock
from consumers.batch import Result, store_records
from consumers.codec import check_size
from consumers.intake import IntakeResult, Outcome
from consumers.item_codec import decode_record
from consumers.kafka_client import client_options
from consumers.keyring import Keyring
from consumers.signing import KEY_ID_HEADER, receive

log = logging.getLogger(__name__)

Record: TypeAlias = ConsumerRecord  # aiokafka ships no type information
StoreBatch: TypeAlias = Callable[
    [AsyncConnection, list[Report | RoutineItem], Policy, datetime], Awaitable[list[Result]]
]
Received: TypeAlias = tuple[Record, Report | RoutineItem]
# Errors caused by a message's content, as opposed to the database being unavailable.
INPUT_ERRORS = (IntegrityError, DataError)
# The database or Kafka being away: wait for it, however long, and never blame a record.
UNAVAILABLE = (OperationalError, InterfaceError, OSError, TimeoutError, KafkaError)
# Failures of another kind before the batch is searched for the record that causes them.
ISOLATE_AFTER = 3
# Consecutive failures of one batch after which intake reports itself not ready (/readyz).
UNHEALTHY_AFTER = 3
# Records per poll, across partitions, stored in one transaction: large enough that per-batch costs
# vanish, small enough that the SQLite writer lock is never held long.
BATCH_RECORDS = 1000
# Reports planned and written at a time within that transaction. Planning is plain Python on the
# event loop: smaller pieces let the API (same process, all-in-one) answer in between.
STORE_CHUNK = 250


class SystemicFailure(Exception):
    """Every record of a batch failed alone: retried, never dead-lettered."""


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
        store: StoreBatch = store_records,
    ) -> None:
        self.store = store  # the intake transaction's work (a test may wrap it to inject a fault)
        self._settings = settings
        self._engine = engine
        self._policy = policy
        self._clock = clock
        self._producer = producer
        self._metrics = metrics
        self._on_armed = on_armed
        self._failpoints = failpoints
        self._stopping = asyncio.Event()
        self._failures = 0  # consecutive failures of the batch in hand
        self._keyring: Keyring | None = None  # set by start
        self.consumer = AIOKafkaConsumer(
            settings.kafka_topic,
            **client_options(settings),
            group_id=settings.kafka_group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=max(1024 * 1024, settings.max_message_bytes * 2),
        )

    async def start(self, kek: bytes) -> None:
        """`kek` decrypts the producer keys the records are checked against."""
        self._keyring = Keyring(self._engine, kek)
        await self._keyring.ensure(())
        await self.consumer.start()

    def request_stop(self) -> None:
        self._stopping.set()

    async def stop(self) -> None:
        self._stopping.set()
        await self.consumer.stop()  # commits nothing by itself: offsets were committed per batch

    @property
    def healthy(self) -> bool:
        """False while one batch has failed again and again (see /readyz)."""
        return self._failures < UNHEALTHY_AFTER

    async def run(self) -> None:
        unexplained = 0  # consecutive failures of this batch that were not an outage
        while not self._stopping.is_set():
            try:
                batches = await self.consumer.getmany(timeout_ms=500, max_records=BATCH_RECORDS)
            except KafkaError as exc:
                log.warning("polling failed (%s); the consumer keeps trying", type(exc).__name__)
                await asyncio.sleep(1)
                continue
            if not batches:
                continue
            records = [record for records in batches.values() for record in records]
            self._metrics.records_polled.inc(len(records))
            try:
                # All partitions in one transaction: per-batch costs (commit, offset commit) are shared.
                await self._process(records, isolate=unexplained >= ISOLATE_AFTER)
                self._failures = unexplained = 0
                self._metrics.intake_last_success.set(self._clock.now().timestamp())
            except Exception as exc:
                # Keep the messages, rewind, retry later: the partitions wait rather than lose a report.
                self._failures += 1
                unexplained = 0 if isinstance(exc, UNAVAILABLE) else unexplained + 1
                # Straight on to the search the first time it is due; after that, as any retry.
                search = unexplained == ISOLATE_AFTER
                delay = 0.0 if search else min(30.0, 0.5 * 2**self._failures)
                then = "searching it for the record that fails" if search else f"retrying in {delay:.1f}s"
                self._failed(exc, "storing a batch failed", then)
                for tp, part in batches.items():
                    self.consumer.seek(tp, part[0].offset)
                await asyncio.sleep(delay)
                continue
            try:
                await self.consumer.commit({tp: part[-1].offset + 1 for tp, part in batches.items()})
            except KafkaError as exc:
                # Stored already; after a rebalance the batch comes again and is a no-op.
                log.warning("offset commit failed (%s)", type(exc).__name__)

    def _failed(self, exc: BaseException, what: str, then: str) -> None:
        """Count and log a failure: an outage in a line, anything else with where it happened. Only
        the class and the code's frames are logged: a message may quote a report's content."""
        name = type(exc).__name__
        self._metrics.intake_failures.labels(error=name).inc()
        if isinstance(exc, UNAVAILABLE):
            log.warning("%s (%s); %s", what, name, then)
        else:
            frames = "".join(traceback.format_tb(exc.__traceback__))
            log.error("%s (%s); %s\nTraceback (most recent call last):\n%s", what, name, then, frames)

    async def _process(self, records: list[Record], *, isolate: bool = False) -> None:
        reports: list[Received] = []
        rejected: list[Rejected] = []
        assert self._keyring is not None, "start() first"
        await self._keyring.ensure(
            value.decode("ascii", "replace")
            for record in records
            for name, value in record.headers
            if name == KEY_ID_HEADER
        )
        accept_unsigned = self._policy.intake.accept_unsigned
        for record in records:
            try:
                value = check_size(record.value, self._settings.max_message_bytes)
                receipt = receive(
                    value,
                    list(record.headers),
                    record.timestamp,
                    record.timestamp_type,
                    self._keyring.keys,
                    accept_unsigned,
                )
                reports.append((record, decode_record(value, receipt, self._settings.max_message_bytes)))
            except InvalidReport as exc:
                rejected.append(Rejected(record, exc.reason))
            except Exception as exc:  # a decoder bug must not stall the partition
                log.exception("cannot decode %s/%d@%d", record.topic, record.partition, record.offset)
                rejected.append(Rejected(record, f"undecodable: {type(exc).__name__}"))
        if isolate:
            results, refused = await self._bisect(reports, unexplained=True)
            if (
                len(reports) > 1
                and not results
                and all(r.reason.startswith("internal error") for r in refused)
            ):
                # Every record fails alone: a fault of the service, not of the records. Keep them all
                # and go on retrying (intake reports itself not ready) rather than dead-letter them.
                raise SystemicFailure(refused[0].reason)
        else:
            try:
                results, refused = await self._store(reports)
            except INPUT_ERRORS:
                # One message the database refuses must not stall the partition: isolate it. Any
                # other error propagates and the batch is retried whole.
                results, refused = await self._bisect(reports, unexplained=False)
        rejected.extend(refused)
        for item in rejected:
            await self._dead_letter(item)
        self._count(results)

    async def _bisect(
        self, reports: list[Received], *, unexplained: bool
    ) -> tuple[list[IntakeResult], list[Rejected]]:
        """Store `reports` in halves until each failing record is alone; those are refused. With
        `unexplained`, failures of any kind but an outage are searched for, not only refusals."""
        if not reports:
            return [], []
        searched = (Exception,) if unexplained else INPUT_ERRORS
        try:
            return await self._store(reports)
        except searched as exc:
            if isinstance(exc, UNAVAILABLE):
                raise
            if len(reports) == 1:
                [(record, _)] = reports
                if isinstance(exc, INPUT_ERRORS):
                    return [], [Rejected(record, f"refused by the database: {type(exc.orig).__name__}")]
                where = f"{record.topic}/{record.partition}@{record.offset}"
                self._failed(exc, f"message {where} fails alone", "it goes to the DLQ")
                return [], [Rejected(record, f"internal error: {type(exc).__name__}")]
        half = len(reports) // 2
        first, refused_first = await self._bisect(reports[:half], unexplained=unexplained)
        second, refused_second = await self._bisect(reports[half:], unexplained=unexplained)
        return first + second, refused_first + refused_second

    async def _store(self, reports: list[Received]) -> tuple[list[IntakeResult], list[Rejected]]:
        now = self._clock.now()
        results: list[IntakeResult] = []
        refused: list[Rejected] = []
        with self._metrics.intake_seconds.time():
            async with write_lock(self._engine), self._engine.begin() as conn:
                half = len(reports) // 2
                for start in range(0, len(reports), STORE_CHUNK):
                    part = reports[start : start + STORE_CHUNK]
                    stored = await self.store(conn, [report for _, report in part], self._policy, now)
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
