"""Route one notification to the integration its channel's type names."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from alerting.clock import Clock, SystemClock
from alerting.errors import RetryableDelivery
from alerting.policy.channels import (
    AliyunSmsChannel,
    AnyChannel,
    ChatbotChannel,
    DingtalkChannel,
    EmailChannel,
    FeishuChannel,
    SmsChannel,
    TencentSmsChannel,
    WebhookChannel,
    WecomChannel,
)
from escalation.notify import aliyun_sms, chatbot, dingtalk, email, feishu, sms, tencent_sms, webhook, wecom


def digest_fits(channel: AnyChannel) -> Callable[[dict[str, Any]], bool] | None:
    """How to tell whether a digest fits one message of `channel`; None when the channel sends each
    notification on its own (webhooks, SMS, email, robots with digest = false)."""
    match channel:
        case WecomChannel(digest=True):
            return lambda payload: wecom.fits(channel, payload)
        case DingtalkChannel(digest=True):
            return lambda payload: dingtalk.fits(channel, payload)
        case FeishuChannel(digest=True):
            return lambda payload: feishu.fits(channel, payload)
    return None


async def send(
    client: httpx.AsyncClient,
    channel: AnyChannel,
    payload: dict[str, Any],
    key: str,
    clock: Clock | None = None,
) -> None:
    """One attempt through `channel`; `clock` times a signed request (webhook, Feishu, cloud SMS)
    and dates a mail (the system clock if None). Email goes by SMTP and leaves `client` unused."""
    # httpx's timeout bounds each connect, read and write; this bounds the whole attempt, so a
    # receiver that dribbles its answer cannot hold a send open past the lease.
    limit = channel.timeout.total_seconds()
    try:
        async with asyncio.timeout(limit):
            match channel:
                case WebhookChannel():
                    await webhook.send(client, channel, payload, key, clock)
                case ChatbotChannel():
                    await chatbot.send(client, channel, payload, key)
                case WecomChannel():
                    await wecom.send(client, channel, payload)
                case DingtalkChannel():
                    await dingtalk.send(client, channel, payload, key)
                case FeishuChannel():
                    await feishu.send(client, channel, payload, now=(clock or SystemClock()).now)
                case SmsChannel():
                    await sms.send(client, channel, payload, key)
                case EmailChannel():
                    await email.send(channel, payload, key, clock)
                case AliyunSmsChannel():
                    await aliyun_sms.send(client, channel, payload, key, now=(clock or SystemClock()).now)
                case TencentSmsChannel():
                    await tencent_sms.send(client, channel, payload, key, now=(clock or SystemClock()).now)
    except TimeoutError:
        raise RetryableDelivery(f"no complete answer within {limit:g} s") from None
