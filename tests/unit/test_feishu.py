"""The Feishu bot integration against a bot on 127.0.0.1 that checks requests as Feishu does
(tests/feishu_bot.py): 签名校验, the answers' codes, the rate limits, the policy model, and the test
message's words for its failures. The card's content and size: tests/unit/test_feishu_card.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from alerting.clock import FakeClock
from alerting.errors import PermanentDelivery, RetryableDelivery, Throttled
from alerting.policy.channels import FeishuChannel
from alerting.policy.loader import parse_policy
from escalation.notify import dispatch, feishu, probe
from tests.feishu_bot import bot
from tests.support import answering, free_port, serve
from tests.unit.test_integrations import KEY, payload
from tests.unit.test_policy import ENV, EXAMPLE, error

HOOK_ID = "2b5f1c6e-9a3d-4f7b-8c1e-0d2a3b4c5d6e"
SECRET = "mZ3qX8vR2kT9wL5pN7sB1c"
AT = datetime(2024, 5, 1, 2, 0, 5, tzinfo=UTC)  # 1714528805 s
LEAKY = f"hook {HOOK_ID} secret {SECRET} 13800000001"


def channel(url: str, **fields: Any) -> FeishuChannel:
    return FeishuChannel(type="feishu", url=url, **{"secret": SECRET, **fields})


async def send(client: httpx.AsyncClient, ch: FeishuChannel, body: dict[str, Any], at: datetime = AT) -> None:
    await feishu.send(client, ch, body, now=lambda: at)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


# --- 签名校验 -------------------------------------------------------------------------------------


def test_signature_worked_example() -> None:
    assert feishu.sign("demo", 1599360473) == "l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8="
    at = datetime.fromtimestamp(1599360473, UTC)
    ch = channel("https://open.feishu.cn/open-apis/bot/v2/hook/x", secret="demo")
    assert feishu.signed_fields(ch, at) == {
        "timestamp": "1599360473",
        "sign": "l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8=",
    }
    assert feishu.signed_fields(channel(ch.url, secret=None), at) == {}


async def test_the_body_carries_timestamp_in_seconds_and_sign(client: httpx.AsyncClient) -> None:
    async with bot(HOOK_ID, SECRET, AT) as hook:
        await send(client, channel(hook.url), payload())
    [got] = hook.received
    assert (got.path, got.query) == (f"/open-apis/bot/v2/hook/{HOOK_ID}", "")
    assert got.headers["content-type"] == "application/json"
    assert got.body["timestamp"] == "1714528805"
    assert got.body["sign"] == feishu.sign(SECRET, 1714528805)
    assert got.body["msg_type"] == "interactive" and len(hook.shown) == 1


async def test_each_attempt_is_signed_at_its_own_time(client: httpx.AsyncClient) -> None:
    moments = iter([AT, AT + timedelta(minutes=30)])
    async with bot(HOOK_ID, SECRET, AT) as hook:
        for _ in range(2):
            await feishu.send(client, channel(hook.url), payload(), now=lambda: next(moments))
    assert [r.body["timestamp"] for r in hook.received] == ["1714528805", "1714530605"]


async def test_a_wrong_secret_is_a_signature_refused_while_the_clocks_agree(
    client: httpx.AsyncClient,
) -> None:
    async with bot(HOOK_ID, SECRET, AT) as hook:
        with pytest.raises(PermanentDelivery) as info:
            await send(client, channel(hook.url, secret="wrong-secret"), payload(), AT + timedelta(minutes=5))
    assert str(info.value) == "feishu code 19021 (signature refused; the clocks agree)"
    assert hook.shown == []


@pytest.mark.parametrize(
    ("skew", "delivered"), [(timedelta(minutes=59), True), (timedelta(minutes=61), False)]
)
async def test_a_clock_more_than_an_hour_off_is_reported_as_the_cause(
    client: httpx.AsyncClient, skew: timedelta, delivered: bool
) -> None:
    async with bot(HOOK_ID, SECRET, AT) as hook:
        for at in (AT - skew, AT + skew):
            if delivered:
                await send(client, channel(hook.url), payload(), at)
            else:
                with pytest.raises(PermanentDelivery) as info:
                    await send(client, channel(hook.url), payload(), at)
                assert str(info.value) == (
                    "feishu code 19021 (timestamp refused: this server's clock is 61 min off Feishu's)"
                )
    assert len(hook.received) == 2


async def test_the_service_clock_passed_to_dispatch_signs(client: httpx.AsyncClient) -> None:
    async with bot(HOOK_ID, SECRET, AT) as hook:
        await dispatch.send(client, channel(hook.url), payload(), KEY, FakeClock(AT))
        with pytest.raises(PermanentDelivery, match=r"clock is 120 min off"):
            await dispatch.send(client, channel(hook.url), payload(), KEY, FakeClock(AT + timedelta(hours=2)))
    assert [r.body["timestamp"] for r in hook.received] == ["1714528805", "1714536005"]


async def test_without_a_date_the_refusal_names_both_causes(client: httpx.AsyncClient) -> None:
    refused = b'{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}'
    app = answering([(200, refused)], [(b"content-type", b"application/json")])
    async with serve(app, free_port(), date_header=False) as base:
        with pytest.raises(PermanentDelivery) as info:
            await send(client, channel(f"{base}/open-apis/bot/v2/hook/{HOOK_ID}"), payload())
    assert str(info.value) == "feishu code 19021 (signature or timestamp refused (clock skew?))"


async def test_a_signing_bot_refuses_a_channel_without_secret(client: httpx.AsyncClient) -> None:
    async with bot(HOOK_ID, SECRET, AT) as hook:
        with pytest.raises(PermanentDelivery) as info:
            await send(client, channel(hook.url, secret=None), payload())
    assert str(info.value) == "feishu code 19021 (signature required; the channel has no secret)"
    assert "timestamp" not in hook.received[0].body and "sign" not in hook.received[0].body


# --- the bot's checks ---------------------------------------------------------------------------


async def test_keywords(client: httpx.AsyncClient) -> None:
    async with bot(HOOK_ID, SECRET, AT, keywords=("预警",)) as hook:
        with pytest.raises(PermanentDelivery) as info:
            await send(client, channel(hook.url), payload())
        await send(client, channel(hook.url, keywords=("预警", "告警")), payload())
        await send(client, channel(hook.url, keywords=("预警",)), payload(text="城关镇火情 预警"))
    assert str(info.value) == "feishu code 19024"
    first, kept = (r.body["card"]["elements"][0]["text"]["content"] for r in hook.received[1:])
    assert first.startswith("【预警】【紧急信息提醒·值班员签收超时】") and kept == "城关镇火情 预警"
    assert len(hook.shown) == 2


async def test_an_address_outside_the_whitelist_is_permanent(client: httpx.AsyncClient) -> None:
    async with bot(HOOK_ID, SECRET, AT, allowed_ips=("203.0.113.7",)) as hook:
        with pytest.raises(PermanentDelivery, match=r"^feishu code 19022$"):
            await send(client, channel(hook.url), payload())


async def test_a_wrong_hook_is_permanent(client: httpx.AsyncClient) -> None:
    async with bot(HOOK_ID, SECRET, AT) as hook:
        with pytest.raises(PermanentDelivery, match=r"^feishu code 19001$"):
            await send(client, channel(hook.url.replace(HOOK_ID, "0" * 36)), payload())


async def test_five_a_second(client: httpx.AsyncClient) -> None:
    async with bot(HOOK_ID, SECRET, AT) as hook:
        for _ in range(5):
            await send(client, channel(hook.url), payload())
        with pytest.raises(Throttled) as info:  # the whole channel waits, not only this message
            await send(client, channel(hook.url), payload())
        assert (str(info.value), info.value.retry_after) == ("feishu code 11232", timedelta(seconds=10))
        hook.now = AT + timedelta(seconds=1)
        await send(client, channel(hook.url), payload(), hook.now)
    assert len(hook.accepted_at) == 6


async def test_a_hundred_a_minute(client: httpx.AsyncClient) -> None:
    async with bot(HOOK_ID, SECRET, AT) as hook:
        for n in range(100):
            hook.now = AT + timedelta(seconds=0.5 * n)
            await send(client, channel(hook.url), payload(), hook.now)
        hook.now += timedelta(seconds=1)  # under 5 a second, but the 101st in a minute
        with pytest.raises(RetryableDelivery, match=r"^feishu code 11232$"):
            await send(client, channel(hook.url), payload(), hook.now)
        hook.now = AT + timedelta(minutes=1, seconds=0.1)  # the first has left the minute
        await send(client, channel(hook.url), payload(), hook.now)
    assert len(hook.accepted_at) == 101


async def test_the_bot_refuses_a_body_over_20_kb(client: httpx.AsyncClient) -> None:
    async with bot(HOOK_ID, None, AT) as hook:
        text = {"msg_type": "text", "content": {"text": "火" * 7000}}
        answer = (await client.post(hook.url, json=text)).json()
        card = {"msg_type": "interactive", "card": {"elements": [{"tag": "action", "actions": []}]}}
        bad_card = (await client.post(hook.url, json=card)).json()
    assert answer == {"code": 9499, "data": {}, "msg": "Bad Request"}
    assert bad_card["code"] == 9499 and hook.shown == []


# --- answers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "retryable"),
    [(11232, True), *[(code, False) for code in (19001, 19002, 19022, 19024, 9499, 12345)]],
)
async def test_retry_versus_permanent_for_each_code(
    client: httpx.AsyncClient, code: int, retryable: bool
) -> None:
    async with bot(HOOK_ID, SECRET, AT, script=[{"code": code, "msg": LEAKY, "data": {}}]) as hook:
        with pytest.raises(RetryableDelivery if retryable else PermanentDelivery) as info:
            await dispatch.send(client, channel(hook.url), payload(), KEY, FakeClock(AT))
    assert str(info.value) == f"feishu code {code}"
    for secret in (HOOK_ID, SECRET, "13800000001", "127.0.0.1", hook.received[0].body["sign"]):
        assert secret not in str(info.value)


async def test_older_bots_answer_with_status_code(client: httpx.AsyncClient) -> None:
    async with bot(HOOK_ID, SECRET, AT, legacy=True, keywords=("预警",)) as hook:
        await send(client, channel(hook.url, keywords=("预警",)), payload())
        with pytest.raises(PermanentDelivery, match=r"^feishu code 19024$"):
            await send(client, channel(hook.url), payload())
    assert len(hook.shown) == 1


@pytest.mark.parametrize(
    ("status", "answer", "raised", "said"),
    [
        (503, b'{"code":9499}', RetryableDelivery, "HTTP 503"),  # 5xx and 429 are retried whatever they say
        (429, b"", RetryableDelivery, "HTTP 429"),
        (400, b"", PermanentDelivery, "HTTP 400"),
        (400, b'{"code":9499,"msg":"Bad Request"}', PermanentDelivery, "feishu code 9499"),
        (200, b"<html>proxy</html>", RetryableDelivery, "HTTP 200 without a robot errcode"),
        (200, b'{"ok":1}', RetryableDelivery, "HTTP 200 without a robot errcode"),
        (200, b'{"code":"0"}', RetryableDelivery, "HTTP 200 without a robot errcode"),
    ],
)
async def test_http_status_and_answers_without_code(
    client: httpx.AsyncClient, status: int, answer: bytes, raised: type[Exception], said: str
) -> None:
    async with serve(answering([(status, answer)], [(b"retry-after", b"42")]), free_port()) as base:
        with pytest.raises(raised) as info:
            await send(client, channel(f"{base}/open-apis/bot/v2/hook/{HOOK_ID}"), payload())
    assert str(info.value) == said
    if status in (503, 429):
        assert getattr(info.value, "retry_after", None) == timedelta(seconds=42)


async def test_a_refused_connection_hides_url_and_secret(client: httpx.AsyncClient) -> None:
    ch = channel(f"http://127.0.0.1:{free_port()}/open-apis/bot/v2/hook/{HOOK_ID}")
    with pytest.raises(RetryableDelivery) as info:
        await dispatch.send(client, ch, payload(), KEY)
    assert str(info.value) == "transport error: ConnectError"
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert SECRET not in repr(ch)


# --- the test message's words ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("detail", "retryable", "words"),
    [
        (
            "feishu code 11232",
            True,
            "飞书机器人返回错误码 11232：发送过于频繁（每个机器人每分钟最多 100 条、每秒 5 条",
        ),
        ("feishu code 19024", False, "飞书机器人返回错误码 19024：消息不含机器人安全设置中的自定义关键词"),
        (
            "feishu code 19022",
            False,
            "飞书机器人返回错误码 19022：本服务器的出口 IP 不在机器人安全设置的 IP 白名单中",
        ),
        ("feishu code 9499", False, "飞书机器人返回错误码 9499：请求无效（格式错误或消息超过 20 KB）"),
        ("feishu code 99999", False, "飞书机器人返回错误码 99999：飞书拒绝了消息"),
        (
            "feishu code 19021 (timestamp refused: this server's clock is 61 min off Feishu's)",
            False,
            "飞书机器人返回错误码 19021：时间戳无效：本服务器时钟与飞书相差 61 分钟（超过 1 小时）",
        ),
        (
            "feishu code 19021 (signature refused; the clocks agree)",
            False,
            "飞书机器人返回错误码 19021：签名不匹配（两边时钟一致）：请检查通道的 secret",
        ),
        (
            "feishu code 19021 (signature required; the channel has no secret)",
            False,
            "飞书机器人返回错误码 19021：机器人开启了签名校验，但通道没有设置 secret",
        ),
        (
            "feishu code 19021 (signature or timestamp refused (clock skew?))",
            False,
            "飞书机器人返回错误码 19021：签名校验未通过：请检查通道的 secret 与机器人安全设置中的一致",
        ),
        (
            "feishu message over 20480 bytes without its text",
            False,
            "各人的签收链接合计已超过飞书的 20480 字节上限",
        ),
    ],
)
def test_explain_feishus_answers(detail: str, retryable: bool, words: str) -> None:
    said = probe.explain(detail, retryable)
    assert said.startswith(words), said
    assert said.endswith("会自动重试" if retryable else "不会重试，请先修正")


async def test_the_test_message_goes_through_the_bot(client: httpx.AsyncClient) -> None:
    test = probe.probe_payload("duty_feishu", "管理员甲（admin）", datetime.now(UTC), ["13800000001"])
    async with bot(HOOK_ID, SECRET, datetime.now(UTC), keywords=("测试",)) as hook:
        result = await probe.probe(client, channel(hook.url), test)
    assert (result.delivered, result.detail) == (True, "ok")
    assert hook.shown[0]["card"]["elements"][0]["text"]["content"].startswith("【测试消息】")
    assert probe.TYPE_ZH["feishu"] == "飞书机器人"


# --- policy -------------------------------------------------------------------------------------

FEISHU = """
[channels.duty_feishu]
type = "feishu"
url = "https://open.feishu.cn/open-apis/bot/v2/hook/${ALERTING_FEISHU_HOOK}"
secret = "${ALERTING_FEISHU_SECRET}"
keywords = ["预警"]
"""
FEISHU_ENV = {**ENV, "ALERTING_FEISHU_HOOK": HOOK_ID, "ALERTING_FEISHU_SECRET": SECRET}


def test_a_feishu_channel_loads_from_the_policy() -> None:
    ch = parse_policy(EXAMPLE + FEISHU, env=FEISHU_ENV).channels["duty_feishu"]
    assert ch == FeishuChannel(
        type="feishu",
        url=f"https://open.feishu.cn/open-apis/bot/v2/hook/{HOOK_ID}",
        secret=SECRET,
        keywords=("预警",),
    )
    assert (ch.timeout, ch.max_attempts, ch.mention_recipients) == (timedelta(seconds=5), 6, True)
    assert SECRET not in repr(ch)


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('keywords = ["预警"]', 'keywords = ["预警"]\nsign = "x"', "channels.duty_feishu.feishu.sign"),
        ("open-apis/bot/v2/hook/", "open-apis/bot/v1/hook/", "channels.duty_feishu.feishu.url"),
        (
            "hook/${ALERTING_FEISHU_HOOK}",
            "hook/${ALERTING_FEISHU_HOOK}?x=1",
            "channels.duty_feishu.feishu.url",
        ),
        ('secret = "${ALERTING_FEISHU_SECRET}"', 'secret = "a b"', "channels.duty_feishu.feishu.secret"),
        ('keywords = ["预警"]', 'keywords = [""]', "channels.duty_feishu.feishu.keywords.0"),
        ('keywords = ["预警"]', "max_attempts = 0", "channels.duty_feishu.feishu.max_attempts"),
    ],
)
def test_a_bad_feishu_channel_is_refused(old: str, new: str, key: str) -> None:
    err = error(EXAMPLE + FEISHU.replace(old, new), env=FEISHU_ENV)
    assert err.key == key
    assert SECRET not in str(err) and HOOK_ID not in str(err)
