"""Poison and odd input produced straight to the topic, all on one partition, with a real broker and the
real service: every bad message lands in the DLQ exactly once with its reason and source offset, the
partition never stalls, valid reports are stored exactly once, and an out-of-order incident ends with
consistent deadlines."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy import func, select

from alerting.audit.queries import entry_detail
from alerting.clock import FakeClock
from alerting.domain import Role
from alerting.storage.engine import create_engine
from alerting.storage.schema import accountability_entries, reports
from consumers.signing import sign
from tests.faults.harness import summary  # prints the line and adds it to the end-of-run report
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

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Asia/Shanghai
TOWN = "城关镇"
KNOWN_AT = T0 - timedelta(minutes=2)


@dataclass(frozen=True)
class Message:
    label: str
    value: bytes | None
    key: bytes
    dlq_reason: str | None = None  # a substring of x-dlq-reason; None: the message is valid


def report(incident_id: str, report_id: str, *, type_: str = "first", township: str = TOWN) -> dict[str, Any]:
    body = report_body(incident_id, township, known_at=KNOWN_AT, type_=type_, report_id=report_id)
    return {"schema_version": 1, **body, "reported_at": T0.isoformat()}


def wire(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


def poison_sequence(max_bytes: int) -> list[Message]:
    huge = report("INC-PZ-HUGE", "r-pz-huge")
    huge["summary"] = "火" * (100 * 1024)  # 3 bytes each in UTF-8: ~300 KiB
    followup = report("INC-PZ-2", "r-pz-2-followup", type_="followup")
    followup["reported_at"] = T0.isoformat()
    first = report("INC-PZ-2", "r-pz-2-first")
    first["reported_at"] = (T0 + timedelta(seconds=30)).isoformat()  # received after the follow-up
    messages = [
        Message("invalid JSON", b'{"incident_id": "INC-PZ-X", not json', b"INC-PZ-X", "not JSON"),
        Message(
            "bad schema",
            wire({"schema_version": 1, "incident_id": "INC-PZ-S", "township": TOWN}),
            b"INC-PZ-S",
            "report_id: Field required",
        ),
        Message(
            "unknown schema version",
            wire({**report("INC-PZ-V", "r-pz-v"), "schema_version": 2}),
            b"INC-PZ-V",
            "schema_version 2 is not supported",
        ),
        Message("over the size limit", wire(huge), b"INC-PZ-HUGE", f"the limit is {max_bytes}"),
        Message("valid", wire(report("INC-PZ-1", "r-pz-1")), b"INC-PZ-1"),
        Message("duplicate", wire(report("INC-PZ-1", "r-pz-1")), b"INC-PZ-1"),
        Message("follow-up before first", wire(followup), b"INC-PZ-2"),
        Message("first after follow-up", wire(first), b"INC-PZ-2"),
        Message(
            "report_id of another incident",
            wire(report("INC-PZ-3", "r-pz-1")),
            b"INC-PZ-3",
            "report_id r-pz-1 already belongs to incident INC-PZ-1",
        ),
        Message(
            "township not in the directory",
            wire(report("INC-PZ-4", "r-pz-4", township="不存在乡")),
            b"INC-PZ-4",
            "township 不存在乡 is not in the policy's township directory",
        ),
        Message("empty value", None, b"INC-PZ-E", "empty message"),
        Message("final valid", wire(report("INC-PZ-5", "r-pz-5")), b"INC-PZ-5"),
    ]
    assert messages[3].value is not None and len(messages[3].value) > max_bytes
    return messages


async def report_rows(run: Running) -> dict[str, int]:
    async with run.service.engine.connect() as conn:
        rows = await conn.execute(select(reports.c.report_id, func.count()).group_by(reports.c.report_id))
        return {report_id: count for report_id, count in rows}


async def entry_kinds(run: Running) -> list[tuple[str | None, str]]:
    async with run.service.engine.connect() as conn:
        rows = await conn.execute(
            select(accountability_entries.c.incident_id, accountability_entries.c.kind).order_by(
                accountability_entries.c.id
            )
        )
        return [(incident_id, kind) for incident_id, kind in rows]


async def read_dlq(bootstrap: str, topic: str, want: int) -> list[Any]:
    """Everything in the DLQ: wait for `want` records, then read on for a while to see any extra."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    records: list[Any] = []
    try:

        async def fetch() -> bool:
            batch = await consumer.getmany(timeout_ms=200)
            records.extend(r for rs in batch.values() for r in rs)
            return len(records) >= want

        await eventually(fetch, what=f"{want} DLQ records")
        for _ in range(5):  # any duplicate would show up here
            batch = await consumer.getmany(timeout_ms=200)
            records.extend(r for rs in batch.values() for r in rs)
    finally:
        await consumer.stop()
    return records


