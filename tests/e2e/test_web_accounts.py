"""People's accounts in a real browser (Debian's chromium) against the real service on real Kafka and
a database: the first admin from the CLI's function, the temporary password changed at first sign-in,
a township user created on the admin page, lock-out and unlock, CSRF refused, idle expiry on the fake
clock, a page refused to a role, axe-core on each page, screenshots at 360 px and 1280 px, and /docs
working offline under the same CSP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.async_api import BrowserContext, Page, async_playwright

from alerting.cli.users import create_account
from alerting.clock import FakeClock
from alerting.domain import Role
from tests.browser import CHROMIUM_ARGS, WIDE
from tests.browser import accessible as _accessible
from tests.browser import screenshots as _screenshots
from tests.support import Running, example_policy, receiver, running_service, service_settings

T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
ADMIN_PASSWORD = "县委办-admin-2026"
CLERK_PASSWORD = "城关镇-clerk-2026"


class Watched:
    """Every browser context of the test: what each page asked for and any CSP complaint."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.requests: list[str] = []
        self.csp: list[str] = []

    def watch(self, page: Page) -> Page:
        page.on("request", lambda request: self.requests.append(request.url))
        page.on(
            "console",
            lambda msg: self.csp.append(msg.text) if "Content Security Policy" in msg.text else None,
        )
        return page


async def _open(browser: Any, watched: Watched) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(
        locale="zh-CN", timezone_id="Asia/Shanghai", viewport=WIDE, base_url=watched.base_url
    )
    return context, watched.watch(await context.new_page())


async def _sign_in(page: Page, username: str, password: str) -> None:
    await page.goto("/login")
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码", exact=True).fill(password)
    await page.get_by_role("button", name="登录").click()
    await page.wait_for_load_state()


async def _change_password(page: Page, current: str, new: str) -> None:
    assert page.url.endswith("/password")
    await page.get_by_label("当前密码").fill(current)
    await page.get_by_label("新密码（", exact=False).fill(new)
    await page.get_by_label("再次输入新密码").fill(new)
    await page.get_by_role("button", name="保存新密码").click()
    await page.wait_for_load_state()


def _row(page: Page, username: str) -> Any:
    return page.locator(f'tr[data-username="{username}"]')


async def test_accounts_in_the_browser(sqlite_url: str, kafka_bootstrap: str) -> None:
    clock = FakeClock(T0)
    async with receiver() as hook:
        policy = example_policy(hook.url)
        async with running_service(service_settings(sqlite_url, kafka_bootstrap), policy, clock) as run:
            temporary = await create_account(
                run.service.settings,
                policy,
                username="boss",
                role=Role.ADMIN,
                township=None,
                name="县委办管理员",
                by="部署脚本",
            )
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                try:
                    await _journey(browser, run, temporary)
                finally:
                    await browser.close()


