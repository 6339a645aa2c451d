"""Reports on a Kafka topic as the benchmarks write them, and aiokafka's bare read of them."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.common import TOWNSHIPS, report_fields, utcnow

PARTITIONS = 6  # the service's default (ALERTING_KAFKA_TOPIC_PARTITIONS)
# Signs what the benchmark writes, as the service signs what its HTTP API publishes (county-wide).
KEY_ID, KEY_SECRET = "pk_bench", b"bench-producer-secret-0123456789abcdef"


def message(incident_id: str, report_id: str, township: str, at: str) -> bytes:
    """The same report as the HTTP benchmark posts, as a producer writes it to the topic."""
    fields = {"schema_version": 1, "report_id": report_id, **report_fields(incident_id, at, township)}
    return json.dumps({**fields, "reported_at": at}, ensure_ascii=False).encode()


async def create_topic(bootstrap: str, topic: str, partitions: int = PARTITIONS) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, n: int, prefix: str) -> None:
    """N first reports of distinct incidents (level II), keyed by incident and signed as the service
    produces them."""
    from alerting.producer_keys import ProducerKey
    from consumers.signing import sign

    key = ProducerKey(KEY_ID, "bench", None, KEY_SECRET)
    at = (utcnow() - timedelta(minutes=1)).isoformat()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=20
    )
    await producer.start()
    try:
        futures = []
        for i in range(n):
            incident_id = f"{prefix}-{i:07d}"
            value = message(incident_id, f"{prefix}-r{i:07d}", TOWNSHIPS[i % len(TOWNSHIPS)], at)
            futures.append(
                await producer.send(topic, value, key=incident_id.encode(), headers=sign(value, key))
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def raw_consume(bootstrap: str, topic: str, n: int, within: float) -> float:
    """Seconds for a bare AIOKafkaConsumer (no group, getmany, no processing) to read all n."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=1024 * 1024,  # as the service's consumer
    )
    await consumer.start()
    try:
        seen = 0
        t0 = time.perf_counter()
        deadline = t0 + within
        while seen < n:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"raw consumer read {seen} of {n} in {within:g} s")
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            seen += sum(len(records) for records in batches.values())
        return time.perf_counter() - t0
    finally:
        await consumer.stop()
