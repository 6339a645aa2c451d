"""What the browser tests share: Debian's chromium's flags, the two viewports, axe-core's check and
the screenshots kept under tests/artifacts/screenshots/ (not committed)."""

from __future__ import annotations

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page

from tests.support import ROOT

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = ROOT / "tests/artifacts/screenshots"
WIDE, PHONE = {"width": 1280, "height": 900}, {"width": 360, "height": 780}


async def accessible(page: Page) -> None:
    results = await Axe().run(page)
    bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert bad == [], [(v["id"], v["impact"], [n["html"] for n in v["nodes"]][:3]) for v in bad]


async def screenshots(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}-1280.png"), full_page=True)
    await page.set_viewport_size(PHONE)
    await page.screenshot(path=str(SHOTS / f"{name}-360.png"), full_page=True)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"{name} is {width} px wide at 360 px"  # tables scroll inside their region
    await page.set_viewport_size(WIDE)
