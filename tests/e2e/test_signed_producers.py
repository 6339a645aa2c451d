"""A direct producer cannot backdate the county's receipt or write in another township's name.

Real broker, real database, the real CLI for keys. The service's clock is a fake one set to the wall
clock: the broker stamps records with its own (real) time, which is the point.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from alerting.app.service import Service
from alerting.clock import FakeClock
from alerting.domain import Role
from alerting.errors import SettingsError
from alerting.policy.model import IntakeRules
from alerting.producer_keys import ProducerKey
from alerting.settings import Settings
from consumers.kafka_client import client_options
from consumers.signing import sign
from tests.support import (
    ROOT,
    Running,
    eventually,
    example_policy,
    receiver,
    report_body,
    running_service,
    service_settings,
)

TOWN, OTHER = "城关镇", "梅林镇"


def cli(settings: Settings, *args: str) -> str:
    env = {
        **os.environ,
        "ALERTING_DATABASE_URL": settings.database_url,
        "ALERTING_COUNTY_WEBHOOK_URL": "http://127.0.0.1:9/unused",
    }
    done = subprocess.run(
        [sys.executable, "-m", "alerting.app", *args], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def created_key(output: str, township: str | None) -> ProducerKey:
    fields = dict(line.split(":", 1) for line in output.splitlines()[:2])
    return ProducerKey(fields["key id"].strip(), "平台", township, fields["secret"].strip().encode())


def message(incident_id: str, township: str, known_at: datetime, stated: datetime) -> bytes:
    body = report_body(incident_id, township, known_at=known_at, report_id=f"{incident_id}-r1")
    return json.dumps({"schema_version": 1, **body, "reported_at": stated.isoformat()}).encode()


async def produce(settings: Settings, items: list[tuple[bytes, list[tuple[str, bytes]]]]) -> None:
    producer = AIOKafkaProducer(**client_options(settings), acks="all")
    await producer.start()
    try:
        for value, headers in items:
            await producer.send_and_wait(settings.kafka_topic, value, key=b"k", headers=headers)
    finally:
        await producer.stop()


async def topic_records(settings: Settings, topic: str, count: int) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic, **client_options(settings), auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    try:
        records: list[Any] = []
        for _ in range(40):
            batch = await consumer.getmany(timeout_ms=500)
            records += [r for rs in batch.values() for r in rs]
            if len(records) >= count:
                break
        return records
    finally:
        await consumer.stop()


async def topic_config(settings: Settings, topic: str) -> dict[str, str]:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        return {entry[0]: entry[1] for entry in response.resources[0][4]}
    finally:
        await admin.close()


async def stored(run: Running, incident_id: str, token: str) -> dict[str, Any]:
    async def check() -> bool:
        return bool((await run.incident(incident_id, token)).get("reports"))

    await eventually(check, what=f"incident {incident_id} stored")
    return await run.incident(incident_id, token)


def entry_kinds(detail: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["kind"], e["township"]) for e in detail["entries"]]


async def test_the_api_signs_what_it_publishes_on_a_topic_stamped_by_the_broker(
    sqlite_url: str, kafka_bootstrap: str
) -> None:
    settings = service_settings(sqlite_url, kafka_bootstrap)
    now = datetime.now(UTC)
    async with receiver() as hook, running_service(settings, example_policy(hook.url), FakeClock(now)) as run:
        township = await run.token(Role.TOWNSHIP, TOWN)
        duty = await run.token(Role.DUTY_OFFICER)
        body = report_body("INC-API", TOWN, known_at=now - timedelta(minutes=5))
        response = await run.client.post(
            "/api/v1/reports", json=body, headers={"Authorization": f"Bearer {township}"}
        )
        assert response.status_code == 202, response.text
        detail = await stored(run, "INC-API", duty)
        [report] = detail["reports"]
        assert (report["provenance"], report["producer_key"]) == ("signed", "county-api")
        assert datetime.fromisoformat(report["reported_at"]) == now  # the API's receipt, stated under its key
        [record] = await topic_records(settings, settings.kafka_topic, 1)
        assert dict(record.headers)["alerting-key-id"] == b"county-api"
        assert record.timestamp_type == 1  # LogAppendTime
    config = await topic_config(settings, settings.kafka_topic)
    assert (config["message.timestamp.type"], config["min.insync.replicas"]) == ("LogAppendTime", "1")


async def test_a_township_key_gets_the_broker_time_and_only_its_own_township(
    sqlite_url: str, kafka_bootstrap: str
) -> None:
    settings = service_settings(sqlite_url, kafka_bootstrap, kafka_topic_partitions=1)
    now = datetime.now(UTC)
    known_at = now - timedelta(minutes=30)  # level II: first report due at -15 min, written at +10
    async with receiver() as hook, running_service(settings, example_policy(hook.url), FakeClock(now)) as run:
        duty = await run.token(Role.DUTY_OFFICER)
        output = await asyncio.to_thread(
            cli, settings, "producer-key", "create", "--holder", "城关镇应急平台", "--township", TOWN
        )
        key = created_key(output, TOWN)
        assert key.key_id in await asyncio.to_thread(cli, settings, "producer-key", "list")
        backdated = message("INC-OWN", TOWN, known_at, stated=known_at + timedelta(minutes=10))
        borrowed = message("INC-BORROW", OTHER, known_at, stated=known_at + timedelta(minutes=10))
        unsigned = message("INC-UNSIGNED", TOWN, known_at, stated=known_at + timedelta(minutes=10))
        before = datetime.now(UTC)
        await produce(
            settings, [(backdated, sign(backdated, key)), (borrowed, sign(borrowed, key)), (unsigned, [])]
        )
        after = datetime.now(UTC)

        detail = await stored(run, "INC-OWN", duty)
        [report] = detail["reports"]
        assert (report["provenance"], report["producer_key"]) == ("signed", key.key_id)
        received = datetime.fromisoformat(report["reported_at"])
        assert before - timedelta(seconds=1) <= received <= after + timedelta(seconds=1)  # the broker's
        assert report["late_by_seconds"] == int((received - known_at - timedelta(minutes=15)).total_seconds())
        # Exactly the lateness the stated time would have erased: the first report, 15 minutes late.
        assert [(e["kind"], e["township"], e["details"]) for e in detail["entries"]] == [
            (
                "late_report",
                TOWN,
                {
                    "deadline": "first_report",
                    "due_at": (known_at + timedelta(minutes=15)).isoformat(),
                    "arrived_at": received.isoformat(),
                    "report_type": "first",
                    "level": "II",
                },
            )
        ]

        dead = await topic_records(settings, settings.kafka_dlq_topic, 2)
        reasons = {r.value: dict(r.headers)["x-dlq-reason"].decode() for r in dead}
        assert reasons == {
            borrowed: f"producer key {key.key_id} speaks for {TOWN}, not for {OTHER}",
            unsigned: "unsigned message: the policy accepts only messages signed with a key the county "
            "issued (intake.accept_unsigned = false; see `alerting producer-key create`)",
        }
        for refused in ("INC-BORROW", "INC-UNSIGNED"):
            response = await run.client.get(
                f"/api/v1/incidents/{refused}", headers={"Authorization": f"Bearer {duty}"}
            )
            assert response.status_code == 404


async def test_unsigned_where_the_policy_allows_it_is_stored_with_the_broker_time_and_says_so(
    sqlite_url: str, kafka_bootstrap: str
) -> None:
    settings = service_settings(sqlite_url, kafka_bootstrap, kafka_topic_partitions=1)
    now = datetime.now(UTC)
    known_at = now - timedelta(minutes=30)
    async with receiver() as hook:
        policy = example_policy(hook.url).model_copy(update={"intake": IntakeRules(accept_unsigned=True)})
        async with running_service(settings, policy, FakeClock(now)) as run:
            duty = await run.token(Role.DUTY_OFFICER)
            value = message("INC-U", TOWN, known_at, stated=known_at + timedelta(minutes=10))
            before = datetime.now(UTC)
            await produce(settings, [(value, [])])
            detail = await stored(run, "INC-U", duty)
    [report] = detail["reports"]
    assert (report["provenance"], report["producer_key"]) == ("unsigned", None)
    assert datetime.fromisoformat(report["reported_at"]) >= before - timedelta(seconds=1)
    assert entry_kinds(detail) == [("late_report", TOWN)]
    [item] = [i for i in detail["timeline"] if i["kind"] == "report"]
    assert "未签名" in item["text"]


async def test_an_existing_topic_with_producer_times_is_switched_and_keeps_its_settings(
    sqlite_url: str, kafka_bootstrap: str
) -> None:
    settings = service_settings(sqlite_url, kafka_bootstrap)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(settings.kafka_topic, 3, 1, topic_configs={"retention.ms": "86400000"})]
        )
    finally:
        await admin.close()
    assert (await topic_config(settings, settings.kafka_topic))["message.timestamp.type"] == "CreateTime"
    async with (
        receiver() as hook,
        running_service(settings, example_policy(hook.url), FakeClock(datetime.now(UTC))),
    ):
        pass
    config = await topic_config(settings, settings.kafka_topic)
    assert (config["message.timestamp.type"], config["retention.ms"]) == ("LogAppendTime", "86400000")


async def test_a_replication_factor_the_brokers_cannot_give_stops_start_up(
    sqlite_url: str, kafka_bootstrap: str
) -> None:
    settings = service_settings(sqlite_url, kafka_bootstrap, kafka_replication_factor=3)
    async with receiver() as hook:
        service = Service(settings, example_policy(hook.url), FakeClock(datetime.now(UTC)))
        try:
            with pytest.raises(SettingsError, match="ALERTING_KAFKA_REPLICATION_FACTOR") as info:
                await service.start()
        finally:
            await service.stop()
    assert "creating it failed (error 38" in str(info.value)  # INVALID_REPLICATION_FACTOR
