"""The DingTalk robot integration against a robot on 127.0.0.1 that checks requests as DingTalk does
(tests/dingtalk_robot.py), its policy model, and the test message's words for its failures."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from alerting.errors import PermanentDelivery, RetryableDelivery
from alerting.policy.channels import DingtalkChannel
from alerting.policy.loader import parse_policy
from escalation.notify import dingtalk, dispatch
from tests.dingtalk_robot import robot
from tests.support import answering, free_port, serve
from tests.unit.test_integrations import ACK_LI, ACK_WANG, KEY, TEXT, payload
from tests.unit.test_policy import ENV, EXAMPLE, error

TOKEN = "b7e1c0d2a9f84e6b3c5d7e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3"
SECRET = "SEC1f0e5c8a3b2d4e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a"
AT = datetime(2024, 5, 1, 2, 0, 5, tzinfo=UTC)  # 1714528805000 ms
SIGN = "EyeX1RjrW5EJMfOHqcJig/QK2yhTIBX4/iYh+hRrDqY="  # worked by hand below
PHONES = ["13800000001", "13800000002"]


def channel(url: str, **fields: Any) -> DingtalkChannel:
    return DingtalkChannel(type="dingtalk", url=url, **{"secret": SECRET, **fields})


def unlinked() -> dict[str, Any]:
    return payload(
        recipients=[{k: v for k, v in r.items() if k != "ack_url"} for r in payload()["recipients"]]
    )


async def send(
    client: httpx.AsyncClient, ch: DingtalkChannel, body: dict[str, Any], at: datetime = AT
) -> None:
    await dingtalk.send(client, ch, body, KEY, now=lambda: at)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


# --- 加签 ---------------------------------------------------------------------------------------


def test_signature_worked_example() -> None:
    by_hand = hmac.new(SECRET.encode(), f"1714528805000\n{SECRET}".encode(), hashlib.sha256).digest()
    assert base64.b64encode(by_hand).decode() == SIGN
    assert dingtalk.sign(SECRET, 1714528805000) == SIGN
    assert dingtalk.signed_params(channel("https://oapi.dingtalk.com/robot/send?access_token=t"), AT) == {
        "timestamp": "1714528805000",
        "sign": SIGN,
    }
    unsigned = channel("https://oapi.dingtalk.com/robot/send?access_token=t", secret=None)
    assert dingtalk.signed_params(unsigned, AT) == {}


async def test_the_query_carries_token_timestamp_and_sign_encoded_once(client: httpx.AsyncClient) -> None:
    async with robot(TOKEN, SECRET, AT) as hook:
        await send(client, channel(hook.url), unlinked())
    [got] = hook.received
    assert got.query == (
        f"access_token={TOKEN}&timestamp=1714528805000&sign=EyeX1RjrW5EJMfOHqcJig%2FQK2yhTIBX4%2FiYh%2BhRrDqY%3D"
    )
    assert got.headers["content-type"] == "application/json"
    assert len(hook.shown) == 1


async def test_the_robot_refuses_a_sign_encoded_twice(client: httpx.AsyncClient) -> None:
    once = SIGN.replace("/", "%2F").replace("+", "%2B").replace("=", "%3D")
    async with robot(TOKEN, SECRET, AT) as hook:
        url = f"{hook.url}&timestamp=1714528805000&sign={once.replace('%', '%25')}"
        answer = await client.post(url, json={"msgtype": "text", "text": {"content": "x"}})
    assert "%253D" in hook.received[0].query
    assert answer.json() == {
        "errcode": 310000,
        "errmsg": "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
    }


async def test_a_wrong_secret_is_a_permanent_signature_failure(client: httpx.AsyncClient) -> None:
    wrong = "SECffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
    async with robot(TOKEN, SECRET, AT) as hook:
        with pytest.raises(PermanentDelivery) as info:
            await send(client, channel(hook.url, secret=wrong), unlinked())
    assert str(info.value) == "dingtalk errcode 310000 (signature)"
    assert hook.shown == []


@pytest.mark.parametrize(
    ("skew", "delivered"), [(timedelta(minutes=59), True), (timedelta(minutes=61), False)]
)
async def test_a_clock_more_than_an_hour_off_is_reported_as_clock_skew(
    client: httpx.AsyncClient, skew: timedelta, delivered: bool
) -> None:
    async with robot(TOKEN, SECRET, AT) as hook:
        for at in (AT - skew, AT + skew):
            if delivered:
                await send(client, channel(hook.url), unlinked(), at)
            else:
                with pytest.raises(PermanentDelivery, match=r"^dingtalk errcode 310000 \(clock skew\)$"):
                    await send(client, channel(hook.url), unlinked(), at)
    assert len(hook.received) == 2


# --- the message ----------------------------------------------------------------------------------


async def test_each_persons_link_is_a_button_and_all_are_mentioned(client: httpx.AsyncClient) -> None:
    async with robot(TOKEN, SECRET, AT) as hook:
        await send(client, channel(hook.url), payload())
    assert hook.shown == [
        {
            "msgtype": "actionCard",
            "actionCard": {
                "title": "【紧急信息提醒·值班员签收超时】",
                "text": f"{TEXT}\n\n@13800000001 @13800000002",
                "btnOrientation": "0",
                "btns": [
                    {"title": "值班员李四 签收", "actionURL": ACK_LI},
                    {"title": "带班领导王五 签收", "actionURL": ACK_WANG},
                ],
            },
            "at": {"atMobiles": PHONES, "isAtAll": False},
            "msgUuid": KEY,
        }
    ]


async def test_one_link_is_the_single_button(client: httpx.AsyncClient) -> None:
    one = payload(recipients=payload()["recipients"][:1])
    async with robot(TOKEN, SECRET, AT) as hook:
        await send(client, channel(hook.url), one)
    [shown] = hook.shown
    card = shown["actionCard"]
    assert (card["singleTitle"], card["singleURL"], card["text"]) == (
        "签收",
        ACK_LI,
        f"{TEXT}\n\n@13800000001",
    )
    assert "btns" not in card and shown["at"] == {"atMobiles": ["13800000001"], "isAtAll": False}


async def test_without_links_a_text_and_without_mentions_no_at(client: httpx.AsyncClient) -> None:
    async with robot(TOKEN, None, AT) as hook:
        await send(client, channel(hook.url, secret=None), unlinked())
        await send(client, channel(hook.url, secret=None, mention_recipients=False), payload(recipients=None))
    assert [r.query for r in hook.received] == [f"access_token={TOKEN}"] * 2
    assert [r.body for r in hook.received] == [
        {
            "msgtype": "text",
            "text": {"content": f"{TEXT}\n@13800000001 @13800000002"},
            "at": {"atMobiles": PHONES, "isAtAll": False},
            "msgUuid": KEY,
        },
        {"msgtype": "text", "text": {"content": TEXT}, "msgUuid": KEY},
    ]


def test_only_mobile_numbers_are_mentioned() -> None:
    people = [
        {"phone": p} for p in ("0791-80000001", "+8613800000003", "13800000003", "138000000", "13800000004")
    ]
    assert dingtalk.mobiles(payload(recipients=people)) == ["13800000003", "13800000004"]


async def test_a_repeat_after_a_timeout_is_shown_once(client: httpx.AsyncClient) -> None:
    async with robot(TOKEN, SECRET, AT) as hook:
        for _ in range(2):
            await send(client, channel(hook.url), payload())
    assert len(hook.received) == 2 and [m["msgUuid"] for m in hook.shown] == [KEY]


async def test_keywords(client: httpx.AsyncClient) -> None:
    async with robot(TOKEN, SECRET, AT, keywords=("预警",)) as hook:
        with pytest.raises(PermanentDelivery) as info:
            await send(client, channel(hook.url), unlinked())
        await send(client, channel(hook.url, keywords=("预警", "告警")), unlinked())
        await send(client, channel(hook.url, keywords=("预警",)), payload())
        await send(client, channel(hook.url, keywords=("紧急",)), payload(text=f"{TEXT} 预警"))
    assert str(info.value) == "dingtalk errcode 310000 (keyword)"
    text, card = hook.received[1].body["text"]["content"], hook.received[2].body["actionCard"]
    assert text.startswith(f"【预警】{TEXT}")
    assert card["title"] == "【预警】【紧急信息提醒·值班员签收超时】" and card["text"].startswith(
        f"【预警】{TEXT}"
    )
    assert hook.received[3].body["actionCard"]["text"].startswith(TEXT)  # a keyword present already: as is


async def test_a_keyword_only_a_card_title_would_show_is_added_to_a_text(client: httpx.AsyncClient) -> None:
    bare = payload(text="城关镇「某企业火情」签收超时。", recipients=[{"role": "x", "name": "李四"}])
    async with robot(TOKEN, SECRET, AT, keywords=("紧急信息提醒",)) as hook:
        await send(client, channel(hook.url, keywords=("紧急信息提醒",)), bare)
    assert hook.shown[0]["text"]["content"] == "【紧急信息提醒】城关镇「某企业火情」签收超时。"


async def test_twenty_a_minute_then_blocked_ten_minutes(client: httpx.AsyncClient) -> None:
    async with robot(TOKEN, SECRET, AT) as hook:
        for n in range(20):
            hook.now = AT + timedelta(seconds=2 * n)
            await send(client, channel(hook.url), payload(), hook.now)
        with pytest.raises(RetryableDelivery) as info:
            await send(client, channel(hook.url), payload(), hook.now)
        assert (str(info.value), info.value.retry_after) == ("dingtalk errcode 130101", timedelta(minutes=10))
        hook.now += timedelta(minutes=9)  # the minute has passed, the block has not
        with pytest.raises(RetryableDelivery, match="130101"):
            await send(client, channel(hook.url), payload(), hook.now)
        hook.now += timedelta(minutes=1, seconds=1)
        await send(client, channel(hook.url), payload(), hook.now)
    assert len(hook.accepted_at) == 21


async def test_the_body_stays_under_20000_bytes_with_every_link(client: httpx.AsyncClient) -> None:
    long = "现场情况：" + "火势已得到控制，群众已疏散。" * 1500
    people = [
        {"role": "duty_officer", "name": f"值班{n}", "phone": f"138000001{n:02d}", "ack_url": f"{ACK_LI}-{n}"}
        for n in range(30)
    ]
    async with robot(TOKEN, SECRET, AT, keywords=("预警",)) as hook:
        await send(client, channel(hook.url, keywords=("预警",)), payload(text=long, recipients=people))
    [got] = hook.received
    assert 19_000 < len(got.raw) < 20_000
    card = got.body["actionCard"]
    assert [b["actionURL"] for b in card["btns"]] == [p["ack_url"] for p in people]
    assert card["text"].startswith("【预警】现场情况：") and "…\n\n@13800000100 " in card["text"]
    assert card["text"].endswith("@13800000129") and got.body["at"]["atMobiles"] == [
        p["phone"] for p in people
    ]
    assert len(hook.shown) == 1


def test_a_body_too_large_even_without_its_text_is_permanent() -> None:
    people = [{"role": "x", "name": f"n{n}", "ack_url": "https://127.0.0.1/" + "a" * 200} for n in range(100)]
    with pytest.raises(PermanentDelivery, match="over 20000 bytes without its text"):
        dingtalk.encode(
            channel("http://127.0.0.1/robot/send?access_token=t"), payload(recipients=people), KEY
        )


# --- answers ------------------------------------------------------------------------------------

LEAKY = f"token {TOKEN} secret {SECRET} 13800000001"


@pytest.mark.parametrize(
    ("errcode", "retryable", "wait"),
    [
        (130101, True, timedelta(minutes=10)),
        (410100, True, timedelta(minutes=10)),
        (-1, True, None),
        *[(code, False, None) for code in (300005, 400013, 400101, 400102, 400103, 400104, 400105, 400106)],
        *[(code, False, None) for code in (430101, 430102, 430103, 430104, 460101, 12345)],
    ],
)
async def test_retry_versus_permanent_for_each_errcode(
    client: httpx.AsyncClient, errcode: int, retryable: bool, wait: timedelta | None
) -> None:
    async with robot(TOKEN, SECRET, AT, script=[{"errcode": errcode, "errmsg": LEAKY}]) as hook:
        with pytest.raises(RetryableDelivery if retryable else PermanentDelivery) as info:
            await send(client, channel(hook.url), payload())
    assert str(info.value) == f"dingtalk errcode {errcode}"
    assert getattr(info.value, "retry_after", None) == wait
    for secret in (TOKEN, SECRET, "13800000001", "127.0.0.1", SIGN):
        assert secret not in str(info.value)


@pytest.mark.parametrize(
    ("errmsg", "reason"),
    [
        ("keywords not in content, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]", "keyword"),
        (
            "description:关键词不匹配;solution:请联系群管理员查看此机器人的关键词，并在发送的信息中包含此关键词;",
            "keyword",
        ),
        ("错误描述:关键词不匹配;解决方案:请联系群管理员查看此机器人的关键词;", "keyword"),
        ("sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]", "signature"),
        (
            "description:机器人发送签名不匹配;solution:请确认签名和生成签名的时间戳必须都放在调用的网址中，"
            "请确认机器人的密钥加密和填写正确;link:请参考本接口对应文档获得具体要求;",
            "signature",
        ),
        ("invalid timestamp", "clock skew"),
        ("invalid timestamp, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]", "clock skew"),
        ("ip 203.0.113.7 not in whitelist", "ip 203.0.113.7"),
        ("description:ip 不在白名单中;solution:请联系对应群的管理员，设置机器人安全ip地址段", "ip"),
        (f"unknown check {TOKEN}", None),
    ],
)
async def test_310000_names_the_check(client: httpx.AsyncClient, errmsg: str, reason: str | None) -> None:
    async with robot(TOKEN, SECRET, AT, script=[{"errcode": 310000, "errmsg": errmsg}]) as hook:
        with pytest.raises(PermanentDelivery) as info:
            await send(client, channel(hook.url), payload())
    assert str(info.value) == "dingtalk errcode 310000" + (f" ({reason})" if reason else "")


async def test_http_status_and_answers_without_errcode(client: httpx.AsyncClient) -> None:
    answers = [(503, b"{}"), (429, b""), (400, b""), (200, b"<html>proxy</html>"), (200, b'{"ok":1}')]
    app = answering(answers, [(b"retry-after", b"42")])

    async with serve(app, free_port()) as base:
        ch = channel(f"{base}/robot/send?access_token={TOKEN}")
        with pytest.raises(RetryableDelivery, match=r"^HTTP 503$") as info:
            await send(client, ch, payload())
        assert info.value.retry_after == timedelta(seconds=42)
        with pytest.raises(RetryableDelivery, match=r"^HTTP 429$"):
            await send(client, ch, payload())
        with pytest.raises(PermanentDelivery, match=r"^HTTP 400$"):
            await send(client, ch, payload())
        for _ in range(2):
            with pytest.raises(RetryableDelivery, match=r"^HTTP 200 without a robot errcode$"):
                await send(client, ch, payload())


async def test_a_refused_connection_hides_url_token_and_secret(client: httpx.AsyncClient) -> None:
    ch = channel(f"http://127.0.0.1:{free_port()}/robot/send?access_token={TOKEN}")
    with pytest.raises(RetryableDelivery) as info:
        await dispatch.send(client, ch, payload(), KEY)
    assert str(info.value) == "transport error: ConnectError"
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert SECRET not in repr(ch)  # the secret stays out of logs that print the policy


# --- policy -------------------------------------------------------------------------------------

DINGTALK = """
[channels.duty_dingtalk]
type = "dingtalk"
url = "https://oapi.dingtalk.com/robot/send?access_token=${ALERTING_DINGTALK_TOKEN}"
secret = "${ALERTING_DINGTALK_SECRET}"
keywords = ["预警"]
"""
DINGTALK_ENV = {**ENV, "ALERTING_DINGTALK_TOKEN": TOKEN, "ALERTING_DINGTALK_SECRET": SECRET}


def test_a_dingtalk_channel_loads_from_the_policy() -> None:
    ch = parse_policy(EXAMPLE + DINGTALK, env=DINGTALK_ENV).channels["duty_dingtalk"]
    assert ch == DingtalkChannel(
        type="dingtalk",
        url=f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}",
        secret=SECRET,
        keywords=("预警",),
    )
    assert (ch.timeout, ch.max_attempts, ch.mention_recipients) == (timedelta(seconds=5), 6, True)


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('keywords = ["预警"]', 'keywords = ["预警"]\nsign = "x"', "channels.duty_dingtalk.dingtalk.sign"),
        ("robot/send?access_token=", "robot/send?key=", "channels.duty_dingtalk.dingtalk.url"),
        (
            'secret = "${ALERTING_DINGTALK_SECRET}"',
            'secret = "abc"',
            "channels.duty_dingtalk.dingtalk.secret",
        ),
        ('keywords = ["预警"]', 'keywords = [""]', "channels.duty_dingtalk.dingtalk.keywords.0"),
    ],
)
def test_a_bad_dingtalk_channel_is_refused(old: str, new: str, key: str) -> None:
    err = error(EXAMPLE + DINGTALK.replace(old, new), env=DINGTALK_ENV)
    assert err.key == key
    assert SECRET not in str(err) and TOKEN not in str(err)
