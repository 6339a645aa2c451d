"""发送测试消息: one test message through each kind of channel against real receivers on 127.0.0.1,
and its outcome in plain words."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from alerting.policy.channels import WebhookChannel
from escalation.notify import probe
from tests.dingtalk_robot import robot as dingtalk_robot
from tests.support import free_port, receiver
from tests.unit.test_dingtalk import LEAKY, SECRET, TOKEN
from tests.unit.test_dingtalk import channel as dingtalk_channel
from tests.unit.test_integrations import ROBOT_KEY, robot, robot_channel, sms_channel

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


def payload(phones: list[str] | None = None) -> dict[str, Any]:
    return probe.probe_payload("duty_robot", "管理员甲（admin）", AT, phones or [])


async def test_a_robot_delivers_the_test_text_with_its_mentions(client: httpx.AsyncClient) -> None:
    async with robot([]) as hook:
        result = await probe.probe(client, robot_channel(hook.url), payload(["13800000001"]))
    assert (result.delivered, result.retryable, result.detail) == (True, False, "ok")
    assert result.explained == "发送成功，接收方已确认收到 / delivered: the receiver accepted it"
    [got] = hook.received
    assert got.body == {
        "msgtype": "text",
        "text": {
            "content": "【测试消息】这是县委办紧急信息报送系统经通道「duty_robot」发送的测试消息"
            "（管理员甲（admin），2026-03-02 09:30），无需处理。",
            "mentioned_mobile_list": ["13800000001"],
        },
    }
    assert got.headers["idempotency-key"].startswith("test/")


async def test_each_test_has_its_own_idempotency_key(client: httpx.AsyncClient) -> None:
    async with robot([]) as hook:
        for _ in range(2):
            assert (await probe.probe(client, robot_channel(hook.url), payload())).delivered
    first, second = hook.keys()
    assert first != second  # a receiver dropping repeats must not drop the second test


@pytest.mark.parametrize(
    ("errcode", "retryable", "words"),
    [
        (93000, False, "机器人返回错误码 93000：机器人地址无效（key 错误或机器人已被移出群聊）"),
        (45009, True, "机器人返回错误码 45009：发送过于频繁（每个机器人每分钟最多 20 条）"),
        (12345, False, "机器人返回错误码 12345：接收方拒绝了消息"),
    ],
)
async def test_a_robots_error_code_is_named(
    client: httpx.AsyncClient, errcode: int, retryable: bool, words: str
) -> None:
    async with robot([{"errcode": errcode, "errmsg": f"bad key={ROBOT_KEY}"}]) as hook:
        result = await probe.probe(client, robot_channel(hook.url), payload())
    assert (result.delivered, result.retryable, result.detail) == (
        False,
        retryable,
        f"robot errcode {errcode}",
    )
    assert result.explained.startswith(words)
    assert result.explained.endswith("会自动重试" if retryable else "不会重试，请先修正")
    assert ROBOT_KEY not in result.explained + result.detail  # the errmsg is not repeated


@pytest.mark.parametrize(
    ("status", "retryable", "words"),
    [
        (404, False, "HTTP 404：地址不存在：请检查通道地址"),
        (403, False, "HTTP 403：接收方拒绝授权：请检查密钥或签名"),
        (
            401,
            False,
            "HTTP 401：接收方拒绝授权：请检查密钥或签名（签名的 Webhook 还要求两端时钟相差不超过 5 分钟）",
        ),
        (503, True, "HTTP 503：接收方服务器出错"),
        (429, True, "HTTP 429：接收方限流"),
    ],
)
async def test_a_webhooks_http_status_is_explained(
    client: httpx.AsyncClient, status: int, retryable: bool, words: str
) -> None:
    async with receiver([status]) as hook:
        channel = WebhookChannel(type="webhook", url=hook.url)
        result = await probe.probe(client, channel, payload())
    assert (result.delivered, result.retryable, result.detail) == (False, retryable, f"HTTP {status}")
    assert result.explained.startswith(words)
    assert hook.received[0].body["test"] is True and hook.received[0].body["channel"] == "duty_robot"


async def test_an_unreachable_receiver_and_an_sms_without_numbers(client: httpx.AsyncClient) -> None:
    closed = WebhookChannel(type="webhook", url=f"http://127.0.0.1:{free_port()}/hook")
    result = await probe.probe(client, closed, payload())
    assert (result.delivered, result.retryable, result.detail) == (
        False,
        True,
        "transport error: ConnectError",
    )
    assert result.explained.startswith("无法连接接收方（ConnectError）：请检查地址、网络与防火墙")
    async with receiver() as hook:
        result = await probe.probe(client, sms_channel(hook.url), payload())
        sent = await probe.probe(client, sms_channel(hook.url), payload(["13800000001"]))
    assert (result.delivered, result.detail) == (False, "no recipient phone numbers")
    assert result.explained == "短信通道需要至少一个手机号码 / an SMS channel needs a phone number to send to"
    assert sent.delivered and [r.body["phones"] for r in hook.received] == [["13800000001"]]


# --- DingTalk robot ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "retryable", "words"),
    [
        ("sign not match", False, "钉钉机器人返回错误码 310000：加签校验失败：请检查通道的 secret"),
        (
            "invalid timestamp",
            False,
            "钉钉机器人返回错误码 310000：时间戳无效：本服务器时钟与钉钉相差超过 1 小时",
        ),
        (
            "keywords not in content",
            False,
            "钉钉机器人返回错误码 310000：消息不含机器人安全设置中的自定义关键词",
        ),
        ("ip 203.0.113.7 not in whitelist", False, "钉钉机器人返回错误码 310000：本服务器的出口 IP 不在"),
        (130101, True, "钉钉机器人返回错误码 130101：发送过于频繁（每个机器人每分钟最多 20 条"),
        (400102, False, "钉钉机器人返回错误码 400102：机器人已停用"),
        (99999, False, "钉钉机器人返回错误码 99999：钉钉拒绝了消息"),
    ],
)
async def test_the_test_message_explains_dingtalks_answer(
    client: httpx.AsyncClient, answer: str | int, retryable: bool, words: str
) -> None:
    said = (
        {"errcode": 310000, "errmsg": answer}
        if isinstance(answer, str)
        else {"errcode": answer, "errmsg": LEAKY}
    )
    test = probe.probe_payload("duty_dingtalk", "管理员甲（admin）", AT, ["13800000001"])
    async with dingtalk_robot(TOKEN, SECRET, AT, script=[said]) as hook:
        result = await probe.probe(client, dingtalk_channel(hook.url), test)
    assert (result.delivered, result.retryable) == (False, retryable)
    assert result.explained.startswith(words), result.explained
    assert result.explained.endswith("会自动重试" if retryable else "不会重试，请先修正")
    if "203.0.113.7" in str(answer):
        assert "（钉钉所见地址：203.0.113.7）" in result.explained
    for secret in (TOKEN, SECRET, "13800000001"):
        assert secret not in result.explained + result.detail
    assert json.loads(hook.received[0].raw)["msgUuid"].startswith("test/")
    assert probe.TYPE_ZH["dingtalk"] == "钉钉机器人"


async def test_the_test_message_is_delivered(client: httpx.AsyncClient) -> None:
    test = probe.probe_payload("duty_dingtalk", "管理员甲（admin）", datetime.now(UTC), ["13800000001"])
    async with dingtalk_robot(TOKEN, SECRET, datetime.now(UTC)) as hook:
        result = await probe.probe(client, dingtalk_channel(hook.url), test)  # the wall clock signs it
    assert (result.delivered, result.detail) == (True, "ok")
    assert hook.shown[0]["text"]["content"].endswith("无需处理。\n@13800000001")
