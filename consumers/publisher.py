"""Put a report on the bus: acks=all, idempotent producer, keyed by incident so its reports stay in order."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from alerting.errors import IntakeUnavailable
from alerting.producer_keys import ProducerKey
from alerting.settings import Settings
from consumers.codec import ReportMessage, encode
from consumers.item_codec import ItemMessage, encode_item
from consumers.kafka_client import client_options
from consumers.signing import sign


@dataclass(frozen=True, slots=True)
class Published:
    topic: str
    partition: int
    offset: int


def make_producer(settings: Settings) -> AIOKafkaProducer:
    """The service's producer (reports from the API, and the DLQ), connected as the settings say."""
    return AIOKafkaProducer(
        **client_options(settings),
        acks="all",
        enable_idempotence=True,
        linger_ms=1,
        max_request_size=max(1024 * 1024, settings.max_message_bytes * 2),
    )


class ReportPublisher:
    def __init__(self, producer: AIOKafkaProducer, topic: str, timeout_s: float) -> None:
        self._producer = producer
        self._topic = topic
        self._timeout_s = timeout_s
        self.key: ProducerKey | None = None  # the service's own county-wide key, set at start

    async def publish(self, message: ReportMessage) -> Published:
        """Sign, and return once Kafka has the record on all in-sync replicas, or raise
        IntakeUnavailable."""
        return await self._send(encode(message), message.incident_id)

    async def publish_item(self, message: ItemMessage) -> Published:
        """A routine item, keyed by item so that its versions stay in order."""
        return await self._send(encode_item(message), message.item_id)

    async def _send(self, value: bytes, key: str) -> Published:
        if self.key is None:
            raise IntakeUnavailable("the service is starting: it has no signing key yet")
        try:
            meta = await asyncio.wait_for(
                self._producer.send_and_wait(
                    self._topic, value=value, key=key.encode("utf-8"), headers=sign(value, self.key)
                ),
                timeout=self._timeout_s,
            )
        except (KafkaError, TimeoutError) as exc:
            raise IntakeUnavailable(
                f"the message bus did not accept the report: {type(exc).__name__}"
            ) from None
        return Published(meta.topic, meta.partition, meta.offset)
