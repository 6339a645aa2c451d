"""The service's topics: the report topic stamps each record with the broker's receipt time
(LogAppendTime), which no producer can set, and both topics take their replication from settings.

An existing report topic that keeps producers' times (CreateTime, Kafka's default) is switched, its
other topic-level settings kept; if the service may not do that, start-up stops and says how to.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from alerting.errors import SettingsError
from alerting.settings import Settings
from consumers.kafka_client import client_options

log = logging.getLogger(__name__)

TIMESTAMP_TYPE = "message.timestamp.type"
RECEIPT_TIME = "LogAppendTime"
TOPIC_ALREADY_EXISTS = 36
UNKNOWN_TOPIC = 3
DESCRIBE_ATTEMPTS = 40  # about 40 s in all
DYNAMIC_TOPIC_CONFIG = 1  # DescribeConfigs v1+: the value was set on the topic itself


async def ensure_topics(settings: Settings) -> None:
    replication, insync = settings.topic_replication()
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        shared = {"min.insync.replicas": str(insync)}
        response = await admin.create_topics(
            [
                NewTopic(
                    settings.kafka_topic,
                    settings.kafka_topic_partitions,
                    replication,
                    topic_configs={**shared, TIMESTAMP_TYPE: RECEIPT_TIME},
                ),
                NewTopic(settings.kafka_dlq_topic, 1, replication, topic_configs=shared),
            ]
        )
        refused = {}
        for topic, code, *rest in response.topic_errors:
            if code not in (0, TOPIC_ALREADY_EXISTS):
                refused[topic] = f"error {code}: {rest[0] if rest and rest[0] else 'no message'}"
                log.warning("could not create topic %s (%s); it may exist already", topic, refused[topic])
        await _stamp_receipt_time(admin, settings.kafka_topic, refused.get(settings.kafka_topic))
    finally:
        await admin.close()


async def _topic_configs(
    admin: AIOKafkaAdminClient, topic: str, create_error: str | None
) -> tuple[dict[str, str], dict[str, str]]:
    """(every config's value, the ones set on the topic itself)."""
    for attempt in range(DESCRIBE_ATTEMPTS):
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        [(code, message, _type, _name, entries)] = response.resources
        if code != UNKNOWN_TOPIC or create_error:
            break
        await asyncio.sleep(0.05 * (attempt + 1))  # a topic just created reaches every broker soon after
    if code:
        created = f"; creating it failed ({create_error})" if create_error else ""
        raise SettingsError(
            f"Kafka 主题 {topic} 不可用 / the topic {topic} cannot be described (error {code}: "
            f"{message}){created}. Check ALERTING_KAFKA_REPLICATION_FACTOR against the brokers, or "
            "create the topic and grant the service DescribeConfigs on it"
        )
    values: dict[str, str] = {}
    own: dict[str, str] = {}
    for entry in entries:
        name, value, _read_only, source = entry[0], entry[1], entry[2], entry[3]
        values[name] = value
        set_here = not source if response.API_VERSION == 0 else source == DYNAMIC_TOPIC_CONFIG
        if set_here and value is not None:
            own[name] = value
    return values, own


async def _stamp_receipt_time(admin: AIOKafkaAdminClient, topic: str, create_error: str | None) -> None:
    values, own = await _topic_configs(admin, topic, create_error)
    if values.get(TIMESTAMP_TYPE) == RECEIPT_TIME:
        return
    # AlterConfigs replaces the topic's own settings as a whole: send them back with the change.
    [response] = await admin.alter_configs(
        [ConfigResource(ConfigResourceType.TOPIC, topic, {**own, TIMESTAMP_TYPE: RECEIPT_TIME})]
    )
    [(code, message, *_)] = response.resources
    if code:
        raise SettingsError(
            f"Kafka 主题 {topic} 使用生产者时间 / the topic {topic} keeps producers' times "
            f"({TIMESTAMP_TYPE}={values.get(TIMESTAMP_TYPE)}) and the service may not change it "
            f"(error {code}: {message}). Run: kafka-configs.sh --alter --entity-type topics "
            f"--entity-name {topic} --add-config {TIMESTAMP_TYPE}={RECEIPT_TIME}"
        )
    log.warning("topic %s switched to %s=%s (it kept producers' times)", topic, TIMESTAMP_TYPE, RECEIPT_TIME)
