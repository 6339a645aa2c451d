"""Notices and inspections over HTTP, with the running service on SQLite and on PostgreSQL: who may send
and record, what a township sees and marks read, and what is refused (403, 404, 422)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alerting.clock import FakeClock
from alerting.domain import Role
from tests.support import example_policy, running_service, service_settings

T0 = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)  # Tuesday 10:00 Asia/Shanghai
A, B, C = "城关镇", "梅林镇", "青山乡"
ALL_MET = {k: True for k in ("office", "funding", "equipment", "publications", "leader", "staff")}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def notice(**changes: Any) -> dict[str, Any]:
    return {"kind": "reporting_points", "title": "二季度报送要点", "body": "重点报送春耕进展……", **changes}


async def test_notices_sent_listed_read_once_and_refused(database_url: str, kafka_bootstrap: str) -> None:
    settings = service_settings(database_url, kafka_bootstrap)
    async with running_service(settings, example_policy("http://127.0.0.1:9/hook"), FakeClock(T0)) as run:
        section, town, other = (
            await run.token(Role.INFO_SECTION),
            await run.token(Role.TOWNSHIP, A),
            await run.token(Role.TOWNSHIP, B),
        )
        post = run.client.post
        everyone = await post("/api/v1/notices", json=notice(kind="work_update"), headers=auth(section))
        await run.clock.set(T0.replace(minute=30))  # the second is the newer
        two = await post("/api/v1/notices", json=notice(townships=[A, C]), headers=auth(section))
        assert (everyone.status_code, two.status_code) == (201, 201), two.text
        everyone_id, two_id = everyone.json()["id"], two.json()["id"]
        assert (everyone.json()["unread"], two.json()["unread"]) == ([A, B, C], [A, C])

        # Refused: a township sending, an unknown township (naming the known ones), an empty title.
        assert (await post("/api/v1/notices", json=notice(), headers=auth(town))).status_code == 403
        unknown = await post("/api/v1/notices", json=notice(townships=[A, "不存在镇"]), headers=auth(section))
        assert unknown.status_code == 422
        assert unknown.json()["detail"][0]["loc"] == ["body", "township"]
        assert "不存在镇 不在乡镇名录中，可选：城关镇、梅林镇、青山乡" in unknown.json()["detail"][0]["msg"]
        empty = await post("/api/v1/notices", json=notice(title="   "), headers=auth(section))
        assert empty.status_code == 422 and empty.json()["detail"][0]["loc"] == ["body", "title"]

        # A township lists only what was sent to it, and reads only that.
        listed = (await run.client.get("/api/v1/notices", headers=auth(other))).json()
        assert [(n["id"], n["read"]) for n in listed] == [(everyone_id, False)]
        assert (await run.client.get(f"/api/v1/notices/{two_id}", headers=auth(other))).status_code == 403
        assert (await post(f"/api/v1/notices/{two_id}/read", headers=auth(other))).status_code == 403
        assert (await post("/api/v1/notices/ntc-none/read", headers=auth(town))).status_code == 404

        first = await post(f"/api/v1/notices/{everyone_id}/read", headers=auth(town))
        await run.clock.set(T0.replace(hour=5))  # read again later
        again = await post(f"/api/v1/notices/{everyone_id}/read", headers=auth(town))
        assert (first.status_code, again.status_code) == (200, 200)
        assert (first.json()["already_read"], again.json()["already_read"]) == (False, True)
        assert again.json()["read_at"] == first.json()["read_at"] == "2026-03-03T02:30:00Z"
        mine = (await run.client.get(f"/api/v1/notices/{everyone_id}", headers=auth(town))).json()
        assert (mine["township"], mine["read"], "reads" in mine) == (A, True, False)

        seen = (await run.client.get(f"/api/v1/notices/{everyone_id}", headers=auth(section))).json()
        assert [(r["township"], r["read"], r["read_by"]) for r in seen["reads"]] == [
            (A, True, f"{Role.TOWNSHIP.value}-{A}"),
            (B, False, None),
            (C, False, None),
        ]
        sent = (await run.client.get("/api/v1/notices", headers=auth(section))).json()
        assert [(n["id"], n["addressed"], n["read_count"]) for n in sent] == [
            (two_id, 2, 0),
            (everyone_id, 3, 1),
        ]


async def test_inspections_recorded_listed_and_refused(database_url: str, kafka_bootstrap: str) -> None:
    settings = service_settings(database_url, kafka_bootstrap)
    async with running_service(settings, example_policy("http://127.0.0.1:9/hook"), FakeClock(T0)) as run:
        section, town = await run.token(Role.INFO_SECTION), await run.token(Role.TOWNSHIP, A)
        body = {"township": A, "inspected_on": "2026-01-15", "inspectors": ["李四"], "note": "缺刊物"}
        first = {**body, "findings": {**ALL_MET, "publications": False}}
        second = {**body, "inspected_on": "2026-03-02", "findings": ALL_MET, "note": "已整改"}
        for one in (first, second):
            made = await run.client.post("/api/v1/inspections", json=one, headers=auth(section))
            assert made.status_code == 201, made.text
        missing = {**body, "findings": {k: v for k, v in ALL_MET.items() if k != "staff"}}
        refused = await run.client.post("/api/v1/inspections", json=missing, headers=auth(section))
        assert refused.status_code == 422 and refused.json()["detail"][0]["loc"][-1] == "staff"
        future = {**second, "inspected_on": "2026-03-04"}
        assert (
            await run.client.post("/api/v1/inspections", json=future, headers=auth(section))
        ).status_code == 422
        assert (
            await run.client.post("/api/v1/inspections", json=second, headers=auth(town))
        ).status_code == 403

        history = (await run.client.get(f"/api/v1/inspections?township={A}", headers=auth(section))).json()
        assert [(i["inspected_on"], i["met"], i["unmet_zh"]) for i in history] == [
            ("2026-03-02", 6, []),
            ("2026-01-15", 5, ["有相关刊物"]),
        ]
        latest = (await run.client.get("/api/v1/inspections/latest", headers=auth(town))).json()
        assert [(i["township"], i["inspected_on"]) for i in latest] == [(A, "2026-03-02")]
        own = await run.client.get("/api/v1/inspections", headers=auth(town))
        assert [i["note"] for i in own.json()] == ["已整改", "缺刊物"]
        assert (
            await run.client.get(f"/api/v1/inspections?township={B}", headers=auth(town))
        ).status_code == 403