async def _journey(browser: Any, run: Running, temporary: str) -> None:
    watched = Watched(run.base_url)
    admin_ctx, admin = await _open(browser, watched)

    # The sign-in page, and the admin's first sign-in with the temporary password.
    response = await admin.goto("/login")
    assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert await admin.locator("h1").inner_text() == "登录"
    await _accessible(admin)
    await _screenshots(admin, "login")
    await _sign_in(admin, "boss", temporary)
    assert admin.url.endswith("/password")
    await admin.goto("/admin/users")  # every page waits for the new password
    assert admin.url.endswith("/password")
    await _change_password(admin, temporary, ADMIN_PASSWORD)
    assert admin.url.endswith("/?changed=1")
    assert "您好，县委办管理员" in await admin.locator("h1").inner_text()
    assert "管理员" in await admin.locator("header").inner_text()
    [cookie] = [c for c in await admin_ctx.cookies() if c["name"] == "alerting_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]  # http on loopback
    await _accessible(admin)
    await _screenshots(admin, "landing-admin")

    # The admin creates a township user; the temporary password is shown once.
    await admin.goto("/admin/users")
    await admin.get_by_label("用户名", exact=True).fill("cgz")
    await admin.get_by_label("姓名", exact=True).fill("城关镇信息员")
    await admin.get_by_label("角色", exact=True).select_option("township")
    await admin.get_by_label("乡镇（仅乡镇角色）").select_option("城关镇")
    await admin.get_by_role("button", name="创建并生成临时密码").click()
    await admin.wait_for_load_state()
    clerk_temporary = await admin.locator("#temporary-password").inner_text()
    assert len(clerk_temporary) == 14
    assert "乡镇" in await _row(admin, "cgz").inner_text()
    await _accessible(admin)
    await _screenshots(admin, "admin-users")

    # The township user signs in, changes the password, and may not open the admin's page.
    clerk_ctx, clerk = await _open(browser, watched)
    await _sign_in(clerk, "cgz", clerk_temporary)
    await _change_password(clerk, clerk_temporary, CLERK_PASSWORD)
    landing = await clerk.locator("main").inner_text()
    assert "城关镇" in landing and "乡镇" in landing and "用户管理" not in landing
    await _accessible(clerk)
    await _screenshots(clerk, "landing-township")
    refused = await clerk.goto("/admin/users")
    assert refused is not None and refused.status == 403
    assert "无权访问" in await clerk.locator("main").inner_text()

    # Wrong passwords: slowed, then locked at the policy's number (5), visible to the admin.
    other_ctx, other = await _open(browser, watched)
    await _sign_in(other, "cgz", "wrong-1")
    assert "用户名或密码错误" in await other.locator(".error").inner_text()
    await _sign_in(other, "cgz", "wrong-2")
    assert "2 秒后再试" in await other.locator(".error").inner_text()
    await _sign_in(other, "cgz", CLERK_PASSWORD)  # within the wait: refused, even the right one
    assert "尝试过于频繁，请 2 秒后再试" in await other.locator(".error").inner_text()
    for n in range(3, 6):
        await run.clock.advance(timedelta(seconds=2 ** (n - 2)))
        await _sign_in(other, "cgz", f"wrong-{n}")
    assert "账户已锁定" in await other.locator(".error").inner_text()
    await admin.goto("/admin/users")
    assert "已锁定" in await _row(admin, "cgz").locator(".state").inner_text()
    await _screenshots(admin, "admin-users-locked")
    await _row(admin, "cgz").get_by_role("button", name="解锁").click()
    await admin.wait_for_load_state()
    assert "正常" in await _row(admin, "cgz").locator(".state").inner_text()
    await _sign_in(other, "cgz", CLERK_PASSWORD)
    assert "您好，城关镇信息员" in await other.locator("h1").inner_text()

    # CSRF: a state-changing POST without the session's token, or with a wrong one, is refused.
    for form in ({}, {"csrf_token": "forged"}):
        forged = await admin_ctx.request.post("/admin/users/cgz/disable", form=form, max_redirects=0)
        assert forged.status == 403 and "CSRF" in await forged.text()
    blank = await browser.new_context(base_url=run.base_url)
    login = await blank.request.post("/login", form={"username": "boss", "password": ADMIN_PASSWORD})
    assert login.status == 403  # the sign-in form is protected too
    await blank.close()
    await admin.goto("/admin/users")
    assert "已停用" not in await _row(admin, "cgz").inner_text()
    # What htmx sends: the token in the X-CSRF-Token header (set on <body hx-headers>).
    token = await admin.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")
    revoked = await admin_ctx.request.post(
        "/admin/users/cgz/revoke-sessions", headers={"X-CSRF-Token": token, "HX-Request": "true"}
    )
    assert revoked.status == 200 and "已注销 cgz 的 2 个会话" in await revoked.text()
    await clerk.goto("/")
    assert "/login" in clerk.url

    # The operations log, filtered in the URL.
    await admin.goto("/operations?actor=boss&action=user_unlocked")
    rows = admin.locator("tbody tr")
    assert await rows.count() == 1 and "解锁" in await rows.inner_text()
    await _accessible(admin)
    await _screenshots(admin, "operations")

    # /docs: Swagger UI from the service's own files, under the same CSP.
    await admin.goto("/docs")
    await admin.locator(".swagger-ui .info .title").wait_for()
    assert "县级紧急信息报送与预警服务" in await admin.locator(".swagger-ui .info .title").inner_text()

    # Idle for 30 minutes on the service's clock: the next page is the sign-in page.
    await run.clock.advance(timedelta(minutes=30))
    await admin.goto("/admin/users")
    assert admin.url.endswith("/login?next=/admin/users"), admin.url
    assert await admin.locator("h1").inner_text() == "登录"

    assert watched.csp == []
    outside = [url for url in watched.requests if not url.startswith(run.base_url)]
    assert outside == []  # nothing from a CDN or anywhere else
    for context in (admin_ctx, clerk_ctx, other_ctx):
        await context.close()
