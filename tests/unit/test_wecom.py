"""The WeCom robot integration against a robot on 127.0.0.1 that checks requests as WeCom does
(tests/wecom_robot.py), its policy model, and the test message's words for its failures."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from alerting.errors import PermanentDelivery, RetryableDelivery
from alerting.policy.channels import WecomChannel
from alerting.policy.loader import parse_policy
from escalation.notify import dispatch, probe, wecom
from tests.support import answering, free_port, serve
from tests.unit.test_integrations import ACK_LI, ACK_WANG, KEY, TEXT, payload
from tests.unit.test_policy import ENV, EXAMPLE, error
from tests.wecom_robot import robot

ROBOT_KEY = "5f2c9a1e-8b3d-4e6f-a7c0-d1e2f3a4b5c6"
AT = datetime(2024, 5, 1, 2, 0, 5, tzinfo=UTC)
PHONES = ["13800000001", "13800000002"]
LEAKY = f"invalid webhook url, hint: [{ROBOT_KEY}] 13800000001"


def channel(url: str, **fields: Any) -> WecomChannel:
    return WecomChannel(type="wecom", url=url, **fields)


def people(n: int) -> list[dict[str, Any]]:
    return [
        {"role": "duty_officer", "name": f"值班{i}", "phone": f"138000001{i:02d}", "ack_url": f"{ACK_LI}-{i}"}
        for i in range(n)
    ]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


# --- the message ----------------------------------------------------------------------------------


async def test_text_carries_each_persons_line_and_mentions_their_mobiles(client: httpx.AsyncClient) -> None:
    async with robot(ROBOT_KEY, AT) as hook:
        await wecom.send(client, channel(hook.url), payload())
    [got] = hook.received
    assert (got.path, got.query) == ("/cgi-bin/webhook/send", f"key={ROBOT_KEY}")
    assert got.headers["content-type"] == "application/json"
    assert hook.shown == [
        {
            "msgtype": "text",
            "text": {
                "content": f"{TEXT}\n值班员李四 签收: {ACK_LI}\n带班领导王五 签收: {ACK_WANG}",
                "mentioned_mobile_list": PHONES,
            },
        }
    ]


async def test_markdown_carries_each_persons_link_and_no_mention(client: httpx.AsyncClient) -> None:
    async with robot(ROBOT_KEY, AT) as hook:
        await wecom.send(client, channel(hook.url, format="markdown"), payload())
    assert hook.shown == [
        {
            "msgtype": "markdown",
            "markdown": {"content": f"{TEXT}\n[值班员李四 签收]({ACK_LI})\n[带班领导王五 签收]({ACK_WANG})"},
        }
    ]


async def test_without_links_or_mentions(client: httpx.AsyncClient) -> None:
    unlinked = payload(
        recipients=[{k: v for k, v in r.items() if k != "ack_url"} for r in payload()["recipients"]]
    )
    async with robot(ROBOT_KEY, AT) as hook:
        await wecom.send(client, channel(hook.url, mention_recipients=False), payload())
        await wecom.send(client, channel(hook.url), unlinked)
        await wecom.send(client, channel(hook.url), payload(recipients=None))
    assert [m["text"] for m in hook.shown] == [
        {"content": f"{TEXT}\n值班员李四 签收: {ACK_LI}\n带班领导王五 签收: {ACK_WANG}"},
        {"content": TEXT, "mentioned_mobile_list": PHONES},
        {"content": TEXT},
    ]


def test_only_mobile_numbers_are_mentioned() -> None:
    numbers = ("0791-80000001", "+8613800000003", "13800000003", "138000000", "86 13800000004", "")
    body = wecom.robot_body(
        channel("https://127.0.0.1/x?key=k"), payload(recipients=[{"phone": p} for p in numbers])
    )
    assert body["text"]["mentioned_mobile_list"] == ["13800000003", "13800000004"]


@pytest.mark.parametrize(("format_", "limit"), [("text", 2048), ("markdown", 4096)])
async def test_a_long_text_is_cut_under_the_limit_keeping_every_link(
    client: httpx.AsyncClient, format_: str, limit: int
) -> None:
    long = "现场情况：" + "火势已得到控制，群众已疏散。" * 400
    async with robot(ROBOT_KEY, AT) as hook:
        await wecom.send(client, channel(hook.url, format=format_), payload(text=long, recipients=people(12)))
    [shown] = hook.shown
    content = shown[format_]["content"]
    assert limit - 3 < len(content.encode()) <= limit  # as much text as fits, on a character boundary
    head, *lines = content.split("\n")
    assert long.startswith(head.removesuffix("…")) and head.endswith("…")
    line = "值班员值班{0} 签收: {1}-{0}" if format_ == "text" else "[值班员值班{0} 签收]({1}-{0})"
    assert lines == [line.format(f"{i}", ACK_LI) for i in range(12)]
    if format_ == "text":
        assert shown["text"]["mentioned_mobile_list"] == [f"138000001{i:02d}" for i in range(12)]


def test_a_text_that_fits_exactly_is_not_cut() -> None:
    one = payload(recipients=people(1))
    line = f"\n值班员值班0 签收: {ACK_LI}-0"
    text = "火" * ((2048 - len(line.encode())) // 3) + "x" * ((2048 - len(line.encode())) % 3)
    content = wecom.robot_body(channel("https://127.0.0.1/x?key=k"), {**one, "text": text})["text"]["content"]
    assert content == text + line and len(content.encode()) == 2048
    over = wecom.robot_body(channel("https://127.0.0.1/x?key=k"), {**one, "text": text + "火"})["text"][
        "content"
    ]
    assert over.endswith("…" + line) and len(over.encode()) <= 2048


async def test_links_that_alone_exceed_the_limit_are_permanent_and_not_sent(
    client: httpx.AsyncClient,
) -> None:
    many = [{**p, "ack_url": p["ack_url"] + "/" + "a" * 200} for p in people(10)]
    async with robot(ROBOT_KEY, AT) as hook:
        with pytest.raises(PermanentDelivery, match=r"^wecom message over 2048 bytes without its text$"):
            await wecom.send(client, channel(hook.url), payload(recipients=many))
        await wecom.send(client, channel(hook.url, format="markdown"), payload(recipients=many))
    assert len(hook.received) == 1 and hook.shown[0]["msgtype"] == "markdown"


async def test_the_robot_refuses_what_wecom_refuses(client: httpx.AsyncClient) -> None:
    async with robot(ROBOT_KEY, AT) as hook:
        answers = [
            (await client.post(hook.url, json=body)).json()
            for body in (
                {"msgtype": "text", "text": {"content": "火" * 683}},
                {"msgtype": "markdown", "markdown": {"content": "火" * 1366}},
                {"msgtype": "news", "news": {}},
                {"msgtype": "text", "text": {"content": ""}},
            )
        ]
        wrong = (await client.post(hook.url.replace(ROBOT_KEY, "0" * 36), json={})).json()
    assert [a["errcode"] for a in answers] == [40058, 40058, 40008, 44004]
    assert answers[0]["errmsg"].startswith("text.content exceed max length 2048.")
    assert answers[1]["errmsg"].startswith("markdown.content exceed max length 4096.")
    assert wrong["errcode"] == 93000 and hook.shown == []


async def test_a_wrong_key_is_permanent_and_never_named(client: httpx.AsyncClient) -> None:
    async with robot(ROBOT_KEY, AT) as hook:
        with pytest.raises(PermanentDelivery) as info:
            await wecom.send(client, channel(hook.url.replace(ROBOT_KEY, "0" * 36)), payload())
    assert str(info.value) == "wecom errcode 93000"


async def test_twenty_a_minute_per_key(client: httpx.AsyncClient) -> None:
    async with robot(ROBOT_KEY, AT) as hook:
        for n in range(20):
            hook.now = AT + timedelta(seconds=2 * n)
            await wecom.send(client, channel(hook.url), payload())
        with pytest.raises(RetryableDelivery) as info:
            await wecom.send(client, channel(hook.url), payload())
        assert (str(info.value), info.value.retry_after) == ("wecom errcode 45009", timedelta(minutes=1))
        hook.now = AT + timedelta(minutes=1, seconds=1)  # the first message has left the minute
        await wecom.send(client, channel(hook.url), payload())
    assert len(hook.accepted_at) == 21 and len(hook.received) == 22


# --- answers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("errcode", "retryable", "wait"),
    [
        (45009, True, timedelta(minutes=1)),
        (45033, True, None),
        (-1, True, None),
        *[(code, False, None) for code in (93000, 40008, 44004, 45002, 40058, 12345)],
    ],
)
async def test_retry_versus_permanent_for_each_errcode(
    client: httpx.AsyncClient, errcode: int, retryable: bool, wait: timedelta | None
) -> None:
    async with robot(ROBOT_KEY, AT, script=[{"errcode": errcode, "errmsg": LEAKY}]) as hook:
        with pytest.raises(RetryableDelivery if retryable else PermanentDelivery) as info:
            await dispatch.send(client, channel(hook.url), payload(), KEY)
    assert str(info.value) == f"wecom errcode {errcode}"
    assert getattr(info.value, "retry_after", None) == wait
    for secret in (ROBOT_KEY, "13800000001", "127.0.0.1", "hint"):
        assert secret not in str(info.value)


@pytest.mark.parametrize(("header", "wait"), [(b"120", timedelta(minutes=2)), (b"10", timedelta(minutes=1))])
async def test_45009_waits_a_minute_unless_retry_after_says_more(
    client: httpx.AsyncClient, header: bytes, wait: timedelta
) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"retry-after", header)]})
        await send(
            {"type": "http.response.body", "body": b'{"errcode":45009,"errmsg":"api freq out of limit"}'}
        )

    async with serve(app, free_port()) as base:
        with pytest.raises(RetryableDelivery) as info:
            await wecom.send(client, channel(f"{base}/cgi-bin/webhook/send?key={ROBOT_KEY}"), payload())
    assert info.value.retry_after == wait


async def test_http_status_and_answers_without_errcode(client: httpx.AsyncClient) -> None:
    answers = [(503, b"{}"), (429, b""), (404, b""), (200, b"<html>proxy</html>"), (200, b'{"ok":1}')]
    app = answering(answers, [(b"retry-after", b"42")])

    async with serve(app, free_port()) as base:
        ch = channel(f"{base}/cgi-bin/webhook/send?key={ROBOT_KEY}")
        with pytest.raises(RetryableDelivery, match=r"^HTTP 503$") as info:
            await wecom.send(client, ch, payload())
        assert info.value.retry_after == timedelta(seconds=42)
        with pytest.raises(RetryableDelivery, match=r"^HTTP 429$"):
            await wecom.send(client, ch, payload())
        with pytest.raises(PermanentDelivery, match=r"^HTTP 404$"):
            await wecom.send(client, ch, payload())
        for _ in range(2):
            with pytest.raises(RetryableDelivery, match=r"^HTTP 200 without a robot errcode$"):
                await wecom.send(client, ch, payload())


async def test_a_refused_connection_hides_url_and_key(client: httpx.AsyncClient) -> None:
    ch = channel(f"http://127.0.0.1:{free_port()}/cgi-bin/webhook/send?key={ROBOT_KEY}")
    with pytest.raises(RetryableDelivery) as info:
        await dispatch.send(client, ch, payload(), KEY)
    assert str(info.value) == "transport error: ConnectError"
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize(
    ("answer", "retryable", "words"),
    [
        (93000, False, "企业微信机器人返回错误码 93000：机器人地址无效（key 错误或机器人已被移出群聊）"),
        (45009, True, "企业微信机器人返回错误码 45009：发送过于频繁（每个机器人每分钟最多 20 条）"),
        (40058, False, "企业微信机器人返回错误码 40058：参数不合法"),
        (99999, False, "企业微信机器人返回错误码 99999：企业微信拒绝了消息"),
    ],
)
async def test_the_test_message_explains_wecoms_answer(
    client: httpx.AsyncClient, answer: int, retryable: bool, words: str
) -> None:
    test = probe.probe_payload("duty_wecom", "管理员甲（admin）", AT, ["13800000001"])
    async with robot(ROBOT_KEY, AT, script=[{"errcode": answer, "errmsg": LEAKY}]) as hook:
        result = await probe.probe(client, channel(hook.url), test)
    assert (result.delivered, result.retryable) == (False, retryable)
    assert result.explained.startswith(words), result.explained
    assert result.explained.endswith("会自动重试" if retryable else "不会重试，请先修正")
    for secret in (ROBOT_KEY, "13800000001"):
        assert secret not in result.explained + result.detail
    assert json.loads(hook.received[0].raw)["text"]["mentioned_mobile_list"] == ["13800000001"]
    assert probe.TYPE_ZH["wecom"] == "企业微信机器人"


def test_links_over_the_limit_are_explained() -> None:
    said = probe.explain("wecom message over 2048 bytes without its text", False)
    assert said.startswith("各人的签收链接合计已超过企业微信的 2048 字节上限")


# --- policy -------------------------------------------------------------------------------------

WECOM = """
[channels.duty_wecom]
type = "wecom"
url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=${ALERTING_WECOM_KEY}"
"""
WECOM_ENV = {**ENV, "ALERTING_WECOM_KEY": ROBOT_KEY}


def test_a_wecom_channel_loads_from_the_policy() -> None:
    ch = parse_policy(EXAMPLE + WECOM, env=WECOM_ENV).channels["duty_wecom"]
    assert ch == WecomChannel(
        type="wecom", url=f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={ROBOT_KEY}"
    )
    assert (ch.timeout, ch.max_attempts, ch.mention_recipients, ch.format) == (
        timedelta(seconds=5),
        6,
        True,
        "text",
    )
    markdown = parse_policy(EXAMPLE + WECOM + 'format = "markdown"\n', env=WECOM_ENV).channels["duty_wecom"]
    assert isinstance(markdown, WecomChannel) and markdown.format == "markdown"


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        (
            'key=${ALERTING_WECOM_KEY}"',
            'key=${ALERTING_WECOM_KEY}"\nsign = "x"',
            "channels.duty_wecom.wecom.sign",
        ),
        (
            'key=${ALERTING_WECOM_KEY}"',
            'key=${ALERTING_WECOM_KEY}"\nformat = "html"',
            "channels.duty_wecom.wecom.format",
        ),
        ("send?key=", "send?access_token=", "channels.duty_wecom.wecom.url"),
        ("send?key=${ALERTING_WECOM_KEY}", "send", "channels.duty_wecom.wecom.url"),
        ("send?key=${ALERTING_WECOM_KEY}", "send?key=", "channels.duty_wecom.wecom.url"),
    ],
)
def test_a_bad_wecom_channel_is_refused(old: str, new: str, key: str) -> None:
    err = error(EXAMPLE + WECOM.replace(old, new), env=WECOM_ENV)
    assert err.key == key
    assert ROBOT_KEY not in str(err)
