"""Every accountability kind the county's rules produce, through real Kafka, a real database and a real
webhook receiver, on a fake clock walked through one quarter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from alerting.clock import FakeClock
from alerting.domain import Role
from tests.support import (
    Running,
    eventually,
    example_policy,
    receiver,
    report_body,
    running_service,
    service_settings,
)

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 2026-03-02 09:00 Asia/Shanghai
TOWNS = ("城关镇", "梅林镇", "青山乡")


class County:
    """The people using the service in this scenario, each with their own token."""

    def __init__(self, run: Running, tokens: dict[str, str]) -> None:
        self.run = run
        self.tokens = tokens

    def _auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def report(
        self, town: str, incident_id: str, report_id: str, *, type_: str, known_at: datetime, **extra: Any
    ) -> None:
        body = {
            **report_body(incident_id, town, known_at=known_at, type_=type_, report_id=report_id),
            **extra,
        }
        response = await self.run.client.post("/api/v1/reports", json=body, headers=self._auth(town))
        assert response.status_code == 202, response.text
        await eventually(lambda: self._stored(incident_id, report_id), what=f"{report_id} stored")

    async def item(self, town: str, category: str, title: str) -> str:
        """A routine item (日常信息) through POST /api/v1/items; its id once stored."""
        body = {
            "township": town,
            "category": category,
            "title": title,
            "text": f"{title}：详见正文",
            "reporter": {"name": "信息员", "phone": "0791-80000009"},
        }
        response = await self.run.client.post("/api/v1/items", json=body, headers=self._auth(town))
        assert response.status_code == 202, response.text
        item_id = str(response.json()["item_id"])

        async def stored() -> bool:
            found = await self.run.client.get(f"/api/v1/items/{item_id}", headers=self._auth("section"))
            return found.status_code == 200

        await eventually(stored, what=f"item {item_id} stored")
        return item_id

    async def _stored(self, incident_id: str, report_id: str) -> bool:
        detail = await self.run.incident(incident_id, self.tokens["duty"])
        return report_id in {r["report_id"] for r in detail.get("reports", [])}

    async def post(self, path: str, json: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.run.client.post(path, json=json, headers=self._auth("duty"))
        assert response.status_code in (200, 201), response.text
        return dict(response.json())

    async def entries(self) -> list[dict[str, Any]]:
        response = await self.run.client.get(
            "/api/v1/accountability", params={"limit": 1000}, headers=self._auth("auditor")
        )
        assert response.status_code == 200
        return list(response.json()["entries"])

    async def until(self, when: datetime, *expected: tuple[str, str | None]) -> list[dict[str, Any]]:
        """Move the clock to `when` and wait for the (kind, township) entries it must produce."""
        await self.run.clock.set(when)

        async def present() -> bool:
            got = {(e["kind"], e["township"]) for e in await self.entries()}
            return all(item in got for item in expected)

        await eventually(present, what=f"entries {expected} by {when.isoformat()}")
        return await self.entries()


async def test_a_quarter_of_county_rules(sqlite_url: str, kafka_bootstrap: str) -> None:
    clock = FakeClock(T0)
    async with (
        receiver() as hook,
        running_service(
            service_settings(sqlite_url, kafka_bootstrap), example_policy(hook.url), clock
        ) as run,
    ):
        tokens = {town: await run.token(Role.TOWNSHIP, town) for town in TOWNS}
        tokens["duty"] = await run.token(Role.DUTY_OFFICER)
        tokens["auditor"] = await run.token(Role.AUDITOR)
        tokens["section"] = await run.token(Role.INFO_SECTION)
        county = County(run, tokens)
        known = T0 - timedelta(minutes=2)

        # 09:00 城关镇 phones in a level II fire; the duty officer acknowledges and phones the city.
        await county.report(
            "城关镇",
            "INC-1",
            "r1-first",
            type_="first",
            known_at=known,
            casualties={"deaths": 0, "injured": 2},
        )
        await clock.set(T0 + timedelta(minutes=3))
        await county.post("/api/v1/incidents/INC-1/ack")
        await county.post("/api/v1/incidents/INC-1/forward", {"mode": "phone"})

        # 09:10 the county hears of a level III incident in 梅林镇 on the hotline; 梅林镇 never reports.
        await clock.set(T0 + timedelta(minutes=10))
        registered = await county.post(
            "/api/v1/incidents",
            {
                "incident_id": "INC-2",
                "township": "梅林镇",
                "level": "III",
                "category": "群体性事件",
                "title": "群众聚集",
                "source": "hotline",
            },
        )
        assert registered["township_report_due"] == "2026-03-02T01:30:00Z"  # 20 min, level III

        # 09:45: the written report (due 09:38) is missing, then arrives late; the county never sent
        # its written report to the city (due 10:00); 梅林镇 is suspected of concealment (09:30).
        await county.until(
            T0 + timedelta(minutes=45), ("missing_report", "城关镇"), ("concealment_suspected", "梅林镇")
        )
        await county.report("城关镇", "INC-1", "r1-written", type_="written", known_at=known)
        await county.until(
            T0 + timedelta(hours=1, minutes=1), ("late_report", "城关镇"), ("forward_overdue", "城关镇")
        )

        # Follow-ups every 2 h from 08:58: the one due 10:58 arrives, the one due 12:58 does not.
        await clock.set(T0 + timedelta(hours=1, minutes=30))
        await county.report("城关镇", "INC-1", "r1-followup-1", type_="followup", known_at=known)
        await county.until(T0 + timedelta(hours=4), ("followup_overdue", "城关镇"))

        # A correction: one person died, not none -> the first report was erroneous on that fact.
        await county.report(
            "城关镇",
            "INC-1",
            "r1-correction",
            type_="correction",
            known_at=known,
            casualties={"deaths": 1, "injured": 2},
        )
        entries = await county.entries()
        [erroneous] = [e for e in entries if e["kind"] == "erroneous_report"]
        assert erroneous["details"]["fields"] == ["deaths"]
        assert erroneous["details"]["before"] == {"deaths": 0} and erroneous["details"]["after"] == {
            "deaths": 1
        }

        # 3-5 March: 城关镇 sends its monthly key-project progress; 青山乡 sends only good news. Both
        # are routine items: no urgent clocks, and no entries of their own.
        await clock.set(datetime(2026, 3, 5, 2, 0, tzinfo=UTC))
        await county.item("城关镇", "重点项目", "城关镇三月重点项目进展")
        await county.item("青山乡", "经验做法", "青山乡垃圾分类经验")
        incidents = await run.client.get("/api/v1/incidents", headers=county._auth("duty"))
        assert not {"城关镇三月重点项目进展", "青山乡垃圾分类经验"} & {i["title"] for i in incidents.json()}

        # 16 March 00:00 local: 梅林镇 and 青山乡 owe the key-project report (due by the 15th).
        await county.until(
            datetime(2026, 3, 15, 16, 0, 1, tzinfo=UTC),
            ("periodic_overdue", "梅林镇"),
            ("periodic_overdue", "青山乡"),
        )
        # 梅林镇 has been silent since 2 March: flagged after 15 working days (24 March 00:00 local).
        await county.until(datetime(2026, 3, 23, 16, 0, 1, tzinfo=UTC), ("silent_unit", "梅林镇"))
        # Quarter end (1 April 00:00 local): 青山乡 reported no problem or risk all quarter.
        entries = await county.until(
            datetime(2026, 3, 31, 16, 0, 1, tzinfo=UTC), ("good_news_only", "青山乡")
        )

        kinds = {e["kind"] for e in entries}
        assert kinds >= {
            "late_report",
            "missing_report",
            "concealment_suspected",
            "erroneous_report",
            "followup_overdue",
            "forward_overdue",
            "silent_unit",
            "good_news_only",
            "periodic_overdue",
        }
        assert ("good_news_only", "城关镇") not in {(e["kind"], e["township"]) for e in entries}
        assert not [e for e in entries if e["kind"] == "unacknowledged" and e["incident_id"] == "INC-1"]
        assert not [
            e
            for e in entries
            if e["kind"] == "periodic_overdue"
            and e["township"] == "城关镇"
            and "key_project" in e["details"].get("period", "")
        ]

        timeline = (await run.incident("INC-1", tokens["duty"]))["timeline"]
        texts = " | ".join(item["text"] for item in timeline)
        assert "签收" in texts and "电话上报市委办" in texts and "问责记录：迟报" in texts
        assert any(r.body["deadline"]["kind"] == "concealment_check" for r in hook.received)
