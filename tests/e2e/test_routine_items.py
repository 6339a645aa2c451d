"""Routine items end to end: HTTP and a direct producer, over the real broker, into the database;
the information section reviews and forwards; a township can do neither, nor bypass the county."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select

from alerting.clock import FakeClock
from alerting.domain import Role
from alerting.storage.schema import accountability_entries, deadlines
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

T0 = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)  # Tuesday 10:00 Asia/Shanghai


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def item_body(township: str = "城关镇", **changes: Any) -> dict[str, Any]:
    return {
        "township": township,
        "category": "社情民意",
        "title": "群众反映农村客运班次减少",
        "text": "近期多名群众反映……",
        "attachments": ["调查表.docx"],
        "reporter": {"name": "信息员王五", "phone": "0791-80000009"},
        **changes,
    }


async def stored(run: Running, item_id: str, token: str, version: int = 1) -> dict[str, Any]:
    async def check() -> bool:
        found = await run.client.get(f"/api/v1/items/{item_id}", headers=auth(token))
        return found.status_code == 200 and found.json()["version"] == version

    await eventually(check, what=f"item {item_id} version {version} stored")
    return dict((await run.client.get(f"/api/v1/items/{item_id}", headers=auth(token))).json())


async def test_a_routine_item_is_reviewed_revised_adopted_and_forwarded_by_the_county_alone(
    sqlite_url: str, kafka_bootstrap: str
) -> None:
    settings = service_settings(sqlite_url, kafka_bootstrap)
    async with receiver() as hook, running_service(settings, example_policy(hook.url), FakeClock(T0)) as run:
        town = await run.token(Role.TOWNSHIP, "城关镇")
        other = await run.token(Role.TOWNSHIP, "梅林镇")
        section = await run.token(Role.INFO_SECTION)

        # Routine categories are refused as urgent reports, and urgent ones as routine items.
        urgent = report_body("SQMY-1", "城关镇", known_at=T0)
        urgent["category"] = "社情民意"
        refused = await run.client.post("/api/v1/reports", json=urgent, headers=auth(town))
        assert refused.status_code == 422
        assert (
            "社情民意 is a routine category: submit it as a routine item"
            in refused.json()["detail"][0]["msg"]
        )
        wrong = await run.client.post("/api/v1/items", json=item_body(category="火灾"), headers=auth(town))
        assert wrong.status_code == 422 and "the routine categories are: 工作动态、" in wrong.text

        accepted = await run.client.post("/api/v1/items", json=item_body(), headers=auth(town))
        assert accepted.status_code == 202, accepted.text
        item_id = accepted.json()["item_id"]
        item = await stored(run, item_id, section)
        assert (item["status"], item["township"], item["versions"][0]["attachments"]) == (
            "submitted",
            "城关镇",
            ["调查表.docx"],
        )
        assert (await run.client.get(f"/api/v1/items/{item_id}", headers=auth(other))).status_code == 403

        # A township decides nothing and forwards nothing (不得越级上报).
        adopt = {"decision": "adopt", "version": 1, "level": "county"}
        for path, body in (("decision", adopt), ("forwards", {"to": "市委办"})):
            response = await run.client.post(f"/api/v1/items/{item_id}/{path}", json=body, headers=auth(town))
            assert response.status_code == 403, path
        no_reason = {"decision": "return", "version": 1}
        assert (
            await run.client.post(f"/api/v1/items/{item_id}/decision", json=no_reason, headers=auth(section))
        ).status_code == 422

        returned = await run.client.post(
            f"/api/v1/items/{item_id}/decision",
            json={"decision": "return", "version": 1, "reason": "请补充涉及线路"},
            headers=auth(section),
        )
        assert returned.status_code == 200 and returned.json()["status"] == "returned"
        revised = await run.client.post(
            "/api/v1/items", json=item_body(item_id=item_id, text="涉及3条线路……"), headers=auth(town)
        )
        assert revised.status_code == 202
        await stored(run, item_id, section, version=2)

        stale = await run.client.post(f"/api/v1/items/{item_id}/decision", json=adopt, headers=auth(section))
        assert stale.status_code == 409 and "version 1 is stale: version 2 is current" in stale.text
        adopt = {
            "decision": "adopt",
            "version": 2,
            "level": "city",
            "publication": "《XX信息》",
            "issue": "第12期",
        }
        done = await run.client.post(f"/api/v1/items/{item_id}/decision", json=adopt, headers=auth(section))
        assert done.status_code == 200 and done.json()["adoption_level"] == "city"
        again = await run.client.post("/api/v1/items", json=item_body(item_id=item_id), headers=auth(town))
        assert again.status_code == 409
        forwarded = await run.client.post(
            f"/api/v1/items/{item_id}/forwards", json={"to": "市委办"}, headers=auth(section)
        )
        assert forwarded.status_code == 201
        assert [e["kind"] for e in forwarded.json()["timeline"]] == [
            "submitted",
            "returned",
            "submitted",
            "adopted",
            "forwarded",
        ]
        mine = (await run.client.get("/api/v1/items", headers=auth(other))).json()
        assert mine == []  # 梅林镇 sees only its own

        async with run.service.engine.connect() as conn:
            clocks = (
                await conn.execute(
                    select(func.count()).select_from(deadlines).where(deadlines.c.incident_id.isnot(None))
                )
            ).scalar()
            entries = (await conn.execute(select(func.count()).select_from(accountability_entries))).scalar()
        assert (clocks, entries) == (0, 0)


async def test_a_direct_producer_sends_a_routine_item(sqlite_url: str, kafka_bootstrap: str) -> None:
    settings = service_settings(sqlite_url, kafka_bootstrap)
    async with receiver() as hook, running_service(settings, example_policy(hook.url), FakeClock(T0)) as run:
        section = await run.token(Role.INFO_SECTION)
        key = await producer_key(sqlite_url)
        message = {
            "schema_version": 1,
            "type": "routine",
            "submission_id": "gw-1",
            "item_id": "gw-1",
            "submitted_at": T0.isoformat(),
            **item_body(category="工作动态", title="城关镇召开信息工作会议"),
        }
        value = json.dumps(message, ensure_ascii=False).encode()
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(settings.kafka_topic, value, key=b"gw-1", headers=sign(value, key))
        finally:
            await producer.stop()
        item = await stored(run, "gw-1", section)
    assert (item["title"], item["status"], item["submitted_at"]) == (
        "城关镇召开信息工作会议",
        "submitted",
        T0.isoformat().replace("+00:00", "Z"),
    )
    assert (item["versions"][0]["provenance"], item["versions"][0]["producer_key"]) == ("signed", key.key_id)


async def test_an_assignment_is_owed_then_met_by_the_item_that_answers_it(
    sqlite_url: str, kafka_bootstrap: str
) -> None:
    settings = service_settings(sqlite_url, kafka_bootstrap)
    async with receiver() as hook, running_service(settings, example_policy(hook.url), FakeClock(T0)) as run:
        town = await run.token(Role.TOWNSHIP, "城关镇")
        section = await run.token(Role.INFO_SECTION)
        body = {
            "title": "春耕备耕工作信息",
            "note": "请报送进展",
            "due_on": "2026-03-10",
            "townships": ["城关镇"],
        }
        assert (
            await run.client.post("/api/v1/assignments", json=body, headers=auth(town))
        ).status_code == 403
        past = await run.client.post(
            "/api/v1/assignments", json={**body, "due_on": "2026-03-01"}, headers=auth(section)
        )
        assert past.status_code == 422 and "the due time is in the past" in past.text
        nowhere = await run.client.post(
            "/api/v1/assignments", json={**body, "townships": ["不存在镇"]}, headers=auth(section)
        )
        assert nowhere.status_code == 422 and "不存在镇" in nowhere.text
        created = await run.client.post("/api/v1/assignments", json=body, headers=auth(section))
        assert created.status_code == 201, created.text
        assignment = created.json()
        assert assignment["due_at"] == "2026-03-10T16:00:00Z"  # the end of the day, local time

        owed = (await run.client.get("/api/v1/assignments", headers=auth(town))).json()
        assert [(a["id"], [p["state"] for p in a["parts"]]) for a in owed] == [(assignment["id"], ["owed"])]
        answer = item_body(category="工作动态", title="城关镇春耕备耕进展", assignment_id=assignment["id"])
        assert (await run.client.post("/api/v1/items", json=answer, headers=auth(town))).status_code == 202
        wrong = item_body(category="工作动态", assignment_id="asg-none")
        assert (await run.client.post("/api/v1/items", json=wrong, headers=auth(town))).status_code == 422

        async def met() -> bool:
            found = await run.client.get(f"/api/v1/assignments/{assignment['id']}", headers=auth(section))
            return [p["state"] for p in found.json()["parts"]] == ["met"]

        await eventually(met, what="the assignment met by the item")


async def test_the_officer_register_is_kept_by_the_section_and_read_by_the_township(
    sqlite_url: str, kafka_bootstrap: str
) -> None:
    settings = service_settings(sqlite_url, kafka_bootstrap)
    async with receiver() as hook, running_service(settings, example_policy(hook.url), FakeClock(T0)) as run:
        town = await run.token(Role.TOWNSHIP, "城关镇")
        section = await run.token(Role.INFO_SECTION)
        term = {
            "township": "城关镇",
            "name": "王五",
            "phone": "13800000201",
            "employment": "full_time",
            "starts_on": "2026-01-01",
            "note": "新任专职信息员",
        }
        assert (await run.client.post("/api/v1/officers", json=term, headers=auth(town))).status_code == 403
        inverted = {**term, "ends_on": "2025-12-31"}
        assert (
            await run.client.post("/api/v1/officers", json=inverted, headers=auth(section))
        ).status_code == 422
        created = await run.client.post("/api/v1/officers", json=term, headers=auth(section))
        assert created.status_code == 201, created.text
        again = await run.client.post("/api/v1/officers", json=term, headers=auth(section))
        assert again.status_code == 409 and "overlaps term" in again.text
        ended = await run.client.post(
            f"/api/v1/officers/{created.json()['id']}/end",
            json={"ends_on": "2026-03-31", "note": "调离"},
            headers=auth(section),
        )
        assert [c["kind"] for c in ended.json()["changes"]] == ["registered", "ended"]
        own = (await run.client.get("/api/v1/officers", headers=auth(town))).json()
        assert [(o["name"], o["ends_on"]) for o in own] == [("王五", "2026-03-31")]
        other = await run.client.get("/api/v1/officers", params={"township": "梅林镇"}, headers=auth(town))
        assert other.status_code == 403
