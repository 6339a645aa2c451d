"""接口令牌 in a real browser against the real service: the admin creates a township token (shown
once), a machine uses it, the admin revokes it and the same machine is refused at once; both acts
are in the operations log; another role is refused the page."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.async_api import async_playwright
from sqlalchemy import select

from alerting.cli.users import create_account
from alerting.clock import FakeClock
from alerting.domain import Role
from alerting.storage.schema import operations
from tests.browser import CHROMIUM_ARGS, accessible, screenshots
from tests.e2e.test_web_accounts import Watched, _change_password, _open, _sign_in
from tests.support import example_policy, receiver, running_service, service_settings

T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
PASSWORD = "县委办-admin-2026"


async def test_an_admin_creates_and_revokes_an_api_token(sqlite_url: str, kafka_bootstrap: str) -> None:
    async with receiver() as hook:
        policy = example_policy(hook.url)
        settings = service_settings(sqlite_url, kafka_bootstrap)
        async with running_service(settings, policy, FakeClock(T0)) as run:
            temporary = await create_account(
                run.service.settings,
                policy,
                username="admin",
                role=Role.ADMIN,
                township=None,
                name="管理员",
                by="test",
            )
            clerk = await create_account(
                run.service.settings,
                policy,
                username="cgz",
                role=Role.TOWNSHIP,
                township="城关镇",
                name="李四",
                by="test",
            )
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                try:
                    watched = Watched(run.base_url)
                    _, page = await _open(browser, watched)
                    await _sign_in(page, "admin", temporary)
                    await _change_password(page, temporary, PASSWORD)
                    await page.goto("/admin/tokens")
                    await page.get_by_label("名称（用途或对接系统）").fill("城关镇报送系统")
                    await page.get_by_label("角色", exact=True).select_option("township")
                    await page.get_by_label("乡镇（仅乡镇角色）").select_option("城关镇")
                    await page.get_by_role("button", name="创建令牌").click()
                    await page.wait_for_load_state()
                    token = await page.locator("#new-token").inner_text()
                    await accessible(page)
                    await screenshots(page, "admin-tokens")

                    machine = {"Authorization": f"Bearer {token}"}
                    assert (await run.client.get("/api/v1/todo", headers=machine)).status_code == 200
                    row = page.locator("tr", has_text="城关镇报送系统")
                    await row.get_by_role("button", name="吊销").click()
                    await page.wait_for_load_state()
                    assert "已吊销" in await page.locator("tr", has_text="城关镇报送系统").inner_text()
                    assert (await run.client.get("/api/v1/todo", headers=machine)).status_code == 401

                    _, other = await _open(browser, watched)
                    await _sign_in(other, "cgz", clerk)
                    await _change_password(other, clerk, "城关镇-clerk-2026")
                    refused = await other.goto("/admin/tokens")
                    assert refused is not None and refused.status == 403
                    assert watched.csp == []
                finally:
                    await browser.close()
            async with run.service.engine.connect() as conn:
                logged = (
                    await conn.execute(
                        select(operations.c.actor, operations.c.action, operations.c.target)
                        .where(operations.c.action.like("token_%"))
                        .order_by(operations.c.id)
                    )
                ).all()
            assert [tuple(r) for r in logged] == [
                ("admin", "token_created", "城关镇报送系统"),
                ("admin", "token_revoked", "1"),
            ]
