"""The acknowledgement link in a notification, opened and tapped in a real browser (Debian's chromium)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.async_api import async_playwright

from alerting.clock import FakeClock
from alerting.domain import Role
from tests.browser import CHROMIUM_ARGS, WIDE, accessible, screenshots
from tests.support import eventually, example_policy, receiver, report_body, running_service, service_settings

T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)  # 09:00 local, inside the example roster's first shift


async def test_duty_officer_acknowledges_from_the_link(
    sqlite_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    clock = FakeClock(T0)
    async with receiver() as hook:
        policy = example_policy(hook.url)
        async with running_service(service_settings(sqlite_url, kafka_bootstrap), policy, clock) as run:
            township = await run.token(Role.TOWNSHIP, "城关镇")
            duty = await run.token(Role.DUTY_OFFICER)
            posted = await run.client.post(
                "/api/v1/reports",
                json=report_body("INC-L", "城关镇", known_at=T0),
                headers={"Authorization": f"Bearer {township}"},
            )
            assert posted.status_code == 202
            await eventually(lambda: run.incident("INC-L", duty), what="stored")
            await clock.advance(timedelta(minutes=5))  # level II: acknowledge within 5 minutes
            await eventually(
                lambda: any(r.body["deadline"]["kind"] == "ack" for r in hook.received),
                what="escalation with a link",
            )

            [sent] = [r for r in hook.received if r.body["deadline"]["kind"] == "ack"]
            officer = sent.body["recipients"][0]
            assert officer["role"] == "duty_officer" and officer["name"] == "王小明"  # the roster's shift
            leader = sent.body["recipients"][1]
            assert leader["role"] == "leader_on_duty" and leader["ack_url"] != officer["ack_url"]
            assert "ack_url" not in sent.body  # no link speaks for the whole message
            assert officer["ack_url"].startswith(f"{run.base_url}/ack/")

            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                try:
                    page = await browser.new_page(locale="zh-CN", viewport=WIDE)
                    await page.goto(officer["ack_url"])
                    assert await page.locator("h1").inner_text() == "紧急信息签收"
                    facts = await page.locator("dl.facts").inner_text()
                    for shown in ("城关镇", "城关镇某企业火情", "II级 · 安全生产", "2026-11-26 09:00"):
                        assert shown in facts
                    assert "现场明火已扑灭" in await page.locator("p.summary").inner_text()
                    call = page.get_by_role("link", name="0791-88888888")
                    assert await call.get_attribute("href") == "tel:079188888888"  # tap to call back
                    await accessible(page)
                    await screenshots(page, "ack")
                    detail = await run.incident("INC-L", duty)
                    assert detail["acknowledged_at"] is None  # opening the link changes nothing
                    await page.screenshot(path=str(tmp_path / "ack-page.png"))
                    await page.get_by_role("button", name="签收").click()
                    await page.wait_for_load_state()
                    assert await page.locator("h1").inner_text() == "签收成功"
                finally:
                    await browser.close()

            detail = await run.incident("INC-L", duty)
            assert detail["acknowledged_by"] == "王小明（值班员，链接签收）"
            [ack] = [d for d in detail["deadlines"] if d["kind"] == "ack"]
            assert ack["state"] == "met"

            ticks = run.service.deadlines.ticks
            await clock.advance(timedelta(minutes=11))  # step 2 would have been due by now
            await eventually(lambda: run.service.deadlines.ticks > ticks, what="a tick after step 2's time")
            detail = await run.incident("INC-L", duty)
            assert [e["round"] for e in detail["escalations"] if e["deadline_id"] == ack["id"]] == [0]


async def test_a_tampered_or_expired_link_is_refused(sqlite_url: str, kafka_bootstrap: str) -> None:
    clock = FakeClock(T0)
    async with (
        receiver() as hook,
        running_service(
            service_settings(sqlite_url, kafka_bootstrap), example_policy(hook.url), clock
        ) as run,
    ):
        links = run.service.firing.links
        assert links is not None
        token = links.token("INC-X", "王小明", "duty_officer", clock.now())
        tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        assert (await run.client.get(f"/ack/{tampered}")).status_code == 400
        await clock.advance(timedelta(hours=25))
        expired = await run.client.post(f"/ack/{token}")
        assert expired.status_code == 400 and "过期" in expired.text
