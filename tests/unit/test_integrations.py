"""The chat-robot and SMS integrations against real HTTP receivers on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated, Any

import httpx
import pytest
from pydantic import Field, TypeAdapter, ValidationError

from alerting.errors import PermanentDelivery, RetryableDelivery
from alerting.policy.channels import ChatbotChannel, SmsChannel
from escalation.notify import chatbot, sms
from tests.support import Receiver, free_port, receiver, serve

ROBOT_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
KEY = "inc-7:ack:1:1"
TEXT = (
    "【紧急信息提醒·值班员签收超时】城关镇「某企业火情」（II级，安全生产）"
    "时限 2024-05-01 10:00 已过，请值班员立即处理。"
)
ACK_LI = "http://127.0.0.1:8080/ack/tok-li"
ACK_WANG = "http://127.0.0.1:8080/ack/tok-wang"


def payload(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event": "deadline_missed",
        "idempotency_key": KEY,
        "text": TEXT,
        "text_en": "城关镇 '某企业火情' (level II): acknowledgement overdue, due 2024-05-01 10:00.",
        "incident": {"id": "inc-7", "township": "城关镇", "level": "II"},
        "deadline": {"kind": "ack", "due_at": "2024-05-01T02:00:00+00:00"},
        "escalation": {"round": 1, "step": 1, "roles": ["duty_officer", "leader_on_duty"]},
        "recipients": [
            {"role": "duty_officer", "name": "李四", "phone": "13800000001", "ack_url": ACK_LI},
            {"role": "leader_on_duty", "name": "王五", "phone": "13800000002", "ack_url": ACK_WANG},
        ],
    }
    body.update(changes)
    return body


def robot_channel(url: str, **fields: Any) -> ChatbotChannel:
    return ChatbotChannel(type="chatbot", url=f"{url}?key={ROBOT_KEY}", **fields)


def sms_channel(url: str, **fields: Any) -> SmsChannel:
    return SmsChannel(type="sms", url=url, **fields)


@asynccontextmanager
async def robot(answers: list[dict[str, Any]], script: list[int] | None = None) -> AsyncIterator[Receiver]:
    """A tests.support.Receiver that answers robot JSON bodies from `answers` (then errcode 0)."""
    hook = Receiver(script=list(script or []))
    queue = list(answers)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        async def answer(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                body = queue.pop(0) if queue else {"errcode": 0, "errmsg": "ok"}
                message = {**message, "body": json.dumps(body).encode()}
            await send(message)

        await hook(scope, receive, answer)

    async with serve(app, free_port()) as base:
        hook.url = f"{base}/cgi-bin/webhook/send"
        yield hook


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


# --- chat robot ---------------------------------------------------------------------------------


def without_links(recipients: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "ack_url"} for r in recipients or payload()["recipients"]]


async def test_chatbot_posts_text_with_each_persons_link_and_mentions(client: httpx.AsyncClient) -> None:
    async with robot([]) as hook:
        await chatbot.send(client, robot_channel(hook.url), payload(), KEY)
    [got] = hook.received
    assert got.path == "/cgi-bin/webhook/send"
    assert got.headers["idempotency-key"] == KEY
    assert got.headers["content-type"] == "application/json"
    assert got.body == {
        "msgtype": "text",
        "text": {
            "content": f"{TEXT}\n值班员李四 签收: {ACK_LI}\n带班领导王五 签收: {ACK_WANG}",
            "mentioned_mobile_list": ["13800000001", "13800000002"],
        },
    }


async def test_chatbot_without_ack_url_or_mentions(client: httpx.AsyncClient) -> None:
    async with robot([]) as hook:
        unlinked = payload(recipients=without_links())
        await chatbot.send(client, robot_channel(hook.url, mention_recipients=False), unlinked, KEY)
        await chatbot.send(client, robot_channel(hook.url), payload(recipients=None), KEY)
        bare = {k: v for k, v in payload().items() if k != "recipients"}
        await chatbot.send(client, robot_channel(hook.url), bare, KEY)
    assert [r.body for r in hook.received] == [
        {"msgtype": "text", "text": {"content": TEXT}},
        {"msgtype": "text", "text": {"content": TEXT, "mentioned_mobile_list": []}},
        {"msgtype": "text", "text": {"content": TEXT, "mentioned_mobile_list": []}},
    ]


@pytest.mark.parametrize("errcode", [45009, -1])
async def test_chatbot_busy_errcodes_are_retryable(client: httpx.AsyncClient, errcode: int) -> None:
    async with robot([{"errcode": errcode, "errmsg": f"busy key={ROBOT_KEY}"}]) as hook:
        with pytest.raises(RetryableDelivery) as info:
            await chatbot.send(client, robot_channel(hook.url), payload(), KEY)
    assert len(hook.received) == 1
    assert str(info.value) == f"robot errcode {errcode}"
    expected = timedelta(minutes=1) if errcode == 45009 else None
    assert info.value.retry_after == expected


async def test_chatbot_other_errcode_is_permanent_without_errmsg(client: httpx.AsyncClient) -> None:
    errmsg = f"invalid webhook url, hint: [{ROBOT_KEY}]"
    async with robot([{"errcode": 93000, "errmsg": errmsg}]) as hook:
        with pytest.raises(PermanentDelivery) as info:
            await chatbot.send(client, robot_channel(hook.url), payload(), KEY)
    assert str(info.value) == "robot errcode 93000"
    assert ROBOT_KEY not in str(info.value)


async def test_chatbot_answer_without_errcode_is_retryable(client: httpx.AsyncClient) -> None:
    async with receiver() as hook:  # answers {}: delivery not confirmed
        with pytest.raises(RetryableDelivery, match="without a robot errcode"):
            await chatbot.send(client, robot_channel(hook.url), payload(), KEY)
    assert len(hook.received) == 1


async def test_chatbot_http_status(client: httpx.AsyncClient) -> None:
    async with robot([], script=[503, 429, 400]) as hook:
        channel = robot_channel(hook.url)
        with pytest.raises(RetryableDelivery, match="HTTP 503"):
            await chatbot.send(client, channel, payload(), KEY)
        with pytest.raises(RetryableDelivery, match="HTTP 429"):
            await chatbot.send(client, channel, payload(), KEY)
        with pytest.raises(PermanentDelivery, match="HTTP 400"):
            await chatbot.send(client, channel, payload(), KEY)
    assert len(hook.received) == 3


async def test_chatbotretry_after_header_is_honoured() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 429, "headers": [(b"retry-after", b"42")]})
        await send({"type": "http.response.body", "body": b""})

    async with serve(app, free_port()) as base, httpx.AsyncClient() as client:
        with pytest.raises(RetryableDelivery) as info:
            await chatbot.send(client, robot_channel(base), payload(), KEY)
    assert info.value.retry_after == timedelta(seconds=42)


async def test_chatbot_refused_connection_hides_url_and_key(client: httpx.AsyncClient) -> None:
    url = f"http://127.0.0.1:{free_port()}/cgi-bin/webhook/send"
    with pytest.raises(RetryableDelivery) as info:
        await chatbot.send(client, robot_channel(url), payload(), KEY)
    message = str(info.value)
    assert message.startswith("transport error:")
    assert ROBOT_KEY not in message
    assert "127.0.0.1" not in message
    assert info.value.__suppress_context__ and info.value.__cause__ is None


# --- SMS gateway --------------------------------------------------------------------------------


async def test_sms_sends_each_number_its_own_link(client: httpx.AsyncClient) -> None:
    async with receiver() as hook:
        await sms.send(client, sms_channel(hook.url), payload(), KEY)
    assert [(r.headers["idempotency-key"], r.body) for r in hook.received] == [
        (
            f"{KEY}/1",
            {
                "phones": ["13800000001"],
                "message": f"【县委办】{TEXT} 签收:{ACK_LI}",
                "idempotency_key": f"{KEY}/1",
            },
        ),
        (
            f"{KEY}/2",
            {
                "phones": ["13800000002"],
                "message": f"【县委办】{TEXT} 签收:{ACK_WANG}",
                "idempotency_key": f"{KEY}/2",
            },
        ),
    ]


async def test_sms_numbers_without_links_share_one_message(client: httpx.AsyncClient) -> None:
    async with receiver() as hook:
        await sms.send(client, sms_channel(hook.url), payload(recipients=without_links()), KEY)
    [got] = hook.received
    assert got.headers["idempotency-key"] == KEY
    assert got.body == {
        "phones": ["13800000001", "13800000002"],
        "message": f"【县委办】{TEXT}",
        "idempotency_key": KEY,
    }


async def test_sms_custom_sign_template_no_ack_and_distinct_phones(client: httpx.AsyncClient) -> None:
    recipients = [
        {"role": "duty_officer", "name": "李四", "phone": "13800000001"},
        {"role": "leader_on_duty", "name": "李四", "phone": "13800000001"},
        {"role": "director", "name": "赵六", "phone": ""},
    ]
    async with receiver() as hook:
        channel = sms_channel(hook.url, sign="【应急办】", template="SMS_1234")
        await sms.send(client, channel, payload(recipients=recipients), KEY)
    assert [r.body for r in hook.received] == [
        {
            "phones": ["13800000001"],
            "message": f"【应急办】{TEXT}",
            "idempotency_key": KEY,
            "template": "SMS_1234",
        }
    ]


async def test_sms_message_is_cut_to_500_and_ack_only_when_it_fits(client: httpx.AsyncClient) -> None:
    long = "火" * 600
    fits = "火" * (500 - len("【县委办】") - len(f" 签收:{ACK_LI}"))
    one = [payload()["recipients"][0]]
    async with receiver() as hook:
        await sms.send(client, sms_channel(hook.url), payload(text=long, recipients=one), KEY)
        await sms.send(client, sms_channel(hook.url), payload(text=fits, recipients=one), KEY)
        await sms.send(client, sms_channel(hook.url), payload(text=fits + "火", recipients=one), KEY)
    messages = [r.body["message"] for r in hook.received]
    assert messages[0] == ("【县委办】" + long)[:500]
    assert messages[1] == f"【县委办】{fits} 签收:{ACK_LI}"
    assert len(messages[1]) == 500
    assert messages[2] == f"【县委办】{fits}火"


@pytest.mark.parametrize("recipients", [[], None, [{"role": "director", "name": "赵六", "phone": ""}]])
async def test_sms_without_recipients_is_permanent_and_sends_nothing(
    client: httpx.AsyncClient, recipients: list[dict[str, str]] | None
) -> None:
    async with receiver() as hook:
        with pytest.raises(PermanentDelivery, match=r"^no recipient phone numbers$"):
            await sms.send(client, sms_channel(hook.url), payload(recipients=recipients), KEY)
        bare = {k: v for k, v in payload().items() if k != "recipients"}
        with pytest.raises(PermanentDelivery, match=r"^no recipient phone numbers$"):
            await sms.send(client, sms_channel(hook.url), bare, KEY)
    assert hook.received == []


async def test_sms_http_status(client: httpx.AsyncClient) -> None:
    shared = payload(recipients=without_links())  # one request per send
    async with receiver(script=[503, 400, 202]) as hook:
        channel = sms_channel(hook.url)
        with pytest.raises(RetryableDelivery, match="HTTP 503") as retry:
            await sms.send(client, channel, shared, KEY)
        with pytest.raises(PermanentDelivery, match="HTTP 400") as permanent:
            await sms.send(client, channel, shared, KEY)
        await sms.send(client, channel, shared, KEY)
    assert len(hook.received) == 3
    for error in (retry.value, permanent.value):
        assert "13800000001" not in str(error)


async def test_sms_retry_after_a_partial_send_repeats_each_number_with_its_own_key(
    client: httpx.AsyncClient,
) -> None:
    async with receiver(script=[202, 503, 202, 202]) as hook:
        with pytest.raises(RetryableDelivery, match="HTTP 503"):
            await sms.send(client, sms_channel(hook.url), payload(), KEY)
        await sms.send(client, sms_channel(hook.url), payload(), KEY)  # the outbox's next attempt
    assert [r.body["idempotency_key"] for r in hook.received] == [
        f"{KEY}/1",
        f"{KEY}/2",
        f"{KEY}/1",
        f"{KEY}/2",
    ]


async def test_sms_refused_connection_hides_url_and_phones(client: httpx.AsyncClient) -> None:
    url = f"http://127.0.0.1:{free_port()}/sms/send?appkey={ROBOT_KEY}"
    with pytest.raises(RetryableDelivery) as info:
        await sms.send(client, sms_channel(url), payload(), KEY)
    message = str(info.value)
    assert message.startswith("transport error:")
    for secret in (ROBOT_KEY, "127.0.0.1", "13800000001"):
        assert secret not in message


# --- channel models -----------------------------------------------------------------------------

AnyChannel: TypeAdapter[ChatbotChannel | SmsChannel] = TypeAdapter(
    Annotated[ChatbotChannel | SmsChannel, Field(discriminator="type")]
)


def test_channel_defaults_and_discrimination() -> None:
    robot_ = AnyChannel.validate_python(
        {"type": "chatbot", "url": "https://127.0.0.1/hook", "timeout": "10s"}
    )
    assert robot_ == ChatbotChannel(
        type="chatbot", url="https://127.0.0.1/hook", timeout=timedelta(seconds=10), max_attempts=6
    )
    assert robot_.mention_recipients is True
    text = AnyChannel.validate_python({"type": "sms", "url": "http://127.0.0.1/sms"})
    assert isinstance(text, SmsChannel)
    assert (text.timeout, text.max_attempts, text.sign, text.template) == (
        timedelta(seconds=5),
        6,
        "【县委办】",
        None,
    )
    with pytest.raises(ValidationError):
        text.sign = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "fax", "url": "http://127.0.0.1/x"},
        {"url": "http://127.0.0.1/x"},
        {"type": "sms", "url": "ftp://127.0.0.1/x"},
        {"type": "chatbot", "url": "127.0.0.1/hook"},
        {"type": "chatbot", "url": "http://127.0.0.1/x", "max_attempts": 0},
        {"type": "sms", "url": "http://127.0.0.1/x", "max_attempts": 51},
        {"type": "sms", "url": "http://127.0.0.1/x", "timeout": "soon"},
        {"type": "sms", "url": "http://127.0.0.1/x", "mention_recipients": False},
        {"type": "chatbot", "url": "http://127.0.0.1/x", "headers": {}},
    ],
)
def test_bad_channels_are_rejected(raw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        AnyChannel.validate_python(raw)


def test_each_model_accepts_only_its_own_type() -> None:
    with pytest.raises(ValidationError):
        ChatbotChannel.model_validate({"type": "sms", "url": "http://127.0.0.1/x"})
    with pytest.raises(ValidationError):
        SmsChannel.model_validate({"type": "webhook", "url": "http://127.0.0.1/x"})


def test_channels_module_does_not_import_the_policy() -> None:
    import subprocess
    import sys

    code = "import sys, alerting.policy.channels; sys.exit('alerting.policy.model' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
