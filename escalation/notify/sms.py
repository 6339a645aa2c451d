"""Generic HTTP SMS gateway: POST phones, a signed Chinese message and the idempotency key.

Phone numbers never appear in a raised message.
"""

from __future__ import annotations

from typing import Any

import httpx

from alerting.errors import PermanentDelivery
from alerting.policy.channels import SmsChannel
from escalation.notify.chatbot import ack_url, recipient_phones
from escalation.notify.webhook import post_json, raise_for_status

MAX_MESSAGE = 500


def sms_message(channel: SmsChannel, payload: dict[str, Any]) -> str:
    """sign + text cut to MAX_MESSAGE characters; " 签收:<ack_url>" appended only if it still fits."""
    message = (channel.sign + str(payload.get("text") or ""))[:MAX_MESSAGE]
    link = ack_url(payload)
    if link and len(message) + len(" 签收:") + len(link) <= MAX_MESSAGE:
        message += f" 签收:{link}"
    return message


def sms_body(channel: SmsChannel, payload: dict[str, Any], key: str, phones: list[str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "phones": phones,
        "message": sms_message(channel, payload),
        "idempotency_key": key,
    }
    if channel.template is not None:
        body["template"] = channel.template
    return body


async def send(client: httpx.AsyncClient, channel: SmsChannel, payload: dict[str, Any], key: str) -> None:
    """One attempt. Raises RetryableDelivery (transport, 5xx, 429) or PermanentDelivery (other 4xx,
    no recipient phone numbers)."""
    phones = recipient_phones(payload)
    if not phones:
        raise PermanentDelivery("no recipient phone numbers")
    body = sms_body(channel, payload, key, phones)
    response = await post_json(client, channel.url, body, {"Idempotency-Key": key}, channel.timeout)
    raise_for_status(response)
