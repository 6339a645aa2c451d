"""A township report travels the whole path: HTTP -> Kafka -> database -> deadline -> webhook -> log."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import func, select

from alerting.clock import FakeClock
from alerting.domain import Role
from alerting.storage.engine import reading
from alerting.storage.schema import accountability_entries, deadlines, incidents
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

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Asia/Shanghai
TOWN = "城关镇"


async def post_report(run: Running, token: str, body: dict[str, object]) -> dict[str, object]:
    response = await run.client.post(
        "/api/v1/reports", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 202, response.text
    return dict(response.json())


async def stored(run: Running, incident_id: str, token: str, reports: int = 1) -> dict[str, object]:
    async def check() -> bool:
        return len((await run.incident(incident_id, token)).get("reports", [])) >= reports

    await eventually(check, what=f"incident {incident_id} stored")
    return await run.incident(incident_id, token)


def deadline(detail: dict[str, object], kind: str) -> dict[str, object]:
    return next(d for d in detail["deadlines"] if d["kind"] == kind)  # type: ignore[union-attr, index]


async def test_unacknowledged_escalates_acknowledged_does_not_late_is_recorded(
    database_url: str, kafka_bootstrap: str
) -> None:
    clock = FakeClock(T0)
    async with (
        receiver() as hook,
        running_service(
            service_settings(database_url, kafka_bootstrap), example_policy(hook.url), clock
        ) as run,
    ):
        township = await run.token(Role.TOWNSHIP, TOWN)
        duty = await run.token(Role.DUTY_OFFICER)
        auditor = await run.token(Role.AUDITOR)

        # A: nobody acknowledges. B: acknowledged in time. C: reported 30 min after it was known.
        await post_report(run, township, report_body("INC-A", TOWN, known_at=T0 - timedelta(minutes=2)))
        await post_report(run, township, report_body("INC-B", TOWN, known_at=T0 - timedelta(minutes=2)))
        await post_report(run, township, report_body("INC-C", TOWN, known_at=T0 - timedelta(minutes=30)))
        a = await stored(run, "INC-A", duty)
        await stored(run, "INC-B", duty)
        c = await stored(run, "INC-C", duty)
        assert deadline(a, "ack")["due_at"] == "2026-03-02T01:05:00Z"
        assert deadline(a, "first_report")["state"] == "met"
        assert deadline(a, "written_report")["state"] == "pending"

        await clock.advance(timedelta(minutes=4, seconds=59))
        ack = await run.client.post(
            "/api/v1/incidents/INC-B/ack", headers={"Authorization": f"Bearer {duty}"}
        )
        assert ack.status_code == 200 and ack.json()["already_acknowledged"] is False

        await clock.advance(timedelta(seconds=1))  # exactly the ack deadline of A and C
        ack_a = deadline(a, "ack")["id"]
        await eventually(lambda: f"INC-A:{ack_a}:0" in hook.keys(), what="escalation of INC-A")

        sent = next(r for r in hook.received if r.headers["idempotency-key"] == f"INC-A:{ack_a}:0")
        assert sent.body["deadline"]["kind"] == "ack"
        assert "值班员签收超时" in sent.body["text"]
        assert sent.body["escalation"]["roles"] == ["duty_officer", "leader_on_duty"]
        assert not [k for k in hook.keys() if k.startswith("INC-B:")]

        # The receiver answered; the outbox records the outcome just after that answer.
        async def a_recorded_sent() -> bool:
            notification = (await run.incident("INC-A", duty))["escalations"][0]["notifications"][0]
            return bool(notification["state"] != "sending")

        await eventually(a_recorded_sent, what="INC-A's notification settled")
        a = await run.incident("INC-A", duty)
        assert [e["kind"] for e in a["entries"]] == ["unacknowledged"]
        assert a["escalations"][0]["notifications"][0]["state"] == "sent"
        assert (await run.incident("INC-B", duty))["entries"] == []

        # C's first report came 15 minutes after its 15-minute limit.
        late = [e for e in c["entries"] if e["kind"] == "late_report"]
        assert len(late) == 1 and late[0]["delay_seconds"] == 15 * 60

        page = await run.client.get(
            "/api/v1/accountability",
            params={"township": TOWN, "kind": "late_report"},
            headers={"Authorization": f"Bearer {auditor}"},
        )
        assert page.status_code == 200
        assert [e["incident_id"] for e in page.json()["entries"]] == ["INC-C"]

        # Step 2 goes to the section chief 10 minutes later, with its own idempotency key.
        await clock.advance(timedelta(minutes=10))
        await eventually(lambda: f"INC-A:{ack_a}:1" in hook.keys(), what="step 2 of INC-A")
        roles = [
            r.body["escalation"]["roles"]
            for r in hook.received
            if r.headers["idempotency-key"] == f"INC-A:{ack_a}:1"
        ]
        assert roles == [["section_chief"]]

        metrics = (await run.client.get("/metrics")).text
        assert 'alerting_notifications_total{channel="county_webhook",outcome="sent"}' in metrics
        assert "alerting_late_reports_total 1.0" in metrics


async def test_poison_message_goes_to_dlq_and_the_partition_moves_on(
    sqlite_url: str, kafka_bootstrap: str
) -> None:
    settings = service_settings(sqlite_url, kafka_bootstrap, kafka_topic_partitions=1)
    clock = FakeClock(T0)
    async with receiver() as hook, running_service(settings, example_policy(hook.url), clock) as run:
        duty = await run.token(Role.DUTY_OFFICER)
        key = await producer_key(sqlite_url)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(
                settings.kafka_topic, b"{not json", key=b"INC-D", headers=sign(b"{not json", key)
            )
            valid = report_body("INC-D", TOWN, known_at=T0, report_id="r-d-1")
            valid["reported_at"] = T0.isoformat()
            value = json.dumps(valid).encode()
            await producer.send_and_wait(settings.kafka_topic, value, key=b"INC-D", headers=sign(value, key))
        finally:
            await producer.stop()

        detail = await stored(run, "INC-D", duty)
        assert detail["reports"][0]["report_id"] == "r-d-1"

        dlq = AIOKafkaConsumer(
            settings.kafka_dlq_topic,
            bootstrap_servers=kafka_bootstrap,
            auto_offset_reset="earliest",
            group_id=None,
        )
        await dlq.start()
        try:
            batch = await dlq.getmany(timeout_ms=10_000)
            records = [r for rs in batch.values() for r in rs]
        finally:
            await dlq.stop()
        assert [r.value for r in records] == [b"{not json"]
        headers = dict(records[0].headers)
        assert headers["x-dlq-reason"].decode().startswith("not JSON")
        assert headers["x-source-topic"].decode() == settings.kafka_topic


async def test_deadline_that_fell_due_while_down_fires_once_at_startup(
    sqlite_url: str, kafka_bootstrap: str
) -> None:
    settings = service_settings(sqlite_url, kafka_bootstrap)
    clock = FakeClock(T0)
    async with receiver() as hook:
        policy = example_policy(hook.url)
        async with running_service(settings, policy, clock) as run:
            township = await run.token(Role.TOWNSHIP, TOWN)
            duty = await run.token(Role.DUTY_OFFICER)
            await post_report(run, township, report_body("INC-E", TOWN, known_at=T0))
            detail = await stored(run, "INC-E", duty)
        ack_id = deadline(detail, "ack")["id"]
        assert hook.received == []

        await clock.advance(timedelta(minutes=7))  # the ack deadline (5 min) passes while the service is down
        async with running_service(settings, policy, clock) as run:
            await eventually(lambda: f"INC-E:{ack_id}:0" in hook.keys(), what="catch-up firing")
            loop = run.service.deadlines
            for _ in range(3):  # later ticks, still before step 2, must not fire it again
                await clock.advance(timedelta(seconds=1))
                await eventually(lambda before=loop.ticks: loop.ticks > before, what="another tick")
            detail = await run.incident("INC-E", duty)
        assert hook.keys().count(f"INC-E:{ack_id}:0") == 1
        assert len(hook.received) == 1
        assert [e["round"] for e in detail["escalations"]] == [0]
        assert [e["kind"] for e in detail["entries"]] == ["unacknowledged"]


async def test_notification_retried_on_5xx_with_the_same_key(sqlite_url: str, kafka_bootstrap: str) -> None:
    clock = FakeClock(T0)
    async with (
        receiver(script=[503, 502]) as hook,
        running_service(
            service_settings(sqlite_url, kafka_bootstrap), example_policy(hook.url), clock
        ) as run,
    ):
        township = await run.token(Role.TOWNSHIP, TOWN)
        duty = await run.token(Role.DUTY_OFFICER)
        await post_report(run, township, report_body("INC-F", TOWN, known_at=T0))
        detail = await stored(run, "INC-F", duty)
        await clock.advance(timedelta(minutes=5))
        await eventually(lambda: len(hook.received) == 1, what="first attempt")
        await clock.advance(timedelta(seconds=3))  # backoff after attempt 1 is 1-2 s
        await eventually(lambda: len(hook.received) == 2, what="second attempt")
        await clock.advance(timedelta(seconds=5))  # after attempt 2: 2-4 s
        await eventually(lambda: len(hook.received) == 3, what="third attempt")
        key = f"INC-F:{deadline(detail, 'ack')['id']}:0"
        assert hook.keys() == [key, key, key]

        async def delivered() -> bool:
            n = (await run.incident("INC-F", duty))["escalations"][0]["notifications"][0]
            return bool(n["state"] == "sent" and n["attempts"] == 3)

        await eventually(delivered, what="recorded as sent")


async def test_tokens_and_roles(sqlite_url: str, kafka_bootstrap: str) -> None:
    clock = FakeClock(T0)
    async with (
        receiver() as hook,
        running_service(
            service_settings(sqlite_url, kafka_bootstrap), example_policy(hook.url), clock
        ) as run,
    ):
        township = await run.token(Role.TOWNSHIP, TOWN)
        auditor = await run.token(Role.AUDITOR)
        body = report_body("INC-G", TOWN, known_at=T0)

        assert (await run.client.post("/api/v1/reports", json=body)).status_code == 401
        bad = await run.client.post(
            "/api/v1/reports", json=body, headers={"Authorization": "Bearer alt_wrong"}
        )
        assert bad.status_code == 401
        other = await run.client.post(
            "/api/v1/reports",
            json=report_body("INC-G", "梅林镇", known_at=T0),
            headers={"Authorization": f"Bearer {township}"},
        )
        assert other.status_code == 403 and "城关镇" in other.json()["detail"]
        auditor_post = await run.client.post(
            "/api/v1/reports", json=body, headers={"Authorization": f"Bearer {auditor}"}
        )
        assert auditor_post.status_code == 403
        ack = await run.client.post(
            "/api/v1/incidents/INC-G/ack", headers={"Authorization": f"Bearer {township}"}
        )
        assert ack.status_code == 403
        entries = await run.client.get(
            "/api/v1/accountability", headers={"Authorization": f"Bearer {township}"}
        )
        assert entries.status_code == 403
        invalid = await run.client.post(
            "/api/v1/reports", json={**body, "level": "V"}, headers={"Authorization": f"Bearer {township}"}
        )
        assert invalid.status_code == 422 and "level" in invalid.text
        assert (await run.client.get("/healthz")).status_code == 200
        ready = await run.client.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"database": "ok", "kafka": "ok", "intake": "ok"}


async def test_the_county_re_grades_an_incident_with_a_reason(sqlite_url: str, kafka_bootstrap: str) -> None:
    clock = FakeClock(T0 + timedelta(minutes=1))
    async with (
        receiver() as hook,
        running_service(
            service_settings(sqlite_url, kafka_bootstrap), example_policy(hook.url), clock
        ) as run,
    ):
        township = await run.token(Role.TOWNSHIP, TOWN)
        section = await run.token(Role.INFO_SECTION)
        await post_report(run, township, {**report_body("INC-L", TOWN, known_at=T0), "level": "III"})
        detail = await stored(run, "INC-L", section)
        assert deadline(detail, "written_report")["due_at"] == "2026-03-02T02:00:00Z"  # III: 60 min

        async def regrade(token: str, level: str, reason: str) -> httpx.Response:
            return await run.client.post(
                "/api/v1/incidents/INC-L/level",
                json={"level": level, "reason": reason},
                headers={"Authorization": f"Bearer {token}"},
            )

        assert (await regrade(township, "IV", "无人伤亡")).status_code == 403
        blank = await regrade(section, "IV", "  \u3000 ")
        assert blank.status_code == 422 and "请填写调整理由" in blank.text
        await clock.advance(timedelta(minutes=29))
        done = await regrade(section, "IV", "经核实无人员伤亡")
        assert done.status_code == 200, done.text
        moved = {c["kind"]: (c["from"], c["to"]) for c in done.json()["deadlines"]}
        assert moved["written_report"] == ("2026-03-02T02:00:00Z", "2026-03-02T03:30:00Z")  # 01:30 + 2h
        again = await regrade(section, "IV", "再次调整")
        assert again.status_code == 409 and "IV" in again.json()["detail"]
        detail = await run.incident("INC-L", section)
    assert detail["level"] == "IV"
    assert deadline(detail, "written_report")["due_at"] == "2026-03-02T03:30:00Z"
    texts = [t["text"] for t in detail["timeline"]]  # type: ignore[union-attr]
    assert any("调整为 IV（理由：经核实无人员伤亡）" in t for t in texts), texts


async def test_registering_an_unknown_township_is_refused_with_the_known_ones(
    sqlite_url: str, kafka_bootstrap: str
) -> None:
    async with (
        receiver() as hook,
        running_service(
            service_settings(sqlite_url, kafka_bootstrap), example_policy(hook.url), FakeClock(T0)
        ) as run,
    ):
        section = await run.token(Role.INFO_SECTION)
        response = await run.client.post(
            "/api/v1/incidents",
            json={
                "township": "不存在镇",
                "level": "III",
                "category": "安全生产",
                "title": "热线反映某工地事故",
                "source": "hotline",
            },
            headers={"Authorization": f"Bearer {section}"},
        )
        assert response.status_code == 422
        [problem] = response.json()["detail"]
        assert problem["loc"] == ["body", "township"]
        assert "不存在镇" in problem["msg"] and "城关镇" in problem["msg"]
        assert (
            await run.client.get("/api/v1/incidents", headers={"Authorization": f"Bearer {section}"})
        ).json() == []


async def test_registering_routine_information_or_an_impossible_time_is_refused(
    sqlite_url: str, kafka_bootstrap: str
) -> None:
    """A routine category would arm a concealment check (and then a concealment_suspected entry) for
    information that has no urgent clocks; an incident cannot occur after the county learned of it.
    Both are refused with every reason, and nothing is written."""
    async with (
        receiver() as hook,
        running_service(
            service_settings(sqlite_url, kafka_bootstrap), example_policy(hook.url), FakeClock(T0)
        ) as run,
    ):
        section = await run.token(Role.INFO_SECTION)
        response = await run.client.post(
            "/api/v1/incidents",
            json={
                "township": "城关镇",
                "level": "III",
                "category": "社情民意",
                "title": "群众反映某小区供水问题",
                "source": "hotline",
                "occurred_at": (T0 + timedelta(hours=1)).isoformat(),
                "learned_at": T0.isoformat(),
            },
            headers={"Authorization": f"Bearer {section}"},
        )
        assert response.status_code == 422
        problems = {tuple(p["loc"]): p["msg"] for p in response.json()["detail"]}
        assert set(problems) == {("body", "category"), ("body", "occurred_at")}
        assert (
            "社情民意" in problems[("body", "category")]
            and "POST /api/v1/items" in problems[("body", "category")]
        )
        assert (
            problems[("body", "occurred_at")]
            == "发生时间晚于获悉时间 / it occurred after the county learned of it"
        )
        async with reading(run.service.engine) as conn:
            written = [
                (await conn.execute(select(func.count()).select_from(incidents))).scalar_one(),
                (  # the townships' own clocks (silence, periodic duties) are there from the start
                    await conn.execute(
                        select(func.count())
                        .select_from(deadlines)
                        .where(deadlines.c.incident_id.is_not(None))
                    )
                ).scalar_one(),
                (await conn.execute(select(func.count()).select_from(accountability_entries))).scalar_one(),
            ]
    assert written == [0, 0, 0]