async def test_poison_and_odd_input_on_one_partition(database_url: str, kafka_bootstrap: str) -> None:
    settings = service_settings(database_url, kafka_bootstrap, kafka_topic_partitions=1)
    messages = poison_sequence(settings.max_message_bytes)
    clock = FakeClock(T0)
    async with receiver() as hook, running_service(settings, example_policy(hook.url), clock) as run:
        duty = await run.token(Role.DUTY_OFFICER)
        key = await producer_key(database_url)
        producer = AIOKafkaProducer(
            bootstrap_servers=kafka_bootstrap, acks="all", max_request_size=2 * 1024 * 1024
        )
        await producer.start()
        offsets: dict[int, Message] = {}
        try:
            for message in messages:  # one at a time: the order on the partition is the order here
                headers = sign(message.value, key) if message.value is not None else []
                meta = await producer.send_and_wait(
                    settings.kafka_topic, message.value, key=message.key, headers=headers
                )
                assert meta.partition == 0
                offsets[meta.offset] = message
        finally:
            await producer.stop()
        assert sorted(offsets) == list(range(min(offsets), min(offsets) + len(messages)))
        end = max(offsets) + 1

        # The partition keeps moving: the last message is stored and its offset committed.
        async def final_stored() -> bool:
            return "r-pz-5" in await report_rows(run)

        await eventually(final_stored, what="the final valid report stored")
        tp = TopicPartition(settings.kafka_topic, 0)

        async def committed_to_end() -> bool:
            return bool(await run.service.consumer.consumer.committed(tp) == end)

        await eventually(committed_to_end, what=f"offset {end} committed")

        # Each bad message is in the DLQ exactly once, with its reason and where it came from.
        bad = {offset: m for offset, m in offsets.items() if m.dlq_reason is not None}
        dlq = await read_dlq(kafka_bootstrap, settings.kafka_dlq_topic, len(bad))
        by_offset: dict[int, list[Any]] = {}
        for record in dlq:
            headers = {k: v.decode("utf-8") for k, v in record.headers}
            assert headers["x-source-topic"] == settings.kafka_topic
            assert headers["x-source-partition"] == "0"
            by_offset.setdefault(int(headers["x-source-offset"]), []).append((record, headers))
        assert sorted(by_offset) == sorted(bad), {o: offsets[o].label for o in by_offset}
        for offset, message in bad.items():
            assert len(by_offset[offset]) == 1, f"{message.label}: {len(by_offset[offset])} DLQ copies"
            record, headers = by_offset[offset][0]
            assert message.dlq_reason is not None
            assert message.dlq_reason in headers["x-dlq-reason"], (message.label, headers["x-dlq-reason"])
            assert record.value == message.value, f"{message.label}: not forwarded unchanged"
            assert record.key == message.key

        # Valid reports are stored exactly once; the duplicate changed nothing.
        rows = await report_rows(run)
        assert rows == {"r-pz-1": 1, "r-pz-2-followup": 1, "r-pz-2-first": 1, "r-pz-5": 1}, rows

        # The out-of-order incident: both reports, the first-report deadline met (by the report the
        # county received first), nothing missing or late.
        detail = await run.incident("INC-PZ-2", duty)
        assert sorted(r["report_id"] for r in detail["reports"]) == ["r-pz-2-first", "r-pz-2-followup"]
        first_report = [d for d in detail["deadlines"] if d["kind"] == "first_report"]
        assert len(first_report) == 1 and first_report[0]["state"] == "met", first_report
        assert first_report[0]["met_at"] == "2026-03-02T01:00:00Z"
        assert detail["opened_at"] == "2026-03-02T01:00:00Z"

        # Past every first-report deadline (15 min from known_at) and the ack deadlines (5 min):
        # the ack escalations fire, and no report is missing or late.
        await clock.advance(timedelta(minutes=20))
        expected_entries = [(i, "unacknowledged") for i in ("INC-PZ-1", "INC-PZ-2", "INC-PZ-5")]

        async def acks_fired() -> bool:
            return sorted(await entry_kinds(run)) == expected_entries

        await eventually(acks_fired, what="the ack escalations")
        entries = await entry_kinds(run)
        assert not [e for e in entries if e[1] in ("missing_report", "late_report")], entries
        detail = await run.incident("INC-PZ-2", duty)
        assert [e["kind"] for e in detail["entries"]] == ["unacknowledged"]
        assert [d["state"] for d in detail["deadlines"] if d["kind"] == "first_report"] == ["met"]
        rows = await report_rows(run)
        assert sum(rows.values()) == 4

    sent, stored, dead = len(messages), sum(rows.values()), len(dlq)
    assert (sent, stored, dead, len(entries)) == (12, 4, 7, 3)
    assert sent == stored + dead + 1  # + the duplicate
    backend = settings.database_url.split("+")[0]
    line = summary(
        f"poison ({backend})", sent=sent, stored=stored, dlq=dead, duplicates=1, entries=len(entries)
    )
    assert line.endswith(": sent=12 stored=4 dlq=7 duplicates=1 entries=3")


