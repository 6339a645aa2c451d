"""The duty officer's pages in a real browser (Debian's chromium) against the real service on real
Kafka and each database (SQLite, PostgreSQL): townships report through the API and the board shows
each within seconds by its own polling; after 开始值班 a new incident brings the banner; 签收 of one
row and of two ticked rows in one request; an unchanged board answered 304; the countdown of an
acknowledged incident stops while the clock runs on (FakeClock); an incident another officer
acknowledged meanwhile says so; 办结 needs its note; 上报市委办 by phone, and once only; 交接班; a
township user and an auditor; axe-core and screenshots on every page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.async_api import Page, async_playwright

from alerting.cli.users import create_account
from alerting.clock import FakeClock
from alerting.domain import Role
from tests.e2e.test_ack_link import CHROMIUM_ARGS
from tests.e2e.test_slice import post_report
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

T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)  # 09:00 in Asia/Shanghai: 王小明's shift (roster CSV)
WAIT = 20_000  # ms: a report through Kafka and the board's next 5 s refresh
PASSWORD = "值班-password-2026"
ME = "王小明（wxm）"


async def _person(browser: Any, run: Running, watched: Watched, username: str, role: Role, **kw: Any) -> Page:
    temporary = await create_account(
        run.service.settings,
        run.service.policy,
        username=username,
        role=role,
        township=kw.get("township"),
        name=kw["name"],
        by="测试",
    )
    _, page = await _open(browser, watched)
    await _sign_in(page, username, temporary)
    await _change_password(page, temporary, PASSWORD)
    return page


def _row(page: Page, incident_id: str) -> Any:
    return page.locator(f'#board-live tr[data-incident="{incident_id}"]')


async def test_the_duty_officers_pages(database_url: str, kafka_bootstrap: str) -> None:
    clock = FakeClock(T0)
    async with receiver() as hook:
        policy = example_policy(hook.url)
        async with running_service(service_settings(database_url, kafka_bootstrap), policy, clock) as run:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                try:
                    await _journey(browser, run)
                finally:
                    await browser.close()


async def _journey(browser: Any, run: Running) -> None:
    watched = Watched(run.base_url)
    township = await run.token(Role.TOWNSHIP, "城关镇")
    meilin = await run.token(Role.TOWNSHIP, "梅林镇")
    other_officer = await run.token(Role.DUTY_OFFICER)  # another officer, through the API
    officer = await _person(browser, run, watched, "wxm", Role.DUTY_OFFICER, name="王小明")
    assert "值班看板" in await officer.locator("main").inner_text()  # linked from the landing page

    # A township reports; the board, open before, shows it within seconds (its own polling).
    await officer.goto("/board")
    assert "没有未办结的事件" in await officer.locator("#board-live").inner_text()
    await post_report(run, township, report_body("INC-1", "城关镇", known_at=T0))
    await _row(officer, "INC-1").wait_for(timeout=WAIT)
    row = await _row(officer, "INC-1").inner_text()
    assert "II 级" in row and "城关镇" in row and "待签收" in row and "剩余 0" in row, row
    assert await officer.locator("#duty-banner").is_hidden()  # not on duty yet: no banner

    # 开始值班: the next new incident brings the banner (and the sound, unless muted).
    await officer.get_by_role("button", name="开始值班").click()
    assert await officer.locator("#duty-start").get_attribute("aria-pressed") == "true"
    await officer.locator("#duty-mute").click()
    assert await officer.evaluate("localStorage.getItem('duty-muted')") == "1"
    await officer.locator("#duty-mute").click()  # sound back on, kept in localStorage
    assert await officer.evaluate("localStorage.getItem('duty-muted')") == "0"
    await post_report(run, meilin, report_body("INC-2", "梅林镇", known_at=T0))
    await officer.locator("#duty-banner").wait_for(state="visible", timeout=WAIT)
    assert "梅林镇" in await officer.locator("#duty-banner-text").inner_text()
    assert await officer.locator("#duty-banner").get_attribute("data-sound") in ("played", "blocked")
    await officer.get_by_role("button", name="知道了").click()
    await _accessible(officer)
    await _screenshots(officer, "board")

    # One-click 签收, in the officer's name.
    await officer.locator("#ack-INC-1").click()
    await officer.locator("#board-live .duty-messages").wait_for()
    assert "INC-1 已签收" in await officer.locator("#board-live .duty-messages").inner_text()
    assert f"已由 {ME} 于 09:00 签收" in await _row(officer, "INC-1").inner_text()

    # Two more; both ticked survive a refresh, then one bulk 签收 (one request).
    await post_report(run, township, report_body("INC-3", "城关镇", known_at=T0))
    await post_report(run, township, report_body("INC-4", "城关镇", known_at=T0))
    await _row(officer, "INC-4").wait_for(timeout=WAIT)
    await officer.locator("#pick-INC-2").check()
    await _row(officer, "INC-3").wait_for(timeout=WAIT)
    await officer.locator("#pick-INC-3").check()
    # Nothing changed since: the refresh is answered 304 and the page keeps what it shows.
    unchanged = (await officer.locator("#board-live").get_attribute("data-etag")) or ""
    assert unchanged.startswith('W/"')
    async with officer.expect_response(lambda r: "/board/live" in r.url) as polled:
        pass
    answer = await polled.value
    assert answer.status == 304 and (await answer.request.all_headers())["if-none-match"] == unchanged
    assert (
        await officer.locator("#board-checked").get_attribute("datetime") == answer.headers["x-board-checked"]
    )
    # Forget the tag: the next refresh renders the live part again, and the ticks survive the swap.
    await officer.evaluate("document.getElementById('board-live').removeAttribute('data-etag')")
    refreshes = "Number(document.body.dataset.boardRefreshes || '0')"
    before = await officer.evaluate(refreshes)

    async def refreshed() -> bool:
        return bool(await officer.evaluate(refreshes) > before)

    async with officer.expect_response(lambda r: "/board/live" in r.url) as polled:
        await eventually(refreshed, what="the board's next refresh")
    assert (await polled.value).status == 200
    assert await officer.locator("#board-live").get_attribute("data-etag") == unchanged  # same content
    assert (
        await officer.locator("#pick-INC-2").is_checked()
        and await officer.locator("#pick-INC-3").is_checked()
    )
    posts: list[str] = []
    officer.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    await officer.get_by_role("button", name="批量签收勾选的事件").click()
    await officer.locator("#board-live .duty-messages").wait_for()
    messages = await officer.locator("#board-live .duty-messages").inner_text()
    assert "INC-2 已签收" in messages and "INC-3 已签收" in messages
    assert posts == [run.base_url + "/board/ack"]
    for incident in ("INC-2", "INC-3"):
        assert f"已由 {ME} 于 09:00 签收" in await _row(officer, incident).inner_text()
    chips = await officer.locator("nav.chips").inner_text()
    assert "待签收 1" in chips and "处置中 3" in chips, chips

    # Ten minutes on the service's clock: INC-4 is overdue for 签收, INC-1's countdown of 签收 stopped.
    # The open board counts from the server's time its refresh brings (the second refresh: the first
    # may have been asked before the clock moved).
    await run.clock.advance(timedelta(minutes=10))
    before = await officer.evaluate(refreshes) + 1
    await eventually(refreshed, what="the board's second refresh")
    assert "已超时 05:0" in await _row(officer, "INC-4").locator("td.next").inner_text()
    await officer.goto("/board?chip=overdue")
    await _row(officer, "INC-4").wait_for()
    assert "已超时 05:00" in await _row(officer, "INC-4").locator("td.next").inner_text()
    assert await _row(officer, "INC-1").count() == 0  # the filter is in the URL
    await officer.goto("/board?page=99&chip=nonsense")  # a stale bookmark: the last page, all chips
    assert "共 4 起，第 1 / 1 页" in await officer.locator("#board-live").inner_text()
    await officer.goto("/incidents/INC-1")
    ack = officer.locator('tr[data-deadline="ack"]')
    assert "已完成" in await ack.inner_text() and await ack.locator("time[data-countdown]").count() == 0
    assert "剩余" in await officer.locator('tr[data-deadline="forward_phone"]').inner_text()
    await _accessible(officer)
    await _screenshots(officer, "incident")

    # Another officer acknowledges INC-4 through the API after the board was loaded: the click says so.
    await officer.goto("/board")
    acked = await run.client.post(
        "/api/v1/incidents/INC-4/ack", headers={"Authorization": f"Bearer {other_officer}"}
    )
    assert acked.status_code == 200
    await officer.locator("#ack-INC-4").click()
    await officer.locator("#board-live .duty-messages").wait_for()
    stale = await officer.locator("#board-live .duty-messages").inner_text()
    assert "INC-4：已由 duty_officer- 于 09:10 签收，本次未重复签收" in stale, stale
    assert "已由 duty_officer- 于 09:10 签收" in await _row(officer, "INC-4").inner_text()

    # 办结 needs a note, refused beside the field; with one, it is on the timeline.
    await officer.goto("/incidents/INC-1")
    await officer.get_by_role("button", name="办结").click()
    await officer.locator("#note-error").wait_for()
    assert "请填写办结说明" in await officer.locator("#note-error").inner_text()
    assert await officer.get_by_label("办结说明（必填）").get_attribute("aria-invalid") == "true"
    await officer.get_by_label("办结说明（必填）").fill("火情已扑灭，现场清理完毕")
    await officer.get_by_role("button", name="办结").click()
    await officer.wait_for_url("**/incidents/INC-1?done=closed")
    closed = await officer.locator('ol.timeline li[data-kind="closed"]').inner_text()
    assert closed.endswith(f"应急响应结束（{ME}），开始计算终报时限；办结说明：火情已扑灭，现场清理完毕")

    # A page left open on INC-1 closes it again: refused with whose 办结 stands.
    token = await officer.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")
    again = await officer.context.request.post(
        "/incidents/INC-1/close", form={"csrf_token": token, "note": "再次办结"}, max_redirects=0
    )
    assert again.status == 409 and f"已由 {ME} 于 09:10 办结，本次未重复办结" in await again.text()

    # 上报市委办 by phone; the same again from the page is refused with whose report stands.
    await officer.goto("/incidents/INC-2")
    await officer.get_by_label("电话上报").check()
    await officer.get_by_label("说明（接报人、文号等，可不填）").fill("市委办值班室李科长")
    await officer.get_by_role("button", name="记录上报").click()
    await officer.wait_for_url("**/incidents/INC-2?done=phone")
    assert "已记录电话上报市委办" in await officer.locator(".notice").inner_text()
    assert "已完成" in await officer.locator('tr[data-deadline="forward_phone"]').inner_text()
    forwarded = await officer.locator('ol.timeline li[data-kind="forwarded"]').inner_text()
    assert forwarded.endswith(f"{ME} 已电话上报市委办（市委办值班室李科长）")
    await officer.get_by_label("电话上报").check()
    await officer.get_by_role("button", name="记录上报").click()
    assert (
        f"已由 {ME} 于 09:10 电话上报市委办，本次未重复记录" in await officer.locator("#stale").inner_text()
    )

    # 交接班: who hands over to whom, what is open and overdue, what this shift did.
    await officer.goto("/handover")
    assert "王小明" in await officer.locator("#hands-over").inner_text()
    assert "陈丽" in await officer.locator("#takes-over").inner_text()
    done = await officer.locator("#acts tbody").inner_text()
    assert done.count("签收") == 4 and "办结" in done and "上报市委办（电话）" in done, done
    assert await officer.locator("#open tbody tr").count() == 3  # INC-1 is closed
    await officer.evaluate("window.print = () => { document.body.dataset.printed = '1'; }")
    await officer.get_by_role("button", name="打印").click()
    assert await officer.evaluate("document.body.dataset.printed") == "1"
    await _accessible(officer)
    await _screenshots(officer, "handover")

    # A township user may not open the board; an auditor reads it without acting.
    clerk = await _person(browser, run, watched, "cgz", Role.TOWNSHIP, name="城关镇信息员", township="城关镇")
    refused = await clerk.goto("/board")
    assert refused is not None and refused.status == 403
    assert "无权访问" in await clerk.locator("main").inner_text()
    for page in ("/incidents/INC-1", "/handover"):
        refused = await clerk.goto(page)
        assert refused is not None and refused.status == 403, page
    auditor = await _person(browser, run, watched, "sj", Role.AUDITOR, name="审计员")
    await auditor.clock.install()  # the browser's timers on a fake clock: the 5 s refresh on demand
    await auditor.goto("/board")
    await _row(auditor, "INC-2").wait_for()
    assert await auditor.locator("#board-live button, #board-live input[type=checkbox]").count() == 0
    await _refresh_pauses(auditor)
    await auditor.goto("/incidents/INC-3")
    assert await auditor.get_by_role("button", name="办结").count() == 0

    assert watched.csp == []
    assert [url for url in watched.requests if not url.startswith(run.base_url)] == []


async def _refresh_pauses(page: Page) -> None:
    """No refresh while the tab is hidden or a dialog is open; one at once when the tab is back."""
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if "/board/live" in r.url else None)
    async with page.expect_request("**/board/live?**"):
        await page.clock.run_for(5_000)
    await page.evaluate(
        "Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'})"
    )
    await page.clock.run_for(20_000)
    await page.evaluate(
        "document.body.appendChild(document.createElement('dialog')).setAttribute('open', '')"
    )
    await page.evaluate("delete document.visibilityState")  # visible again, but a dialog is open
    await page.clock.run_for(20_000)
    await page.evaluate("document.querySelector('dialog').remove()")
    async with page.expect_request("**/board/live?**"):
        await page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    assert len(polls) == 2, polls  # the first 5 s, then the tab's return: none in the 40 s between
