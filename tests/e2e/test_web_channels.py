"""通知通道 (/admin/channels) in a real browser against the real service on real Kafka and SQLite:
each channel with its receiver's host only (never the robot's key), the steps using it and its
deliveries of the last day (a real escalation sent first); 发送测试消息 through a chat robot on
127.0.0.1, delivered and then refused with errcode 93000 in plain words; a bad phone number refused
beside the form; each test in the operations log without the numbers; a duty officer refused."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from playwright.async_api import async_playwright

from alerting.cli.users import create_account
from alerting.clock import FakeClock
from alerting.domain import Role
from alerting.policy.channels import SmsChannel
from tests.browser import CHROMIUM_ARGS
from tests.e2e.test_channel_cli import channel_tests
from tests.e2e.test_slice import T0, post_report
from tests.e2e.test_web_accounts import Watched, _accessible, _change_password, _open, _screenshots, _sign_in
from tests.support import eventually, example_policy, receiver, report_body, running_service, service_settings
from tests.unit.test_integrations import ROBOT_KEY, robot, robot_channel

PASSWORD = "县委办-管理员-2026"
PHONE = "13800000001"


async def test_the_channels_page_sends_test_messages(sqlite_url: str, kafka_bootstrap: str) -> None:
    answers = [{"errcode": 0, "errmsg": "ok"}, {"errcode": 93000, "errmsg": "invalid webhook url"}]
    async with receiver() as hook, robot(answers) as bot, receiver() as gateway:
        base = example_policy(hook.url)
        channels = {
            **base.channels,
            "duty_robot": robot_channel(bot.url, rate_limits=["20/1m"]),
            "sms": SmsChannel(type="sms", url=gateway.url),
        }
        policy = base.model_copy(update={"channels": channels})
        clock = FakeClock(T0)
        async with running_service(service_settings(sqlite_url, kafka_bootstrap), policy, clock) as run:
            town = await run.token(Role.TOWNSHIP, "城关镇")
            await post_report(run, town, report_body("INC-C1", "城关镇", known_at=T0))
            duty = await run.token(Role.DUTY_OFFICER)
            await eventually(lambda: run.incident("INC-C1", duty), what="the report stored")
            await clock.advance(timedelta(minutes=6))  # the acknowledgement is missed: a real escalation
            await eventually(lambda: len(hook.received) >= 1, what="an escalation sent")
            people = {}
            for username, role in (("admin1", Role.ADMIN), ("zb", Role.DUTY_OFFICER)):
                people[username] = await create_account(
                    run.service.settings,
                    policy,
                    username=username,
                    role=role,
                    township=None,
                    name=f"{username}用户",
                    by="部署脚本",
                )
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                try:
                    watched = Watched(run.base_url)
                    await _admin(browser, watched, people["admin1"], bot, hook.url)
                    await _refused(browser, watched, people["zb"])
                    assert watched.csp == []
                finally:
                    await browser.close()
            logged = await channel_tests(sqlite_url)
    assert [(a, t, d["delivered"], d["detail"], d["phones"]) for a, t, d in logged] == [
        ("admin1", "duty_robot", True, "ok", 1),
        ("admin1", "duty_robot", False, "robot errcode 93000", 0),
    ]
    assert PHONE not in json.dumps([d for _, _, d in logged])
    assert gateway.received == []  # the refused SMS test sent nothing


async def _admin(browser: Any, watched: Watched, temporary: str, bot: Any, hook_url: str) -> None:
    context, page = await _open(browser, watched)
    await _sign_in(page, "admin1", temporary)
    await _change_password(page, temporary, PASSWORD)
    await page.get_by_role("link", name="通知通道").click()
    assert await page.locator("h1").inner_text() == "通知通道"
    html = await page.content()
    assert ROBOT_KEY not in html and "/cgi-bin/" not in html and "county-hook" not in html  # hosts only
    robot_card = page.locator('section[data-channel="duty_robot"]')
    assert "群机器人" in await robot_card.inner_text()
    assert bot.url.split("/cgi-bin")[0] in await robot_card.inner_text()
    webhook = await page.locator('section[data-channel="county_webhook"]').inner_text()
    assert "已送达 1 条 · 放弃 0 条 · 待发送 0 条 · 最近送达 2026-03-02 09:06" in webhook, webhook
    assert "default（第 1、2、3 步）；first_report（第 1、2、3 步）" in webhook
    assert "未被任何升级步骤使用" in await robot_card.inner_text()
    limits = robot_card.locator(".limits")
    assert await limits.inner_text() == "每分钟 20 条（所有副本共用，超出的排队等候，不丢弃）"
    assert "不限" in await page.locator('section[data-channel="county_webhook"] .limits').inner_text()
    await _accessible(page)
    await _screenshots(page, "admin-channels")

    # A test through the robot, mentioning one number: delivered.
    await robot_card.get_by_label("@提醒的手机号码（可不填）").fill(PHONE)
    await robot_card.get_by_role("button", name="发送测试消息").click()
    await page.wait_for_load_state()
    result = page.locator("#test-result")
    assert await result.get_attribute("data-delivered") == "yes"
    assert "发送成功，接收方已确认收到" in await result.inner_text()
    [sent] = bot.received
    assert sent.body["text"]["content"].startswith(
        "【测试消息】这是县委办紧急信息报送系统经通道「duty_robot」"
    )
    assert sent.body["text"]["mentioned_mobile_list"] == [PHONE]

    # The robot refuses the next one (errcode 93000): said in plain words, not retried.
    await (
        page.locator('section[data-channel="duty_robot"]').get_by_role("button", name="发送测试消息").click()
    )
    await page.wait_for_load_state()
    failed = await page.locator("#test-result").inner_text()
    assert "发送失败：机器人返回错误码 93000：机器人地址无效" in failed and "robot errcode 93000" in failed
    assert len(bot.received) == 2
    await _screenshots(page, "admin-channels-failed")

    # A number that is not one: refused beside the form, nothing sent.
    sms = page.locator('section[data-channel="sms"]')
    await sms.get_by_label("接收测试短信的手机号码（必填）").fill("abc")
    async with page.expect_response(lambda r: r.request.method == "POST") as answer:
        await sms.get_by_role("button", name="发送测试消息").click()
    assert (await answer.value).status == 400
    assert "通道「sms」：手机号码格式不正确" in await page.locator("#test-error").inner_text()
    await context.close()


async def _refused(browser: Any, watched: Watched, temporary: str) -> None:
    context, page = await _open(browser, watched)
    await _sign_in(page, "zb", temporary)
    await _change_password(page, temporary, PASSWORD)
    response = await page.goto("/admin/channels")
    assert response is not None and response.status == 403
    await context.close()
