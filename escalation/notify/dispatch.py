"""Route one notification to the integration its channel's type names."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from alerting.clock import Clock, SystemClock
from alerting.errors import RetryableDelivery
from alerting.policy.channels import (
    AnyChannel,
    ChatbotChannel,
    DingtalkChannel,
    FeishuChannel,
    SmsChannel,
    WebhookChannel,
    WecomChannel,
)
from escalation.notify import chatbot, dingtalk, feishu, sms, webhook, wecom


async def send(
    client: httpx.AsyncClient,
    channel: AnyChannel,
    payload: dict[str, Any],
    key: str,
    clock: Clock | None = None,
) -> None:
    """One attempt through `channel`; `clock` times a signed webhook and a Feishu
    bot's signature (the system clock if None)."""
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
    except TimeoutError:
        raise RetryableDelivery(f"no complete answer within {limit:g} s") from None