async def run_token_free_entry(settings: Any, entry_id: int) -> dict[str, Any]:
    """The entry as auditors see it, read straight from the service's database."""
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            return await entry_detail(conn, entry_id, frozenset())
    finally:
        await engine.dispose()


async def test_follow_up_delivered_first_but_received_later(sqlite_url: str, kafka_bootstrap: str) -> None:
    """The first report reached the county on time (reported_at 01:00, due 01:01); the follow-up was
    received at 01:03 but is delivered first on the topic (e.g. by another producer)."""
    settings = service_settings(sqlite_url, kafka_bootstrap, kafka_topic_partitions=1)
    known_at = T0 - timedelta(minutes=14)  # level II: first report due 15 min later, at T0 + 1 min
    followup = report_body("INC-OOO", TOWN, known_at=known_at, type_="followup", report_id="r-ooo-f")
    first = report_body("INC-OOO", TOWN, known_at=known_at, report_id="r-ooo-1")
    messages = [
        {"schema_version": 1, **followup, "reported_at": (T0 + timedelta(minutes=3)).isoformat()},
        {"schema_version": 1, **first, "reported_at": T0.isoformat()},
    ]
    clock = FakeClock(T0 + timedelta(minutes=3))
    async with receiver() as hook, running_service(settings, example_policy(hook.url), clock) as run:
        duty = await run.token(Role.DUTY_OFFICER)
        key = await producer_key(sqlite_url)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for message in messages:
                value = wire(message)
                await producer.send_and_wait(
                    settings.kafka_topic, value, key=b"INC-OOO", headers=sign(value, key)
                )
        finally:
            await producer.stop()

        async def both_stored() -> bool:
            return len((await run.incident("INC-OOO", duty)).get("reports", [])) == 2

        await eventually(both_stored, what="both reports stored")
        detail = await run.incident("INC-OOO", duty)
    first_report = [d for d in detail["deadlines"] if d["kind"] == "first_report"]
    met = [(d["state"], d["met_at"], d["met_by"]) for d in first_report]
    assert met == [("met", "2026-03-02T01:00:00Z", "r-ooo-1")], met
    assert detail["opened_at"] == "2026-03-02T01:00:00Z"
    # The follow-up, judged alone, looked 2 minutes late; the log is append-only, so that entry stays
    # and is waived by a system review naming the earlier report.
    [late] = [e for e in detail["entries"] if e["kind"] == "late_report"]
    auditor = await run_token_free_entry(settings, late["id"])
    assert auditor["status"] == "waived"
    [review] = auditor["reviews"]
    assert (review["responsible"], review["details"]) == (
        "system",
        {
            "decision": "waive",
            "reason": "系统：更早收到的报告 r-ooo-1（2026-03-02T01:00:00+00:00）已按时报送",
            "reviewed_kind": "late_report",
            "status_before": "pending",
            "reviewer_role": "system",
        },
    )
    [ack] = [d for d in detail["deadlines"] if d["kind"] == "ack"]
    assert ack["due_at"] == "2026-03-02T01:05:00Z"  # five minutes from the earlier receipt
