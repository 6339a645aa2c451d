"""Consumer lag per partition, for the alert rules: the partition's end offset minus the group's
committed offset (the start of the partition where the group never committed)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from alerting.metrics import Metrics

SAMPLE_TIMEOUT_S = 5.0  # a broker that does not answer leaves the last values as they were


async def partition_lag(consumer: AIOKafkaConsumer) -> dict[TopicPartition, int]:
    """Lag of each partition assigned to `consumer` now (empty before the group assigned any)."""
    assigned: list[Any] = sorted(consumer.assignment())
    if not assigned:
        return {}
    async with asyncio.timeout(SAMPLE_TIMEOUT_S):
        ends = await consumer.end_offsets(assigned)
        # One round trip per partition, concurrently: aiokafka's committed() takes one at a time.
        committed = await asyncio.gather(*(consumer.committed(tp) for tp in assigned))
        never = [tp for tp, offset in zip(assigned, committed, strict=True) if offset is None]
        starts = await consumer.beginning_offsets(never) if never else {}
    return {
        tp: max(0, ends[tp] - (offset if offset is not None else starts[tp]))
        for tp, offset in zip(assigned, committed, strict=True)
    }


class LagGauge:
    """Sets alerting_consumer_lag for the partitions this consumer holds, and drops the partitions it
    no longer holds (another replica reports them now)."""

    def __init__(self, consumer: AIOKafkaConsumer, metrics: Metrics) -> None:
        self._consumer = consumer
        self._metrics = metrics
        self._shown: set[tuple[str, str]] = set()

    async def sample(self) -> None:
        lag = await partition_lag(self._consumer)
        now_shown = {(tp.topic, str(tp.partition)) for tp in lag}
        for gone in self._shown - now_shown:
            self._metrics.consumer_lag.remove(*gone)
        for tp, behind in lag.items():
            self._metrics.consumer_lag.labels(topic=tp.topic, partition=str(tp.partition)).set(behind)
        self._shown = now_shown
