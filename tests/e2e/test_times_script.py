"""static/times.js in a real browser (Debian's chromium) whose clock is wrong and on Playwright's fake
clock: its texts are the server's (alerting/web/clock_text.py), counted from the page's server time;
days from 48 h on; an overdue countdown gets the class (and its row, when asked); a stopped one is
left alone; a marker an htmx swap brings re-syncs the clock, a swap without one does not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.async_api import Page, async_playwright

from alerting.web.clock_text import ago, countdown
from alerting.web.templating import STATIC
from tests.browser import CHROMIUM_ARGS

SERVER = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
BROWSER = datetime(2025, 12, 31, 16, 0, tzinfo=UTC)  # the office PC's clock, two months off
SOON, LATE, FAR, AGO = (
    SERVER + timedelta(seconds=90),
    SERVER - timedelta(minutes=5),
    SERVER + timedelta(days=2, hours=3, minutes=5),
    SERVER - timedelta(minutes=3),
)
PAGE = f"""<span hidden data-server-now="{SERVER.isoformat()}"></span>
<table><tr id="row"><td><time id="soon" data-countdown="row" datetime="{SOON.isoformat()}"></time></td></tr>
<tr id="plain-row"><td><time id="late" data-countdown datetime="{LATE.isoformat()}">03-02 08:55<span
class="rel"></span></time></td></tr></table>
<time id="far" data-countdown datetime="{FAR.isoformat()}"></time>
<time id="stopped" data-countdown data-stopped datetime="{LATE.isoformat()}">已完成</time>
<time id="ago" data-ago datetime="{AGO.isoformat()}"></time>
<div id="swapped"></div>"""


async def _text(page: Page, selector: str) -> str:
    return await page.locator(selector).inner_text()


async def _classes(page: Page, selector: str) -> str:
    return await page.locator(selector).get_attribute("class") or ""


async def test_times_script_counts_from_the_server_s_clock() -> None:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.clock.install(time=BROWSER)
            # Paused before the script reads the clock: a loaded machine cannot move it on a second.
            await page.clock.pause_at(BROWSER + timedelta(seconds=1))
            await page.set_content(PAGE)
            await page.add_script_tag(path=STATIC / "times.js")

            assert await _text(page, "#soon") == countdown(SOON, SERVER) == "剩余 01:30"
            assert await _text(page, "#late .rel") == countdown(LATE, SERVER) == "已超时 05:00"
            assert await _text(page, "#far") == countdown(FAR, SERVER) == "剩余 2 天 3 小时"
            assert await _text(page, "#stopped") == "已完成"
            assert await _text(page, "#ago") == ago(AGO, SERVER) == "3 分钟前"
            assert "overdue" in await _classes(page, "#late") and await _classes(page, "#plain-row") == ""
            assert "overdue" not in await _classes(page, "#soon") + await _classes(page, "#row")

            await page.clock.run_for(91_000)
            assert await _text(page, "#soon") == countdown(SOON, SERVER + timedelta(seconds=91))
            assert "overdue" in await _classes(page, "#soon") and "overdue" in await _classes(page, "#row")
            assert await _text(page, "#ago") == "4 分钟前"

            # A swap without a marker keeps the clock; one with a newer marker moves it.
            settle = "document.dispatchEvent(new Event('htmx:afterSettle', {bubbles: true}))"
            await page.evaluate(settle)
            assert await _text(page, "#ago") == "4 分钟前"
            later = SERVER + timedelta(hours=4)
            await page.evaluate(
                "at => { document.getElementById('swapped').innerHTML ="
                " '<span hidden data-server-now=\"' + at + '\"></span>'; }",
                later.isoformat(),
            )
            await page.evaluate(settle)
            assert await _text(page, "#far") == countdown(FAR, later) == "剩余 47:05:00"
            assert await _text(page, "#ago") == ago(AGO, later) == "4 小时前"
        finally:
            await browser.close()
