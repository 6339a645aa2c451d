"""The information section's and auditors' pages in a real browser (Debian's chromium) against the
real service on real Kafka and a database, with entries made by the real flow (late first reports,
deadlines fired on the FakeClock): an item adopted at city level with a publication and a stale
decision refused with who decided; an entry confirmed by the section; entries filtered by township
and kind and the XLSX read back to exactly those rows; two waived by an auditor with one reason; the
chain verified; a bulletin draft and its drill-down to a township's entries; a township user refused;
axe-core and screenshots on each page."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import openpyxl
from playwright.async_api import Page, async_playwright

from alerting.audit.queries import EntryQuery, iterate_entries
from alerting.cli.users import create_account
from alerting.clock import FakeClock
from alerting.domain import Role
from alerting.storage.engine import reading
from tests.e2e.test_ack_link import CHROMIUM_ARGS
from tests.e2e.test_web_accounts import Watched, _accessible, _change_password, _open, _screenshots, _sign_in
from tests.support import (
    Running,
    eventually,
    example_policy,
    receiver,
    report_body,
    running_service,
    service_settings,
)

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 Asia/Shanghai, in 2026-Q1
PASSWORD = "县委办-信息科-2026"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _seed(run: Running) -> str:
    """Late first reports of two townships, a fired deadline of another kind, and a routine item."""
    duty = await run.token(Role.DUTY_OFFICER)
    for township, incident in (("城关镇", "C-1"), ("城关镇", "C-2"), ("城关镇", "C-3"), ("梅林镇", "M-1")):
        token = await run.token(Role.TOWNSHIP, township)
        body = report_body(incident, township, known_at=T0 - timedelta(minutes=30), report_id=incident)
        assert (await run.client.post("/api/v1/reports", json=body, headers=auth(token))).status_code == 202
        await eventually(lambda i=incident: run.incident(i, duty), what=f"{incident} stored")
    auditor = await run.token(Role.AUDITOR)

    async def kinds() -> set[str]:
        found = await run.client.get(
            "/api/v1/accountability", params={"township": "城关镇"}, headers=auth(auditor)
        )
        return {e["kind"] for e in found.json()["entries"]}

    await run.clock.advance(timedelta(hours=3))  # written reports and acknowledgements fall due

    async def fired() -> bool:
        return len(await kinds() - {"late_report"}) > 0

    await eventually(fired, what="a fired deadline's entry for 城关镇")

    town = await run.token(Role.TOWNSHIP, "城关镇")
    item = {
        "township": "城关镇",
        "category": "社情民意",
        "title": "群众反映农村客运班次减少",
        "text": "近期多名群众反映……",
        "reporter": {"name": "信息员王五", "phone": "0791-80000009"},
    }
    accepted = await run.client.post("/api/v1/items", json=item, headers=auth(town))
    assert accepted.status_code == 202, accepted.text
    item_id: str = accepted.json()["item_id"]
    section = await run.token(Role.INFO_SECTION)

    async def stored() -> bool:
        return (await run.client.get(f"/api/v1/items/{item_id}", headers=auth(section))).status_code == 200

    await eventually(stored, what="the routine item stored")
    return item_id


async def _person(run: Running, username: str, role: Role, name: str, township: str | None = None) -> None:
    temporary = await create_account(
        run.service.settings,
        run.service.policy,
        username=username,
        role=role,
        township=township,
        name=name,
        by="部署脚本",
    )
    _PASSWORDS[username] = temporary


_PASSWORDS: dict[str, str] = {}


async def _first_sign_in(page: Page, username: str) -> None:
    await _sign_in(page, username, _PASSWORDS[username])
    await _change_password(page, _PASSWORDS[username], PASSWORD)


async def _check(page: Page, name: str) -> None:
    await _accessible(page)
    await _screenshots(page, name)


async def test_section_and_auditor_pages(database_url: str, kafka_bootstrap: str) -> None:
    clock = FakeClock(T0)
    async with receiver() as hook:
        policy = example_policy(hook.url)
        async with running_service(service_settings(database_url, kafka_bootstrap), policy, clock) as run:
            item_id = await _seed(run)
            await _person(run, "xxk", Role.INFO_SECTION, "信息科李四")
            await _person(run, "sj", Role.AUDITOR, "审计赵六")
            await _person(run, "cgz", Role.TOWNSHIP, "城关镇信息员", "城关镇")
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                try:
                    watched = Watched(run.base_url)
                    await _section(browser, watched, item_id)
                    await _auditor(browser, watched, run)
                    await _township_refused(browser, watched)
                    assert watched.csp == []
                    assert all(u.startswith(run.base_url) for u in watched.requests)  # nothing external
                finally:
                    await browser.close()


async def _section(browser: Any, watched: Watched, item_id: str) -> None:
    context, page = await _open(browser, watched)
    await _first_sign_in(page, "xxk")
    await page.get_by_role("navigation", name="审核与问责").get_by_role("link", name="信息审核").click()
    assert await page.locator("h1").inner_text() == "信息审核"
    row = page.locator(f'tr[data-item="{item_id}"]')
    assert "待审核" in await row.inner_text()
    await _check(page, "review-items")
    await row.get_by_role("link").click()
    stale = watched.watch(await context.new_page())
    await stale.goto(page.url)  # a second tab still showing version 1 undecided
    await _check(page, "review-item")

    await page.get_by_label("采用", exact=True).check()
    await page.get_by_label("采用级别（采用时必填）").select_option("city")
    await page.get_by_label("刊物").fill("《XX信息》")
    await page.get_by_label("期号").fill("2026年第12期")
    await page.get_by_role("button", name="提交审核结果").click()
    await page.wait_for_load_state()
    assert "审核结果已保存" in await page.locator(".notice").inner_text()
    status = await page.locator("#item-status").inner_text()
    assert "已采用" in status and "市级采用" in status and "《XX信息》2026年第12期" in status
    assert (
        "信息科李四（xxk）采用第 1 版（市级采用，刊于《XX信息》2026年第12期）"
        in await page.locator("ol.timeline").inner_text()
    )

    # The stale tab files the same version: refused with who adopted it when, the page refreshed.
    await stale.get_by_label("存档", exact=True).check()
    async with stale.expect_response(lambda r: r.request.method == "POST") as answer:
        await stale.get_by_role("button", name="提交审核结果").click()
    assert (await answer.value).status == 409
    message = await stale.locator("#decision-error").inner_text()
    assert "第 1 版已由 信息科李四（xxk） 于 2026-03-02 12:00 采用" in message, message
    assert "已采用" in await stale.locator("#item-status").inner_text()
    assert await stale.get_by_role("button", name="提交审核结果").count() == 0

    # 上报 of the adopted item.
    await page.get_by_label("报送对象").fill("市委办")
    await page.get_by_role("button", name="记录上报").click()
    await page.wait_for_load_state()
    assert "报送市委办" in await page.locator("ol.timeline").inner_text()

    # 问责审核 by the section itself: 梅林镇's late report confirmed, in the section's name and role.
    await page.goto("/review/entries?township=梅林镇&kind=late_report")
    (late,) = await _entry_ids(page)
    await page.get_by_label(f"选择问责记录 {late}").check()
    await page.get_by_label("审核结果").select_option("confirm")
    await page.get_by_label("理由（必填）").fill("经电话核实，首报确属迟报")
    await page.get_by_role("button", name="提交审核").click()
    await page.wait_for_load_state()
    assert "已审核 1 条问责记录" in await page.locator(".notice").inner_text()
    assert await _entry_ids(page) == []
    await page.goto(f"/entries/{late}")
    assert "已确认" in await page.locator("#entry-status").inner_text()
    assert (
        "信息科 · 信息科李四（xxk） 确认（理由：经电话核实，首报确属迟报）"
        in await page.locator("ol.timeline").inner_text()
    )
    await context.close()


async def _entry_ids(page: Page) -> list[int]:
    return [
        int(v)
        for v in await page.locator("tr[data-entry]").evaluate_all("rows => rows.map(r => r.dataset.entry)")
    ]


async def _auditor(browser: Any, watched: Watched, run: Running) -> None:
    context, page = await _open(browser, watched)
    await _first_sign_in(page, "sj")
    await page.get_by_role("navigation", name="审核与问责").get_by_role("link", name="问责记录").click()
    assert await page.locator("h1").inner_text() == "问责记录"
    assert await page.get_by_label("期间（发生时间）").input_value() == "2026-Q1"  # the current quarter
    everything = await _entry_ids(page)
    await _check(page, "entries")

    await page.get_by_label("乡镇").select_option("城关镇")
    await page.get_by_label("类型").select_option("late_report")
    await page.get_by_role("button", name="筛选").click()
    await page.wait_for_load_state()
    query = parse_qs(urlsplit(page.url).query)
    assert query["township"] == ["城关镇"] and query["kind"] == ["late_report"]
    shown = await _entry_ids(page)
    policy = run.service.policy
    async with reading(run.service.engine) as conn:
        q = EntryQuery(
            township="城关镇", kind="late_report", auto_confirm=frozenset(policy.scoring.auto_confirm)
        )
        expected = [e["id"] async for e in iterate_entries(conn, q)]
    assert shown == expected and len(shown) == 3 and len(everything) > len(shown)

    async with page.expect_download() as download:
        await page.get_by_role("link", name="导出 XLSX").click()
    path = await (await download.value).path()
    sheet = openpyxl.load_workbook(io.BytesIO(path.read_bytes()))["问责记录"]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0][:5] == ["编号", "类型", "认定", "状态", "乡镇"]
    assert [r[0] for r in rows[1:]] == expected
    assert {(r[1], r[4]) for r in rows[1:]} == {("迟报", "城关镇")}
    async with page.expect_download() as download:
        await page.get_by_role("link", name="导出 CSV").click()
    body = (await (await download.value).path()).read_bytes()
    assert body.startswith("\ufeff".encode()) and len(body.decode("utf-8-sig").strip().splitlines()) == 4

    # An entry's evidence.
    await page.locator(f'tr[data-entry="{expected[0]}"]').get_by_role("link").first.click()
    assert f"问责记录 {expected[0]}：迟报" in await page.locator("h1").inner_text()
    text = await page.locator("main").inner_text()
    assert "C-1" in text and "报送" in text and "尚未审核" in text
    await _check(page, "entry")

    # 问责审核: two of the queue waived with one reason.
    await page.goto("/review/entries?township=城关镇&kind=late_report")
    assert await _entry_ids(page) == expected  # all three pending
    await _check(page, "review-entries")
    for entry_id in expected[:2]:
        await page.get_by_label(f"选择问责记录 {entry_id}").check()
    await page.get_by_label("审核结果").select_option("waive")
    await page.get_by_label("理由（必填）").fill("通信中断，经核实免责")
    await page.get_by_role("button", name="提交审核").click()
    await page.wait_for_load_state()
    assert "已审核 2 条问责记录" in await page.locator(".notice").inner_text()
    assert await _entry_ids(page) == expected[2:]  # the pending queue keeps the third
    await page.goto("/entries?township=城关镇&kind=late_report&status=waived")
    assert await _entry_ids(page) == expected[:2]
    await page.goto(f"/entries/{expected[0]}")
    assert "已免责" in await page.locator("#entry-status").inner_text()
    reviewed = await page.locator("ol.timeline").inner_text()
    assert "审计 · 审计赵六（sj） 免责（理由：通信中断，经核实免责）" in reviewed

    # 链校验.
    await page.goto("/entries/verify")
    await page.get_by_role("button", name="开始校验").click()
    await page.wait_for_load_state()
    result = await page.locator("#verify-result").inner_text()
    assert "完整" in result and "哈希链完好" in result
    await _check(page, "verify")

    # 季度通报: the live draft and the drill-down from 城关镇 to its entries of the quarter.
    await page.goto("/bulletins")
    await _check(page, "bulletins")
    await page.locator('tr[data-period="2026-Q1"]').get_by_role("link").first.click()
    assert "草稿（未发布，数据可能变化）" in await page.locator("article.bulletin").inner_text()
    assert (
        await page.evaluate("getComputedStyle(document.querySelector('article.bulletin h1')).textAlign")
        == "center"
    )  # the bulletin's stylesheet applies under the CSP
    await _check(page, "bulletin")
    await page.emulate_media(media="print")  # A4: the page's header and buttons are not printed
    assert (
        await page.locator("header.top").is_hidden() and await page.locator(".bulletin-actions").is_hidden()
    )
    pdf = await page.pdf(format="A4", print_background=False)
    assert pdf.startswith(b"%PDF") and len(pdf) > 1000
    await page.emulate_media(media="screen")
    await page.locator("table.ranking").get_by_role("link", name="城关镇").click()
    await page.wait_for_load_state()
    assert parse_qs(urlsplit(page.url).query) == {"township": ["城关镇"], "period": ["2026-Q1"]}
    drilled = await _entry_ids(page)
    async with reading(run.service.engine) as conn:
        q = EntryQuery(township="城关镇", auto_confirm=frozenset(policy.scoring.auto_confirm))
        assert drilled == sorted([e["id"] async for e in iterate_entries(conn, q)], reverse=False)
    assert set(expected) <= set(drilled)
    xlsx = await context.request.get("/bulletins/2026-Q1/xlsx")
    assert xlsx.ok and "排名" in openpyxl.load_workbook(io.BytesIO(await xlsx.body())).sheetnames
    await context.close()


async def _township_refused(browser: Any, watched: Watched) -> None:
    context, page = await _open(browser, watched)
    await _first_sign_in(page, "cgz")
    assert await page.get_by_role("navigation", name="审核与问责").count() == 0
    for path in (
        "/review/items",
        "/review/entries",
        "/entries",
        "/entries/verify",
        "/bulletins",
        "/bulletins/2026-Q1",
        "/entries/export?format=xlsx",
    ):
        response = await page.goto(path)
        assert response is not None and response.status == 403, path
        assert "无权访问此页面" in await page.locator("main").inner_text()
    await context.close()
