"""Route one notification to the integration its channel's type names."""

from __future__ import annotations

from typing import Any

import httpx

from alerting.channels import ChatbotChannel, SmsChannel, WebhookChannel
from escalation.notify import chatbot, sms, webhook


async def send(
    client: httpx.AsyncClient,
    channel: WebhookChannel | ChatbotChannel | SmsChannel,
    payload: dict[str, Any],
    key: str,
) -> None:
    match channel:
        case WebhookChannel():
            await webhook.send(client, channel, payload, key)
        case ChatbotChannel():
            await chatbot.send(client, channel, payload, key)
        case SmsChannel():
            await sms.send(client, channel, payload, key)
