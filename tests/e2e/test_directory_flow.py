"""The directory changed at run time, end to end: a roster imported and a post handed over through
the API reach the very next escalation of a running service, with no restart; the board and the
to-do list show what is open and owed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from alerting.clock import FakeClock
from alerting.domain import Role
from tests.support import (
    Received,
    eventually,
    example_policy,
    receiver,
    report_body,
    running_service,
    service_settings,
)

T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)  # Thursday 09:00 local: 王小明's shift in the example
CSV = (
    "\ufeff开始,结束,值班员,值班员电话,带班领导,带班领导电话\n"
    "2026-11-26 08:30,2026-11-27 08:30,孙七,13900000007,周八,13900000008\n"
).encode()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def told(received: list[Received], incident_id: str) -> list[list[tuple[str, str]]]:
    return [
        [(r["role"], r["name"]) for r in hit.body["recipients"]]
        for hit in received
        if (hit.body.get("incident") or {}).get("id") == incident_id
    ]


async def test_an_imported_roster_and_a_new_section_chief_take_effect_without_a_restart(
    sqlite_url: str, kafka_bootstrap: str
) -> None:
    clock = FakeClock(T0)
    settings = service_settings(sqlite_url, kafka_bootstrap)
    async with receiver() as hook, running_service(settings, example_policy(hook.url), clock) as run:
        section = await run.token(Role.INFO_SECTION)
        duty = await run.token(Role.DUTY_OFFICER)
        town = await run.token(Role.TOWNSHIP, "城关镇")

        async def on_duty() -> dict[str, Any]:
            found = await run.client.get("/api/v1/directory/on-duty", headers=auth(duty))
            return {h["role"]: h["name"] for h in found.json()["holders"]}

        assert (await on_duty())["duty_officer"] == "王小明"  # seeded from the policy's CSV
        refused = await run.client.post(
            "/api/v1/directory/shifts/import", content=CSV, headers={**auth(town), "content-type": "text/csv"}
        )
        assert refused.status_code == 403
        bad = await run.client.post(
            "/api/v1/directory/shifts/import",
            content=CSV.replace(b"13900000007", b""),
            headers={**auth(section), "content-type": "text/csv"},
        )
        assert bad.status_code == 422 and "line 2, column 值班员电话: phone is missing" in bad.text
        imported = await run.client.post(
            "/api/v1/directory/shifts/import",
            params={"note": "调班"},
            content=CSV,
            headers={**auth(section), "content-type": "text/csv"},
        )
        assert imported.status_code == 200, imported.text
        assert (imported.json()["added"], imported.json()["replaced"]) == (1, 1)
        handed = await run.client.put(
            "/api/v1/directory/posts/section_chief",
            json={"holder": {"name": "信息科 周科长", "phone": "0791-80000011"}, "note": "刘科长调任"},
            headers=auth(section),
        )
        assert handed.status_code == 200, handed.text
        assert await on_duty() == {
            "duty_officer": "孙七",
            "leader_on_duty": "周八",
            "section_chief": "信息科 周科长",
            "director": "县委办 陈主任",
        }

        posted = await run.client.post(
            "/api/v1/reports", json=report_body("INC-D1", "城关镇", known_at=T0), headers=auth(town)
        )
        assert posted.status_code == 202, posted.text
        await eventually(lambda: run.incident("INC-D1", duty), what="the report stored")
        answer = await run.client.get("/api/v1/board", headers=auth(duty))
        shown, tag = answer.json(), answer.headers["etag"]
        assert [(i["id"], i["stage"]) for i in shown["incidents"]] == [("INC-D1", "待签收")]
        # Polled again with nothing changed: 304, no body, the same tag.
        again = await run.client.get("/api/v1/board", headers={**auth(duty), "If-None-Match": tag})
        assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", tag)
        assert again.headers["cache-control"] == "private, no-cache"
        assert [(h["role"], h["name"]) for h in shown["on_duty"]][:2] == [
            ("duty_officer", "孙七"),
            ("leader_on_duty", "周八"),
        ]
        owed = (await run.client.get("/api/v1/todo", headers=auth(town))).json()
        assert [o["kind"] for o in owed["owed"]][:2] == ["written_report", "followup"]
        other = await run.client.get("/api/v1/todo", params={"township": "梅林镇"}, headers=auth(town))
        assert other.status_code == 403
        unnamed = await run.client.get("/api/v1/todo", headers=auth(duty))
        assert unnamed.status_code == 422 and "give the township" in unnamed.text
        for minutes, rounds in ((6, 1), (16, 2)):  # the level II ack (5 min) missed, then 10 min more
            await clock.set(T0 + timedelta(minutes=minutes))
            await eventually(
                lambda n=rounds: len(told(hook.received, "INC-D1")) >= n, what=f"{rounds} rounds"
            )
        # The acknowledgement is overdue now: the same tag offered gets the changed board.
        changed = await run.client.get("/api/v1/board", headers={**auth(duty), "If-None-Match": tag})
        assert changed.status_code == 200 and changed.headers["etag"] != tag
        assert changed.json()["incidents"][0]["overdue"] is True
        assert told(hook.received, "INC-D1")[:2] == [
            [("duty_officer", "孙七"), ("leader_on_duty", "周八")],
            [("section_chief", "信息科 周科长")],
        ]
        history = (await run.client.get("/api/v1/directory/changes", headers=auth(duty))).json()
        assert [(c["action"], c["by"], c["note"]) for c in history] == [
            ("post_set", "info_section-", "刘科长调任"),
            ("imported", "info_section-", "调班"),
            ("seeded", "policy", "由策略文件初始化 / seeded from the policy"),
        ]
