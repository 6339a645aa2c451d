"""The information section's daily work in a real browser (Debian's chromium) against the real
service on real Kafka and each database: an incident registered (a missing field shown beside it
first);
续报跟踪 lists a township's owed follow-up with its countdown, overdue once the FakeClock passes it;
an assignment for two townships with both parts owed (a past due date refused first); an officer's
term registered (an overlap refused with the county's message) and ended, both changes shown; a
roster CSV imported through the page (a bad one first: line and column shown), a swap added and
shown on duty now; a notice sent to all, none read, then read by a township; a township user refused
every one of these pages; axe-core and screenshots at 360/1280 on each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.async_api import Page, async_playwright

from alerting.clock import FakeClock
from alerting.county import notices
from alerting.domain import Role
from tests.e2e.test_ack_link import CHROMIUM_ARGS
from tests.e2e.test_web_accounts import Watched, _open
from tests.e2e.test_web_section import _check, _first_sign_in, _person, auth
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
PAGES = (
    "/register-incident",
    "/followups",
    "/assignments",
    "/assignments/new",
    "/officers",
    "/roster",
    "/notices/manage",
)
BAD_CSV = (
    "开始,结束,值班员,值班员电话,带班领导,带班领导电话\n"
    "2026-03-02 08:30,2026-03-03 08:30,孙值班,13800000011,周领导,0791-80000011\n"
    "2026-03-03 08:30,2026-03-04 08:30,吴值班,不是电话,,\n"
)
GOOD_CSV = BAD_CSV.replace("不是电话", "13800000012")


async def _seed(run: Running) -> None:
    """城关镇 reported at 09:00 an incident it knew of at 07:10: its first follow-up is due soon."""
    town = await run.token(Role.TOWNSHIP, "城关镇")
    body = report_body("R-1", "城关镇", known_at=T0 - timedelta(minutes=110), report_id="R-1")
    assert (await run.client.post("/api/v1/reports", json=body, headers=auth(town))).status_code == 202
    duty = await run.token(Role.DUTY_OFFICER)
    await eventually(lambda: run.incident("R-1", duty), what="R-1 stored")


async def test_the_section_s_daily_work(database_url: str, kafka_bootstrap: str) -> None:
    clock = FakeClock(T0)
    async with receiver() as hook:
        policy = example_policy(hook.url)
        async with running_service(service_settings(database_url, kafka_bootstrap), policy, clock) as run:
            await _seed(run)
            await _person(run, "xxk2", Role.INFO_SECTION, "信息科钱七")
            await _person(run, "cgz2", Role.TOWNSHIP, "城关镇信息员", "城关镇")
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                try:
                    watched = Watched(run.base_url)
                    context, page = await _open(browser, watched)
                    await _first_sign_in(page, "xxk2")
                    await _register(page)
                    await _followups(page, run)
                    await _assignments(page)
                    await _officers(page)
                    await _roster(page)
                    await _notices(page, run)
                    await context.close()
                    await _township_refused(browser, watched)
                    assert watched.csp == []
                    assert all(u.startswith(run.base_url) for u in watched.requests)  # nothing external
                finally:
                    await browser.close()


async def _register(page: Page) -> None:
    await page.get_by_role("navigation", name="信息科工作").get_by_role("link", name="登记事件").click()
    assert await page.locator("h1").inner_text() == "登记事件"
    await _check(page, "register-incident")
    await page.get_by_label("乡镇").select_option("梅林镇")
    await page.get_by_label("信息类别").select_option("安全生产")
    await page.get_by_label("获悉渠道").select_option("media")
    await page.get_by_role("button", name="登记").click()  # no title
    await page.wait_for_load_state()
    assert "不能为空" in await page.locator("#title-error").inner_text()
    assert await page.get_by_label("标题").get_attribute("aria-invalid") == "true"
    assert await page.get_by_label("乡镇").input_value() == "梅林镇"  # what was filled stays
    await _check(page, "register-incident-error")
    await page.get_by_label("标题").fill("网传梅林镇某厂房冒烟")
    await page.get_by_label("获悉情况").fill("本地公众号发布视频，称厂房冒烟。")
    await page.get_by_role("button", name="登记").click()
    await page.wait_for_load_state()
    done = await page.locator("#registered").inner_text()
    assert "梅林镇" in done and "须于 2026-03-02" in done, done


async def _followups(page: Page, run: Running) -> None:
    await page.get_by_role("navigation", name="信息科工作").get_by_role("link", name="续报跟踪").click()
    await page.get_by_label("应报").select_option("followup")
    await page.get_by_label("乡镇").select_option("城关镇")
    await page.get_by_role("button", name="筛选").click()
    await page.wait_for_load_state()
    assert "kind=followup" in page.url and "township=" in page.url
    row = page.locator("tbody tr[data-deadline]")
    assert await row.count() == 1
    text = await row.inner_text()
    assert "第1次续报" in text and "城关镇" in text and "剩余" in text, text
    await _check(page, "followups")
    due = datetime.fromisoformat(str(await row.locator("time").get_attribute("datetime")))
    row = page.locator(f'tr[data-deadline="{await row.get_attribute("data-deadline")}"]')
    await run.clock.advance(due - run.clock.now() + timedelta(minutes=1))
    await page.reload()
    assert "已超时 01:00" in await row.inner_text()
    assert await row.get_attribute("class") == "overdue"
    # Overdue first; the next follow-up, armed once the first fell due, after it.
    rows = page.locator("tbody tr[data-deadline]")
    assert await rows.first.get_attribute("data-deadline") == await row.get_attribute("data-deadline")


async def _assignments(page: Page) -> None:
    await page.get_by_role("navigation", name="信息科工作").get_by_role("link", name="约稿").click()
    await _check(page, "assignments")
    await page.get_by_role("link", name="新建约稿").click()
    await page.get_by_label("题目").fill("春耕备耕工作情况")
    await page.get_by_label("说明").fill("请各乡镇报送春耕备耕进展、困难和建议。")
    await page.get_by_label("截止日期（当日 24:00 前）").fill("2026-03-01")
    await page.get_by_label("指定乡镇：").check()
    await page.get_by_label("城关镇").check()
    await page.get_by_label("梅林镇").check()
    await page.get_by_role("button", name="发出约稿").click()
    await page.wait_for_load_state()
    assert "截止日期已过" in await page.locator("#due_on-error").inner_text()
    await _check(page, "assignment-form")
    await page.get_by_label("截止日期（当日 24:00 前）").fill("2026-03-06")
    await page.get_by_role("button", name="发出约稿").click()
    await page.wait_for_load_state()
    assert "约稿已发出" in await page.locator(".notice").inner_text()
    parts = {
        await r.get_attribute("data-part"): await r.inner_text()
        for r in await page.locator("tr[data-part]").all()
    }
    assert set(parts) == {"城关镇", "梅林镇"} and all("待报" in t for t in parts.values()), parts
    await _check(page, "assignment")
    await page.get_by_role("link", name="← 约稿列表").click()
    listed = await page.locator("tr[data-assignment]").first.inner_text()
    assert "春耕备耕工作情况" in listed and "城关镇 待报" in listed and "梅林镇 待报" in listed


async def _officers(page: Page) -> None:
    await page.get_by_role("navigation", name="信息科工作").get_by_role("link", name="信息员名录").click()
    form = page.locator("form[method='post'][action='/officers']")

    async def register() -> None:
        await form.get_by_label("乡镇").select_option("青山乡")
        await form.get_by_label("姓名").fill("周信息")
        await form.get_by_label("电话").fill("13900000001")
        await form.get_by_label("类别").select_option("full_time")
        await form.get_by_label("任期开始").fill("2026-03-01")
        await form.get_by_label("备案说明").fill("新任信息员")
        await form.get_by_role("button", name="备案").click()
        await page.wait_for_load_state()

    await register()
    assert "已备案任期" in await page.locator(".notice").inner_text()
    row = page.locator("tr[data-officer]", has_text="周信息")
    assert "备案任期 2026-03-01 · 信息科钱七（xxk2）" in await row.inner_text()
    await register()  # the same person again, overlapping: the county's message
    refusal = await page.locator("#form-error").inner_text()
    assert "周信息 在青山乡已有任期 2026-03-01～至今" in refusal, refusal
    await _check(page, "officers")
    await page.goto("/officers?township=青山乡")
    row = page.locator("tr[data-officer]", has_text="周信息")
    await row.get_by_label("最后一天").fill("2026-03-02")
    await row.get_by_label("说明").fill("调离")
    await row.get_by_role("button", name="备案离任").click()
    await page.wait_for_load_state()
    assert "已备案离任" in await page.locator(".notice").inner_text()
    changes = await page.locator("tr[data-officer]", has_text="周信息").locator("ul.changes").inner_text()
    assert "备案任期 2026-03-01" in changes and "备案离任 2026-03-02" in changes and "调离" in changes


async def _roster(page: Page) -> None:
    await page.get_by_role("navigation", name="信息科工作").get_by_role("link", name="值班表").click()
    assert await page.locator("h1").inner_text() == "值班表"
    upload = page.locator("form[action='/roster/import']")
    files = {"name": "roster.csv", "mimeType": "text/csv"}
    await upload.get_by_label("CSV 文件").set_input_files({**files, "buffer": BAD_CSV.encode()})  # type: ignore[arg-type]
    await upload.get_by_role("button", name="导入").click()
    await page.wait_for_load_state()
    error = await page.locator("#import-error").inner_text()
    assert "line 3, column 值班员电话" in error, error
    await upload.get_by_label("CSV 文件").set_input_files({**files, "buffer": GOOD_CSV.encode()})  # type: ignore[arg-type]
    await upload.get_by_label("说明").fill("三月值班表")
    await upload.get_by_role("button", name="导入").click()
    await page.wait_for_load_state()
    assert "值班表已导入" in await page.locator(".notice").inner_text()
    assert "孙值班" in await page.locator('#on-duty dd[data-role="duty_officer"]').inner_text()

    swap = page.locator("form[action='/roster/shifts']")
    await swap.get_by_label("开始").fill("2026-03-02T09:00")
    await swap.get_by_label("结束").fill("2026-03-02T12:00")
    await swap.get_by_label("值班员", exact=True).fill("钱替班")
    await swap.get_by_label("值班员电话").fill("13800000019")
    await swap.get_by_label("说明").fill("调班")
    await swap.get_by_role("button", name="保存班次").click()
    await page.wait_for_load_state()
    assert "已新增班次" in await page.locator(".notice").inner_text()
    assert "钱替班" in await page.locator('#on-duty dd[data-role="duty_officer"]').inner_text()

    # Withdrawing a shift needs a reason; with one, it is gone from the roster.
    later = page.locator("tr[data-shift]", has_text="吴值班")
    await later.get_by_role("button", name="撤销").click()
    await page.wait_for_load_state()
    assert "须填写原因" in await page.locator("#withdraw-error").inner_text()
    await later.get_by_placeholder("撤销原因").fill("吴值班出差")
    await later.get_by_role("button", name="撤销").click()
    await page.wait_for_load_state()
    assert "已撤销班次" in await page.locator(".notice").inner_text()
    assert await page.locator("tr[data-shift]", has_text="吴值班").count() == 0

    chief = page.locator('tr[data-post="section_chief"]')
    await chief.get_by_placeholder("姓名").fill("信息科 孙科长")
    await chief.get_by_placeholder("电话").fill("0791-80000021")
    await chief.get_by_placeholder("说明").fill("科长轮岗")
    await chief.get_by_role("button", name="设置").click()
    await page.wait_for_load_state()
    assert "孙科长" in await page.locator('tr[data-post="section_chief"]').inner_text()
    assert "孙科长" in await page.locator('#on-duty dd[data-role="section_chief"]').inner_text()
    history = await page.locator("#changes").inner_text()
    for done in (
        "新增班次 · 调班",
        "导入值班表 · 三月值班表",
        "撤销班次 · 吴值班出差",
        "设置岗位 · 科长轮岗",
    ):
        assert done in history, history
    await _check(page, "roster")


async def _notices(page: Page, run: Running) -> None:
    await page.get_by_role("navigation", name="信息科工作").get_by_role("link", name="通报").click()
    await page.get_by_label("标题").fill("关于做好春季防火信息报送的通知")
    await page.get_by_label("正文").fill("各乡镇：请及时报送森林防火相关信息。")
    await page.get_by_role("button", name="发送通报").click()
    await page.wait_for_load_state()
    assert "通报已发出" in await page.locator(".notice").inner_text()
    assert await page.locator("#read-count").inner_text() == "0 / 3 已签收"
    assert all(["未签收" in await r.inner_text() for r in await page.locator("tr[data-read]").all()])
    notice_id = page.url.rsplit("/", 1)[-1].split("?")[0]
    async with run.service.engine.begin() as conn:
        await notices.mark_read(conn, notice_id, "城关镇", "城关镇信息员", run.clock.now())
    await page.reload()
    assert await page.locator("#read-count").inner_text() == "1 / 3 已签收"
    read = await page.locator('tr[data-read="城关镇"]').inner_text()
    assert "已签收" in read and "城关镇信息员" in read
    await _check(page, "notice-sent")
    await page.get_by_role("link", name="← 通报列表").click()
    assert "1 / 3 已签收" in await page.locator("tr[data-notice]").first.inner_text()
    await _check(page, "notices-sent")


async def _township_refused(browser: Any, watched: Watched) -> None:
    context, page = await _open(browser, watched)
    await _first_sign_in(page, "cgz2")
    assert await page.get_by_role("navigation", name="信息科工作").count() == 0
    for path in PAGES:
        response = await page.goto(path)
        assert response is not None and response.status == 403, path
        assert "无权访问此页面" in await page.locator(".error").inner_text()
    await context.close()
