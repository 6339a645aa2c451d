"""The township clerk's pages in a real browser (Debian's chromium) against the real service on real
Kafka and a database: 我的待办 with its countdown, a first report through the form (errors beside the
missing field first, a draft that survives a reload), stored through Kafka and shown in 我的报送;
a routine item returned, revised from its page as version 2 and adopted; notices read (签收);
another township's item refused; axe-core on every page; screenshots at 360 px and 1280 px."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.async_api import Page, async_playwright
from sqlalchemy import select

from alerting.cli.users import create_account
from alerting.clock import FakeClock
from alerting.county import items, notices
from alerting.domain import ItemDecision, NoticeKind, Role
from alerting.storage.schema import items as items_table
from alerting.storage.schema import reports
from tests.e2e.test_ack_link import CHROMIUM_ARGS
from tests.e2e.test_web_accounts import Watched, _accessible, _change_password, _open, _screenshots, _sign_in
from tests.support import Running, eventually, example_policy, receiver, running_service, service_settings

T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)  # 09:00 in the county
PASSWORD = "城关镇-clerk-2026"


async def test_township_pages_in_the_browser(database_url: str, kafka_bootstrap: str) -> None:
    clock = FakeClock(T0)
    async with receiver() as hook:
        policy = example_policy(hook.url)
        async with running_service(service_settings(database_url, kafka_bootstrap), policy, clock) as run:
            temporary = await create_account(
                run.service.settings,
                policy,
                username="cgz",
                role=Role.TOWNSHIP,
                township="城关镇",
                name="城关镇信息员",
                by="部署脚本",
            )
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                try:
                    await _journey(browser, run, temporary)
                finally:
                    await browser.close()


async def _rows_until(page: Page, url: str, selector: str, what: str) -> None:
    """Reload `url` until `selector` is on it: the consumer stores what Kafka holds a moment later."""

    async def there() -> bool:
        await page.goto(url)
        return await page.locator(selector).count() > 0

    await eventually(there, what)


async def _stored(run: Running, query: Any) -> list[Any]:
    async with run.service.engine.connect() as conn:
        return list((await conn.execute(query)).all())


async def _journey(browser: Any, run: Running, temporary: str) -> None:
    watched = Watched(run.base_url)
    context, clerk = await _open(browser, watched)
    await _sign_in(clerk, "cgz", temporary)
    await _change_password(clerk, temporary, PASSWORD)
    assert "我的待办" in await clerk.locator("main").inner_text()  # linked from the landing page

    # 我的待办: the periodic duties are owed from the start.
    await clerk.get_by_role("link", name="我的待办").first.click()
    await clerk.wait_for_load_state()
    assert await clerk.locator("h1").inner_text() == "我的待办"
    assert await clerk.locator("tr[data-kind=periodic]").count() == 1
    assert "剩余 " in await clerk.locator("tr[data-kind=periodic] time[data-countdown]").inner_text()
    await _accessible(clerk)

    # 报送紧急信息: the limits follow the level and category; a routine category is refused.
    await clerk.goto("/reports/new")
    await clerk.get_by_label("信息类别").select_option("安全生产")
    await clerk.locator("#limits", has_text="获悉后 30 分钟 内").wait_for()  # level IV by default
    await clerk.get_by_label("事件等级").select_option("II")
    await clerk.locator("#limits", has_text="首报（电话速报）：获悉后 15 分钟 内").wait_for()
    assert "书面报告：获悉后 40 分钟 内" in await clerk.locator("#limits").inner_text()
    await clerk.get_by_label("信息类别").select_option("工作动态")
    await clerk.locator("#limits", has_text="属于日常信息").wait_for()
    assert await clerk.locator("#limits a[href='/items/new']").count() == 1
    await clerk.get_by_label("信息类别").select_option("安全生产")
    await clerk.locator("#limits", has_text="15 分钟").wait_for()

    # A draft survives a reload before it is sent (the same report id, so a resend stores it once).
    title = "城关镇某厂房火情"
    report_id = await clerk.locator("input[name=report_id]").input_value()
    await clerk.get_by_label("标题", exact=True).fill(title)
    await clerk.get_by_label("简要情况", exact=False).fill("现场明火已扑灭，无人员伤亡，原因调查中。")
    await clerk.get_by_label("地点", exact=True).fill("城关镇工业园")
    await clerk.reload()
    assert await clerk.get_by_label("标题", exact=True).input_value() == title
    assert await clerk.locator("input[name=report_id]").input_value() == report_id
    assert await clerk.get_by_label("事件等级").input_value() == "II"
    assert await clerk.locator("#draft-note").is_visible()
    await clerk.locator("#limits", has_text="15 分钟").wait_for()  # asked again for the restored level
    await _accessible(clerk)
    await _screenshots(clerk, "township-report-form")

    # The phone left out: refused beside the field, in Chinese, and nothing is sent.
    await clerk.get_by_role("button", name="报送", exact=True).click()
    await clerk.wait_for_load_state()
    error = clerk.locator("#reporter_phone-error")
    assert (
        "必填" in await error.inner_text()
        or "不能为空" in await error.inner_text()
        or "格式" in await error.inner_text()
    )
    assert await clerk.get_by_label("联系电话").get_attribute("aria-invalid") == "true"
    assert await clerk.get_by_label("标题", exact=True).input_value() == title  # what was typed is kept
    await _accessible(clerk)
    await _screenshots(clerk, "township-report-errors")
    await clerk.get_by_label("联系电话").fill("0791-88888888")
    await clerk.get_by_role("button", name="报送", exact=True).click()
    await clerk.wait_for_load_state()
    assert "/submissions?sent=report" in clerk.url
    drafts = await clerk.evaluate("Object.keys(localStorage).filter(k => k.startsWith('alerting-draft:'))")
    assert drafts == []  # accepted: the draft is gone

    # Stored through Kafka (signed by the county key), shown in 我的报送.
    await _rows_until(clerk, "/submissions", f"tbody tr[data-id='{report_id}']", "the report in 我的报送")
    [stored] = await _stored(run, select(reports).where(reports.c.report_id == report_id))
    assert stored.township == "城关镇" and stored.provenance == "signed" and stored.title == title
    row = clerk.locator(f"tbody tr[data-id='{report_id}']")
    assert "已接收" in await row.inner_text() and "首报" in await row.inner_text()
    await _accessible(clerk)
    await _screenshots(clerk, "township-submissions")

    # 我的待办: the written report owed, with its countdown; overdue in red once the time has passed.
    await clerk.goto("/todo")
    written = clerk.locator("tr[data-kind=written_report]")
    assert title in await written.inner_text()
    await written.locator("time[data-countdown]", has_text="剩余 39:").wait_for()
    await _accessible(clerk)
    await _screenshots(clerk, "township-todo")
    for minutes in (20, 21):  # in two steps: idle for 30 minutes would sign the clerk out
        await run.clock.advance(timedelta(minutes=minutes))
        await clerk.reload()
    assert "已超时" in await written.inner_text()
    assert "overdue" in (await written.get_attribute("class") or "")
    assert await written.evaluate("r => getComputedStyle(r.querySelector('td')).color") != "rgb(31, 35, 40)"

    # The incident page, as the township reads it.
    await clerk.goto("/submissions")
    await clerk.get_by_role("link", name=title).click()
    await clerk.wait_for_load_state()
    assert "/my/incidents/" in clerk.url and await clerk.locator("h1").inner_text() == title
    assert "城关镇首报" in await clerk.locator("main").inner_text()
    await _accessible(clerk)
    await _screenshots(clerk, "township-incident")

    # 报送日常信息: a routine item, returned, revised as version 2 from its page, then adopted.
    await clerk.goto("/items/new")
    await clerk.get_by_label("信息类别").select_option("工作动态")
    await clerk.get_by_label("标题", exact=True).fill("城关镇开展冬季消防检查")
    await clerk.get_by_label("正文", exact=True).fill("11 月以来检查企业 42 家，整改隐患 17 处。")
    await clerk.get_by_label("附件名称", exact=False).fill("检查照片.jpg\n隐患清单.xlsx")
    await clerk.get_by_label("联系电话").fill("0791-88888888")
    await _accessible(clerk)
    await _screenshots(clerk, "township-item-form")
    await clerk.get_by_role("button", name="报送", exact=True).click()
    await clerk.wait_for_load_state()
    assert "/submissions?sent=item" in clerk.url
    item_id = clerk.url.split("id=")[1]
    await _rows_until(clerk, "/submissions?kind=item", f"tbody tr[data-id='{item_id}']", "the item")
    assert "待审核" in await clerk.locator(f"tbody tr[data-id='{item_id}']").inner_text()
    tz = run.service.policy.tz
    async with run.service.engine.begin() as conn:
        returned = items.Decision(ItemDecision.RETURN, 1, reason="请补充整改完成率")
        await items.decide(conn, item_id, returned, "信息科 赵六（zl）", tz, run.clock.now())
    await clerk.goto("/todo")
    assert "请补充整改完成率" in await clerk.locator("main").inner_text()
    await clerk.get_by_role("link", name="城关镇开展冬季消防检查", exact=True).click()
    await clerk.wait_for_load_state()
    assert "已退回" in await clerk.locator(".item-status").inner_text()
    await _accessible(clerk)
    await _screenshots(clerk, "township-item-returned")
    await clerk.get_by_role("link", name="修改后重报", exact=False).click()
    await clerk.wait_for_load_state()
    assert await clerk.get_by_label("标题", exact=True).input_value() == "城关镇开展冬季消防检查"  # prefilled
    assert "隐患清单.xlsx" in await clerk.get_by_label("附件名称", exact=False).input_value()
    await clerk.get_by_label("正文", exact=True).fill("检查企业 42 家，整改隐患 17 处，完成率 100%。")
    await clerk.get_by_role("button", name="报送第 2 版").click()
    await clerk.wait_for_load_state()

    async def second() -> bool:
        [row] = await _stored(run, select(items_table).where(items_table.c.id == item_id))
        return bool(row.version == 2 and row.status == "submitted")

    await eventually(second, "version 2")
    async with run.service.engine.begin() as conn:
        adopted = items.Decision(ItemDecision.ADOPT, 2, level="city", publication="《XX信息》")
        await items.decide(conn, item_id, adopted, "信息科 赵六（zl）", tz, run.clock.now())
    await clerk.goto("/submissions?kind=item&status=adopted")
    row = clerk.locator(f"tbody tr[data-id='{item_id}']")
    assert "已采用（市级）" in await row.inner_text() and "第 2 版" in await row.inner_text()
    assert await clerk.locator("tbody tr").count() == 1  # the filters, kept in the URL
    await clerk.goto(f"/items/{item_id}")
    timeline = await clerk.locator(".timeline").inner_text()
    assert "退回第 1 版" in timeline and "采用第 2 版" in timeline
    await _accessible(clerk)
    await _screenshots(clerk, "township-item")

    # Notices: counted on 我的待办, read (签收) on the list.
    async with run.service.engine.begin() as conn:
        notice = notices.NewNotice(
            NoticeKind.REPORTING_POINTS, "十一月报送要点", "请报送冬季工作。", ("城关镇",)
        )
        sent = await notices.send(conn, notice, run.service.policy, "信息科 赵六（zl）", run.clock.now())
    await clerk.goto("/todo")
    await clerk.get_by_role("link", name="有 1 条通报未签收").click()
    await clerk.wait_for_load_state()
    card = clerk.locator(f"[data-notice='{sent['id']}']")
    assert "未签收" in await card.inner_text()
    await _accessible(clerk)
    await card.get_by_role("button", name="签收", exact=False).click()
    await clerk.wait_for_load_state()
    assert "已签收" in await card.inner_text() and "城关镇信息员（cgz）" in await card.inner_text()
    await _screenshots(clerk, "township-notices")

    # Another township's item is refused, not shown.
    token = await run.token(Role.TOWNSHIP, "梅林镇")
    body = {
        "township": "梅林镇",
        "category": "工作动态",
        "title": "梅林镇工作动态",
        "text": "正文",
        "reporter": {"name": "王五", "phone": "0791-66666666"},
    }
    accepted = await run.client.post("/api/v1/items", json=body, headers={"Authorization": f"Bearer {token}"})
    assert accepted.status_code == 202
    other = accepted.json()["item_id"]
    await eventually(lambda: _stored_any(run, other), "the other township's item")
    refused = await clerk.goto(f"/items/{other}")
    assert refused is not None and refused.status == 403
    assert "不属于城关镇" in await clerk.locator("main").inner_text()
    refused = await clerk.goto(f"/items/new?revise={other}")
    assert refused is not None and refused.status == 403

    assert watched.csp == []
    assert [url for url in watched.requests if not url.startswith(run.base_url)] == []
    await context.close()


async def _stored_any(run: Running, item_id: str) -> bool:
    return bool(await _stored(run, select(items_table.c.id).where(items_table.c.id == item_id)))
