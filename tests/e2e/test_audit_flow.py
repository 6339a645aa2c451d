"""The auditors' side through the HTTP API: review, export, verify, adopt, publish and print."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
from playwright.async_api import async_playwright

from alerting.accountability.append import append
from alerting.accountability.chain import NewEntry
from alerting.audit.exports import entries_csv, entries_xlsx
from alerting.audit.queries import EntryQuery, iterate_entries
from alerting.clock import FakeClock
from alerting.domain import EntryKind, Role
from alerting.storage.engine import reading
from tests.e2e.test_ack_link import CHROMIUM_ARGS
from tests.support import (
    Running,
    eventually,
    example_policy,
    receiver,
    report_body,
    running_service,
    service_settings,
)

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 Asia/Shanghai


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def report(
    run: Running, token: str, incident: str, report_id: str, known_at: datetime, duty: str
) -> None:
    body = report_body(incident, "城关镇", known_at=known_at, report_id=report_id)
    assert (await run.client.post("/api/v1/reports", json=body, headers=auth(token))).status_code == 202
    await eventually(lambda: run.incident(incident, duty), what=f"{incident} stored")


async def test_review_export_verify_adopt_publish(
    sqlite_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    clock = FakeClock(T0)
    async with (
        receiver() as hook,
        running_service(
            service_settings(sqlite_url, kafka_bootstrap), example_policy(hook.url), clock
        ) as run,
    ):
        town = await run.token(Role.TOWNSHIP, "城关镇")
        duty = await run.token(Role.DUTY_OFFICER)
        auditor = await run.token(Role.AUDITOR)
        section = await run.token(Role.INFO_SECTION)

        # Two first reports 30 minutes after the fact (limit 15): two late_report candidates.
        await report(run, town, "A-1", "a1", T0 - timedelta(minutes=30), duty)
        await report(run, town, "A-2", "a2", T0 - timedelta(minutes=30), duty)
        queue = (
            await run.client.get(
                "/api/v1/accountability",
                params={"status": "pending", "kind": "late_report"},
                headers=auth(auditor),
            )
        ).json()["entries"]
        assert [e["incident_id"] for e in queue] == ["A-1", "A-2"]
        first, second = queue

        confirm = await run.client.post(
            f"/api/v1/accountability/{first['id']}/review",
            json={"decision": "confirm", "reason": "电话记录核实，确系迟报"},
            headers=auth(auditor),
        )
        assert confirm.status_code == 201 and confirm.json()["status"] == "confirmed"
        waive = await run.client.post(
            f"/api/v1/accountability/{second['id']}/review",
            json={"decision": "waive", "reason": "通信中断，免责"},
            headers=auth(section),  # the information section reviews too, in its own role
        )
        assert waive.status_code == 201 and waive.json()["status"] == "waived"
        assert [r["details"] for r in waive.json()["reviews"]] == [
            {
                "decision": "waive",
                "reason": "通信中断，免责",
                "reviewed_kind": "late_report",
                "status_before": "pending",
                "reviewer_role": "info_section",
            }
        ]
        refused = await run.client.post(
            f"/api/v1/accountability/{first['id']}/review",
            json={"decision": "reclassify", "to": "false_report", "reason": "不适用"},
            headers=auth(auditor),
        )
        assert refused.status_code == 409
        township_review = await run.client.post(
            f"/api/v1/accountability/{first['id']}/review",
            json={"decision": "waive", "reason": "自己免责"},
            headers=auth(town),
        )
        assert township_review.status_code == 403
        duty_review = await run.client.post(
            f"/api/v1/accountability/{first['id']}/review",
            json={"decision": "waive", "reason": "值班员免责"},
            headers=auth(duty),
        )
        assert duty_review.status_code == 403

        pending = (
            await run.client.get(
                "/api/v1/accountability",
                params={"status": "pending", "kind": "late_report"},
                headers=auth(auditor),
            )
        ).json()["entries"]
        assert pending == []

        # Exports of the same query, opened back with the libraries that wrote them.
        params = {"township": "城关镇", "kind": "late_report"}
        exported = await run.client.get(
            "/api/v1/accountability/export", params={**params, "format": "csv"}, headers=auth(auditor)
        )
        assert exported.status_code == 200 and exported.content.startswith("\ufeff".encode())
        rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
        assert rows[0][0] == "编号" and len(rows) == 3
        assert {r[rows[0].index("状态")] for r in rows[1:]} == {"已确认", "已免责"}
        xlsx = await run.client.get(
            "/api/v1/accountability/export", params={**params, "format": "xlsx"}, headers=auth(auditor)
        )
        sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
        assert sheet is not None and sheet.max_row == 3

        chain = (await run.client.get("/api/v1/accountability/verify", headers=auth(auditor))).json()
        assert chain["intact"] is True and chain["entries_checked"] >= 4  # two entries, two reviews

        adopted = await run.client.post(
            "/api/v1/reports/a1/adoption", json={"level": "city"}, headers=auth(section)
        )
        assert adopted.status_code == 201
        again = await run.client.post(
            "/api/v1/reports/a1/adoption", json={"level": "city"}, headers=auth(section)
        )
        assert again.status_code == 409

        # The quarter has not ended: a live draft, not publishable.
        draft = (await run.client.get("/api/v1/bulletins/2026-Q1", headers=auth(auditor))).json()
        assert draft["published"] is False
        early = await run.client.post("/api/v1/bulletins/2026-Q1/publish", headers=auth(section))
        assert early.status_code == 409

        await clock.set(datetime(2026, 3, 31, 16, 5, tzinfo=UTC))  # 1 April 00:05 local
        published = await run.client.post("/api/v1/bulletins/2026-Q1/publish", headers=auth(section))
        assert published.status_code == 201, published.text
        bulletin = (await run.client.get("/api/v1/bulletins/2026-Q1", headers=auth(auditor))).json()
        [cgz] = [t for t in bulletin["townships"] if t["township"] == "城关镇"]
        assert cgz["adoption_points"] == 3 and cgz["failures"] == {"late_report": 1}
        assert cgz["score"] == 100 + 3 - 2
        assert [c["incident_id"] for c in bulletin["criticisms"]] == ["A-1"]

        # Later data does not change a published bulletin.
        await run.client.post(
            "/api/v1/reports/a2/adoption", json={"level": "province"}, headers=auth(section)
        )
        frozen = (await run.client.get("/api/v1/bulletins/2026-Q1", headers=auth(auditor))).json()
        assert (
            frozen["content_hash"] == bulletin["content_hash"]
            and frozen["townships"] == bulletin["townships"]
        )

        # The printable page, in a real browser.
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page(extra_http_headers=auth(auditor))
                await page.goto(f"{run.base_url}/api/v1/bulletins/2026-Q1?format=html")
                assert "2026年第一季度" in await page.title() + await page.locator("h1").inner_text()
                assert await page.locator("table").first.locator("tbody tr").count() == 3  # three townships
                assert "城关镇" in await page.locator("body").inner_text()
                await page.screenshot(path=str(tmp_path / "bulletin.png"), full_page=True)
                await page.pdf(path=str(tmp_path / "bulletin.pdf"), format="A4")
            finally:
                await browser.close()
        assert (tmp_path / "bulletin.pdf").stat().st_size > 1000


async def test_exports_stream_and_equal_the_unstreamed_ones(sqlite_url: str, kafka_bootstrap: str) -> None:
    """2,500 entries: three batches read and formatted one at a time, sent as they are made (chunked,
    no Content-Length), while other requests are answered; the bytes are the unstreamed export's."""
    settings = service_settings(sqlite_url, kafka_bootstrap)
    async with receiver() as hook, running_service(settings, example_policy(hook.url), FakeClock(T0)) as run:
        async with run.service.engine.begin() as conn:
            for n in range(2500):
                town = ("城关镇", "梅林镇", "青山乡")[n % 3]
                entry = NewEntry(
                    EntryKind.LATE_REPORT, town, town, T0 + timedelta(minutes=n), delay_seconds=60
                )
                await append(conn, entry, T0 + timedelta(minutes=n, seconds=5))
        auditor = await run.token(Role.AUDITOR)
        policy = run.service.policy
        async with reading(run.service.engine) as conn:
            query = EntryQuery(auto_confirm=frozenset(policy.scoring.auto_confirm))
            rows = [e async for e in iterate_entries(conn, query)]
        assert len(rows) == 2500

        for format, whole in (("csv", entries_csv(rows, policy.tz)), ("xlsx", entries_xlsx(rows, policy.tz))):
            async with run.client.stream(
                "GET", "/api/v1/accountability/export", params={"format": format}, headers=auth(auditor)
            ) as response:
                assert response.status_code == 200
                assert "content-length" not in response.headers
                assert response.headers["transfer-encoding"] == "chunked"
                chunks = response.aiter_bytes()
                first = await anext(chunks)
                assert (await run.client.get("/healthz")).status_code == 200  # the export is still open
                body = first + b"".join([chunk async for chunk in chunks])
            if format == "csv":
                assert body == whole
            else:

                def cells(data: bytes) -> list[list[object]]:
                    sheet = openpyxl.load_workbook(io.BytesIO(data))["问责记录"]
                    return [[c.value for c in row] for row in sheet.iter_rows()]

                assert cells(body) == cells(whole)
